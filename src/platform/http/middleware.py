"""Pure-ASGI middleware (no BaseHTTPMiddleware: it breaks contextvars and costs more).

Outermost first: RequestContextMiddleware -> (the voice domain's OpenAIErrorMiddleware,
on the OpenAI-compatible paths only) -> CORS -> BodySizeLimitMiddleware ->
UnhandledErrorMiddleware -> MountShortcut -> app. Each keeps per-request state in locals only.
"""

import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import anyio
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from src.constants import ErrorCode
from src.models import envelope_response
from src.platform.http.context import client_id_var, request_id_var
from src.platform.http.errors import BodyRejected
from src.platform.observability.logging import log_access
from src.platform.observability.metrics import HTTP_INPROGRESS, METRICS_PATH, record_request
from src.platform.ratelimit.headers import rate_limit_header_lines

logger = logging.getLogger(__name__)

# A client-sent id is echoed into logs: accept only short, plain tokens (no log injection).
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"x-frame-options", b"DENY"),
)


def new_request_id() -> str:
    """32 random hex digits, like uuid4().hex, without uuid4's os.urandom call.

    os.urandom releases the GIL for its system call, and the log listener thread, when
    it has records waiting, takes the GIL there: measured under load, 5 % of a
    healthcheck's time was spent waiting at that one call. An id only has to be unique,
    not unpredictable, and `random` is reseeded in every forked worker.
    """
    # An identifier, not a secret: a non-cryptographic generator is right here.
    return f"{random.getrandbits(128):032x}"  # nosec B311


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


try:  # FastAPI keeps the prefixed template of an included route here (>= 0.137).
    from fastapi.routing import _FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY, _FASTAPI_SCOPE_KEY
except ImportError:  # pragma: no cover - older FastAPI copies routes with their prefix
    _FASTAPI_SCOPE_KEY = _FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY = ""


def route_template(scope: Scope) -> str:
    """The matched route's full path template (bounded cardinality), or `unmatched`."""
    context = (scope.get(_FASTAPI_SCOPE_KEY) or {}).get(_FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY)
    path = getattr(context, "path_format", None)
    if path is None:
        path = getattr(scope.get("route"), "path", None)
    if path is None:
        return "unmatched"
    return f"{scope.get('root_path', '')}{path}"


def _metrics_handler(route: str, deploy_root: str) -> str:
    # Labels as pfi names them: the template without the deployment prefix, and one
    # "none" for every unknown path (bounded cardinality).
    if route == "unmatched":
        return "none"
    return route[len(deploy_root) :] if deploy_root and route.startswith(deploy_root) else route


