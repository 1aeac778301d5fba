"""OpenAI's error object on the OpenAI-compatible paths, never the envelope.

Every error of the service is made once, as an envelope, by the one translator
(`src/exceptions.py`) or the middleware that answers before routing (413, 408). On
these paths `OpenAIErrorMiddleware` rewrites that envelope at the boundary into
`{"error": {"message", "type", "param", "code"}}`, the status and headers unchanged,
so that a 401 from auth, a 429 from the limiter and a 413 from the body limit all
reach an OpenAI SDK in the shape it parses.
"""

from http import HTTPStatus
from typing import Any

import orjson
from starlette._utils import get_route_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from src.constants import ErrorCode

# On these routes the audio is the multipart `file`: name the field the client sent.
_PARAM_NAMES = {"audio": "file"}
# What the SDKs read to decide on a retry: worth it after a back-off for these
# statuses only (with Retry-After), never for a request that will fail the same again.
_RETRYABLE = frozenset({429, 503})

_MESSAGES = {
    ErrorCode.AUTHENTICATION_REQUIRED: "No credentials: send `Authorization: Bearer <key>` "
    "with an API key (vk_...) or an access token.",
    ErrorCode.AUTHORIZATION_FAILED: "The credentials lack the scope this route needs.",
    ErrorCode.NOT_FOUND: "No such route.",
    ErrorCode.METHOD_NOT_ALLOWED: "This route does not take this method.",
    ErrorCode.PAYLOAD_TOO_LARGE: "The request body is too large.",
    ErrorCode.REQUEST_TIMEOUT: "The request body arrived too slowly.",
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: "Send multipart/form-data with a `file` part.",
    ErrorCode.RATE_LIMIT_EXCEEDED: "Rate limit reached; retry after `Retry-After` seconds.",
    ErrorCode.SERVICE_BUSY: "Every decoder is busy; retry after `Retry-After` seconds.",
    ErrorCode.SERVICE_UNAVAILABLE: "The service is not ready; retry after `Retry-After` seconds.",
    ErrorCode.INTERNAL_ERROR: "The server failed; the request id is in `X-Request-ID`.",
}


def _error_type(status: int) -> str:
    if status == 401:
        return "authentication_error"
    if status == 403:
        return "permission_error"
    if status == 429:
        return "rate_limit_error"
    return "server_error" if status >= 500 else "invalid_request_error"


def _param_and_problems(data: dict[str, Any]) -> tuple[str | None, list[str]]:
    """The field the error is about (OpenAI's `param`) and each problem in words."""
    param = data.get("param")
    problems: list[str] = []
    for error in data.get("errors") or ():
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "header")]
        field = ".".join(_PARAM_NAMES.get(p, p) for p in loc)
        if param is None and field:
            param = field
        problems.append(f"{field}: {error.get('msg', '')}" if field else str(error.get("msg", "")))
    return param, problems


def openai_error(status: int, envelope: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's error object for an error envelope `{code, msg, data}`."""
    code = str(envelope.get("msg") or HTTPStatus(status).name)
    data = envelope.get("data") if isinstance(envelope.get("data"), dict) else {}
    assert isinstance(data, dict)
    param, problems = _param_and_problems(data)
    message = data.get("message") or "; ".join(problems) or _MESSAGES.get(code)
    if code == "INVALID_TOKEN":
        message = f"The bearer token was refused: {data.get('reason', 'invalid')}."
    if not message:
        message = HTTPStatus(status).phrase
    return {
        "error": {
            "message": message,
            "type": _error_type(status),
            "param": param,
            "code": code.lower(),
        }
    }


class OpenAIErrorMiddleware:
    """Pure ASGI: on paths under `prefixes`, error envelopes become OpenAI errors and
    carry `x-should-retry`; everything else passes untouched (one prefix test)."""

    def __init__(self, app: ASGIApp, prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not get_route_path(scope).startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        held: Message | None = None
        body = bytearray()

        async def translating_send(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start" and message["status"] >= 400:
                held = message
                return
            if held is None or message["type"] != "http.response.body":
                await send(message)
                return
            body.extend(message.get("body", b""))
            if message.get("more_body", False):
                return
            await _send_translated(held, bytes(body), send)

        await self.app(scope, receive, translating_send)


async def _send_translated(start: Message, body: bytes, send: Send) -> None:
    status = int(start["status"])
    try:
        envelope = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        envelope = {}
    if not isinstance(envelope, dict):
        envelope = {}
    translated = orjson.dumps(openai_error(status, envelope))
    headers = [
        (name, value)
        for name, value in start.get("headers", ())
        if name.lower() not in (b"content-length", b"content-type", b"x-should-retry")
    ]
    headers += [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(translated)).encode()),
        (b"x-should-retry", b"true" if status in _RETRYABLE else b"false"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": translated})
