"""The reference: bare FastAPI serving the same small JSON envelope as our healthcheck."""

from typing import Any

from fastapi import FastAPI

app = FastAPI()

_BODY = {"code": 200, "msg": "OK", "data": {"status": "ok"}}


@app.get("/healthcheck")
async def healthcheck() -> dict[str, Any]:
    return _BODY
