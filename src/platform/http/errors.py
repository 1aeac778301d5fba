"""The one HTTP exception of the platform: a request body that broke a limit."""

from typing import Any

from fastapi import HTTPException


class BodyRejected(HTTPException):
    """The body broke a limit while it was read: 413 too large, 408 too slow.

    Raised inside an ASGI `receive()`. FastAPI's body parsing passes an HTTPException
    through untouched and turns anything else into a 400, so this is one; the
    translator in `src/exceptions.py` renders it like a domain error.
    """

    def __init__(
        self,
        status_code: int,
        code: str,
        *,
        data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code=status_code, detail=code, headers=headers)
        self.code = code
        self.data = data or {}