class RequestContextMiddleware:
    """Request id, security and rate-limit headers, timing, HTTP metrics and one JSON
    access-log line per request: one layer for what would otherwise be four."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        incoming = _header(scope, b"x-request-id")
        request_id = incoming.decode("latin-1") if incoming else ""
        if not _SANE_REQUEST_ID.match(request_id):
            request_id = new_request_id()
        request_id_token = request_id_var.set(request_id)
        client_token = client_id_var.set(None)
        extra_headers = [(b"x-request-id", request_id.encode("latin-1")), *SECURITY_HEADERS]
        status = 500
        deploy_root = scope.get("root_path", "")
        HTTP_INPROGRESS.inc()
        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # The limit counted for this request (if any), for every answer to it.
                limits = rate_limit_header_lines(scope.get("state") or {})
                message["headers"] = [*message.get("headers", ()), *extra_headers, *limits]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            seconds = time.perf_counter() - started
            HTTP_INPROGRESS.dec()
            route = route_template(scope)
            handler = _metrics_handler(route, deploy_root)
            if handler != METRICS_PATH:
                record_request(scope["method"], handler, status, seconds)
            state: dict[str, Any] = scope.get("state") or {}
            log_access(
                scope["method"],
                scope["path"],
                route,
                status,
                round(seconds * 1000, 2),
                state.get("client_id"),
                request_id,
            )
            client_id_var.reset(client_token)
            request_id_var.reset(request_id_token)


class BodySizeLimitMiddleware:
    """413 PAYLOAD_TOO_LARGE once the declared or streamed body passes the limit, and
    408 REQUEST_TIMEOUT when the body takes longer than `body_timeout` to arrive;
    before that, 422 for a NUL character in the path or query string (the body's
    are refused by the request models).

    A declared Content-Length over the limit is refused before reading a byte; a
    chunked body is counted as it streams, so nothing large is ever buffered.
    """

    def __init__(self, app: ASGIApp, max_body_size: int, body_timeout: float = 60.0) -> None:
        self.app = app
        self.max_body_size = max_body_size
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b""):
            # PostgreSQL cannot store a NUL in text; refused before any route sees it.
            data = {
                **self._data(),
                "errors": [
                    {"loc": ["url"], "msg": "NUL characters are not accepted", "type": "nul"}
                ],
            }
            await envelope_response(422, ErrorCode.VALIDATION_ERROR, data)(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await envelope_response(400, ErrorCode.BAD_REQUEST, self._data())(
                    scope, receive, send
                )
                return
            if int(declared) > self.max_body_size:
                await self._too_large(scope, receive, send)
                return
        encoding = _header(scope, b"content-encoding")
        if encoding and encoding.strip().lower() != b"identity":
            # Nothing here inflates request bodies; refusing is safer than a zip bomb.
            await envelope_response(415, ErrorCode.UNSUPPORTED_MEDIA_TYPE, self._data())(
                scope, receive, send
            )
            return

        received = 0
        body_done = False
        response_started = False
        deadline = time.monotonic() + self.body_timeout

        async def counting_receive() -> Message:
            nonlocal received, body_done
            if body_done:  # waiting for a disconnect now, not for the body
                return await receive()
            try:
                with anyio.fail_after(max(0.0, deadline - time.monotonic())):
                    message = await receive()
            except TimeoutError:
                raise BodyRejected(
                    408,
                    ErrorCode.REQUEST_TIMEOUT,
                    data={"body_timeout": self.body_timeout},
                    headers={"Connection": "close"},
                ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_size:
                    raise BodyRejected(413, ErrorCode.PAYLOAD_TOO_LARGE)
                body_done = not message.get("more_body", False)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyRejected as rejected:
            if response_started:
                raise
            if rejected.status_code == 413:
                await self._too_large(scope, receive, send)
                return
            data = {**self._data(), **rejected.data}
            headers = dict(rejected.headers or {})
            await envelope_response(rejected.status_code, rejected.code, data, headers=headers)(
                scope, receive, send
            )

    def _data(self) -> dict[str, Any]:
        return {"request_id": request_id_var.get()}

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        data = self._data()
        data["max_body_size"] = self.max_body_size
        # Tell the client to stop sending: the connection is not reusable mid-body.
        response = envelope_response(413, ErrorCode.PAYLOAD_TOO_LARGE, data)
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


class UnhandledErrorMiddleware:
    """Last resort inside CORS: an exception that escaped every handler is answered by
    `handler` (the app's translator: a 500 envelope, logged once with the request id),
    so browsers still see CORS headers.
    """

    def __init__(
        self, app: ASGIApp, handler: Callable[[Request, Exception], Awaitable[Response]]
    ) -> None:
        self.app = app
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if response_started:
                # A mounted app's handler already answered (and logged); Starlette
                # re-raises after answering, so there is nothing left to do.
                logger.debug("exception after response started: %s", type(exc).__name__)
                return
            response = await self.handler(Request(scope), exc)
            await response(scope, receive, send)


class MountShortcut:
    """Requests under a mounted app's prefix go straight to that app.

    Starlette gets them there too, through the root app's exception middleware,
    exit stack and router, whose route matching is the only work those layers do for
    such a request (the root app's own are few: the demo page's): ~10 us per request. The
    scope is the one Starlette's `Mount` builds, so the mounted app cannot tell.
    Other paths (unknown ones, the root's `/metrics`) take the usual way.
    """

    def __init__(self, app: ASGIApp, prefix: str, mounted: ASGIApp, router: ASGIApp) -> None:
        self.app = app
        self.prefix = prefix.rstrip("/")
        self.mounted = mounted
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            root_path: str = scope.get("root_path", "")
            path: str = scope["path"]
            # The route path as Starlette works it out: the path without the root path.
            if root_path and path.startswith(root_path + "/"):
                path = path[len(root_path) :]
            if path.startswith(self.prefix + "/"):
                scope.setdefault("router", self.router)  # url_for() resolves from the root
                scope["path_params"] = dict(scope.get("path_params", {}))
                scope["app_root_path"] = scope.get("app_root_path", root_path)
                scope["root_path"] = root_path + self.prefix
                scope["endpoint"] = self.mounted
                await self.mounted(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _vary_origin(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """`headers` with Origin added to Vary (one Vary header, as Starlette's CORS writes it)."""
    vary = [value for name, value in headers if name.lower() == b"vary"]
    if not vary:
        return [*headers, (b"vary", b"Origin")]
    others = [(name, value) for name, value in headers if name.lower() != b"vary"]
    return [*others, (b"vary", b", ".join([*vary, b"Origin"]))]


class EnvelopeCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, with a refused preflight answered in the envelope like any 400.

    A request without an Origin header (every server-to-server call, a POS app's
    calls) only gets `Vary: Origin` from Starlette's CORS; that is added here
    directly, without Starlette parsing the request headers into a Headers object and
    the response's into a MutableHeaders: 7 % of a healthcheck's time.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _header(scope, b"origin") is not None:
            await super().__call__(scope, receive, send)
            return

        async def send_with_vary(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _vary_origin(list(message.get("headers", ())))
            await send(message)

        await self.app(scope, receive, send_with_vary)

    def __init__(
        self,
        app: ASGIApp,
        allow_origins: Collection[str] = (),
        allow_methods: Collection[str] = ("GET",),
        allow_headers: Collection[str] = (),
        allow_credentials: bool = False,
        allow_origin_regex: str | None = None,
        expose_headers: Collection[str] = (),
        max_age: int = 600,
        allow_header_prefixes: Collection[str] = (),
    ) -> None:
        super().__init__(
            app,
            allow_origins=allow_origins,
            allow_methods=allow_methods,
            allow_headers=allow_headers,
            allow_credentials=allow_credentials,
            allow_origin_regex=allow_origin_regex,
            expose_headers=expose_headers,
            max_age=max_age,
        )
        # Header families a client library sends with names that vary by version
        # (the OpenAI SDKs' X-Stainless-*): any header that starts with one is allowed.
        self.allow_header_prefixes = tuple(p.lower() for p in allow_header_prefixes)

    def preflight_response(self, request_headers: Headers) -> Response:
        prefixed: list[str] = []
        requested = request_headers.get("access-control-request-headers")
        if requested and self.allow_header_prefixes:
            names = [h.strip().lower() for h in requested.split(",") if h.strip()]
            prefixed = [
                h
                for h in names
                if h.startswith(self.allow_header_prefixes) and h not in self.allow_headers
            ]
            if prefixed:
                rest = ", ".join(h for h in names if h not in prefixed)
                raw = [
                    (k, v) for k, v in request_headers.raw if k != b"access-control-request-headers"
                ]
                if rest:
                    raw.append((b"access-control-request-headers", rest.encode("latin-1")))
                request_headers = Headers(raw=raw)
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            if prefixed:
                allowed = response.headers.get("access-control-allow-headers", "")
                response.headers["access-control-allow-headers"] = ", ".join(
                    [h for h in (allowed, *prefixed) if h]
                )
            return response
        reason = bytes(response.body).decode("utf-8", "replace")
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        headers.pop("content-type", None)
        return envelope_response(
            response.status_code,
            ErrorCode.BAD_REQUEST,
            {"request_id": request_id_var.get(), "reason": reason},
            headers=headers,
        )


class RootPathMiddleware:
    """Serve the app under `root_path` (e.g. /v1) as uvicorn's --root-path would.

    ASGI paths include the root path, and Starlette's routing (mounts included) strips
    it. A proxy that forwards /v1/api/v1/... and one that strips /v1 both work: a path
    without the prefix gets it added before routing.
    """

    def __init__(self, app: ASGIApp, root_path: str) -> None:
        self.app = app
        self.root_path = root_path.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.root_path:
            scope = dict(scope)
            scope["root_path"] = self.root_path
            path = scope["path"]
            if path != self.root_path and not path.startswith(self.root_path + "/"):
                scope["path"] = self.root_path + path
                scope["raw_path"] = scope["path"].encode("latin-1")
        await self.app(scope, receive, send)
