"""The gunicorn worker: uvicorn, plus a deadline for slow clients to send their headers.

uvicorn has no request-header timeout (encode/uvicorn#157): a client trickling one
header line every few seconds keeps its connection, and a thousand of them keep a
thousand. `HeaderDeadlineProtocol` arms a timer when a connection opens or a new
request begins and answers 408 and closes if the headers are not complete in time.
Bodies have their own deadline in `BodySizeLimitMiddleware`. In front of the
service, a reverse proxy should enforce the same (see README, "Slow clients").
"""

import asyncio
import uuid
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn_worker import UvicornWorker

from src.config import get_settings
from src.constants import ErrorCode


def _timeout_response() -> bytes:
    body = orjson.dumps(
        {
            "code": 408,
            "msg": ErrorCode.REQUEST_TIMEOUT,
            "data": {"request_id": uuid.uuid4().hex, "reason": "request headers too slow"},
        }
    )
    head = (
        b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    return head + body


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline on receiving request headers."""

    header_timeout: float = 10.0
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:  # the next request on a kept-alive connection
            self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._disarm_header_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being served: not a header wait
        self.transport.write(_timeout_response())
        self.transport.close()


def _protocol_class() -> type[HeaderDeadlineProtocol]:
    # Settings are read once per worker, when gunicorn boots it.
    timeout = get_settings().HTTP_HEADER_TIMEOUT
    return type(
        "ConfiguredHeaderDeadlineProtocol", (HeaderDeadlineProtocol,), {"header_timeout": timeout}
    )


class VoiceUvicornWorker(UvicornWorker):  # type: ignore[misc]
    """uvicorn-worker with the header deadline and no `server` header."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.CONFIG_KWARGS = {
            **UvicornWorker.CONFIG_KWARGS,
            "http": _protocol_class(),
            "server_header": False,
        }
        super().__init__(*args, **kwargs)
