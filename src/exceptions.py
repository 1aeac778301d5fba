"""DomainError, its family, and the one translator of errors into the envelope.

Services, engines and dependencies raise domain errors: plain exceptions carrying a
stable code (`msg` on the wire), a status and optional `data`. Nothing but this
module turns an error into a response.
"""

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from slowapi.errors import RateLimitExceeded
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette._utils import get_route_path
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from src.constants import ErrorCode
from src.models import envelope_response
from src.platform.http.context import request_id_var
from src.platform.http.errors import BodyRejected
from src.platform.observability.metrics import DEPENDENCY_UNAVAILABLE
from src.platform.ratelimit.headers import rate_limit_headers

logger = logging.getLogger(__name__)


class DomainError(Exception):
    """A failure the client can act on: a stable code, an HTTP status, optional data.

    Subclasses set STATUS_CODE and CODE; the translator below renders the envelope.
    """

    STATUS_CODE = 500
    CODE = ErrorCode.INTERNAL_ERROR

    def __init__(
        self,
        code: str | None = None,
        *,
        data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.code = code or self.CODE
        super().__init__(self.code)
        self.status_code = self.STATUS_CODE
        self.data = data or {}
        self.headers = headers or {}


class BadRequest(DomainError):
    STATUS_CODE = 400
    CODE = ErrorCode.BAD_REQUEST


class NotAuthenticated(DomainError):
    STATUS_CODE = 401
    CODE = ErrorCode.AUTHENTICATION_REQUIRED

    def __init__(self, code: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(code, **kwargs)


class PermissionDenied(DomainError):
    STATUS_CODE = 403
    CODE = ErrorCode.AUTHORIZATION_FAILED


class NotFound(DomainError):
    STATUS_CODE = 404
    CODE = ErrorCode.NOT_FOUND


class Conflict(DomainError):
    STATUS_CODE = 409
    CODE = ErrorCode.CONFLICT


class PreconditionFailed(DomainError):
    STATUS_CODE = 412
    CODE = "PRECONDITION_FAILED"


class UnsupportedMediaType(DomainError):
    STATUS_CODE = 415
    CODE = ErrorCode.UNSUPPORTED_MEDIA_TYPE


class UnprocessableEntity(DomainError):
    STATUS_CODE = 422
    CODE = ErrorCode.VALIDATION_ERROR

    def __init__(
        self,
        code: str | None = None,
        *,
        errors: Sequence[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        if errors is not None:
            kwargs.setdefault("data", {})["errors"] = list(errors)
        super().__init__(code, **kwargs)


class TooManyRequests(DomainError):
    STATUS_CODE = 429
    CODE = ErrorCode.RATE_LIMIT_EXCEEDED


class ServiceUnavailable(DomainError):
    STATUS_CODE = 503
    CODE = ErrorCode.SERVICE_UNAVAILABLE

    def __init__(self, code: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": "1"})
        super().__init__(code, **kwargs)


class ServiceBusy(ServiceUnavailable):
    CODE = ErrorCode.SERVICE_BUSY


def validation_error(
    loc: Sequence[str | int], msg: str, type_: str = "value_error"
) -> dict[str, Any]:
    """One entry of `data.errors`, shaped like pydantic's."""
    return {"loc": list(loc), "msg": msg, "type": type_}


# Status codes Starlette raises by itself, mapped to our error codes.
_STATUS_CODES = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.AUTHENTICATION_REQUIRED,
    403: ErrorCode.AUTHORIZATION_FAILED,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    422: ErrorCode.VALIDATION_ERROR,
    429: ErrorCode.RATE_LIMIT_EXCEEDED,
    503: ErrorCode.SERVICE_UNAVAILABLE,
}


def _base_data() -> dict[str, Any]:
    return {"request_id": request_id_var.get()}


def error_code_for_status(status: int) -> str:
    """Our error code for a bare status (e.g. from Starlette's router)."""
    if status in _STATUS_CODES:
        return _STATUS_CODES[status]
    return ErrorCode.INTERNAL_ERROR if status >= 500 else HTTPStatus(status).name


async def domain_error_handler(_request: Request, exc: Exception) -> Response:
    """The envelope of a domain error: its status, code, data and headers."""
    assert isinstance(exc, DomainError)
    data = _base_data()
    data.update(exc.data)
    return envelope_response(exc.status_code, exc.code, data, headers=exc.headers or None)


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (unknown path, wrong method) and BodyRejected."""
    assert isinstance(exc, StarletteHTTPException)
    data = _base_data()
    headers = dict(exc.headers) if exc.headers else None
    if isinstance(exc, BodyRejected):
        data.update(exc.data)
        return envelope_response(exc.status_code, exc.code, data, headers=headers)
    msg = error_code_for_status(exc.status_code)
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": _allowed_methods(request)}
    return envelope_response(exc.status_code, msg, data, headers=headers)


def _allowed_methods(request: Request) -> str:
    """Every method of every route on this path (Starlette names only the first route's)."""
    path = get_route_path(request.scope)
    methods: set[str] = set()
    for route in request.app.router.routes:
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path) and getattr(route, "methods", None):
            methods |= set(route.methods)
    return ", ".join(sorted(methods))


def _clean_validation_error(error: dict[str, Any]) -> dict[str, Any]:
    # Echoing `input` could repeat a secret or megabytes of base64 back to the client.
    cleaned = {
        "loc": list(error.get("loc", ())),
        "msg": error.get("msg", ""),
        "type": error["type"],
    }
    ctx = error.get("ctx")
    if ctx:
        cleaned["ctx"] = {key: str(value) for key, value in ctx.items()}
    return cleaned


def _not_json(request: Request, exc: RequestValidationError) -> bool:
    """A body sent as something other than JSON to a route that reads JSON: FastAPI
    reports it as an invalid body ("Input should be a valid dictionary")."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return False
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        return False
    # The whole body unreadable as the route's model, not one of its fields wrong.
    return any(tuple(err.get("loc", ())) == ("body",) for err in exc.errors())


async def validation_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if _not_json(request, exc):
        data = _base_data()
        data["errors"] = [
            {
                "loc": ["header", "content-type"],
                "msg": "send the body as application/json",
                "type": "unsupported_media_type",
            }
        ]
        return envelope_response(415, ErrorCode.UNSUPPORTED_MEDIA_TYPE, data)
    data = _base_data()
    data["errors"] = [_clean_validation_error(err) for err in exc.errors()]
    return envelope_response(422, ErrorCode.VALIDATION_ERROR, data)


async def rate_limit_exceeded_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RateLimitExceeded)
    data = _base_data()
    data["limit"] = str(exc.detail)
    rate_limit_headers(request, exceeded=True)  # with Retry-After: the middleware adds them
    return envelope_response(429, ErrorCode.RATE_LIMIT_EXCEEDED, data)


# SQLSTATE classes that mean "the server is not there right now": connection
# exceptions (08xxx) and operator intervention (57P01 admin shutdown, 57P02 crash
# shutdown, 57P03 starting up or shutting down, 57P04 database dropped).
_UNAVAILABLE_SQLSTATES = ("08", "57P")


def _sqlstate(exc: BaseException) -> str:
    # asyncpg raises some connect-time errors unwrapped; wrapped ones keep them in .orig
    for candidate in (exc, getattr(exc, "orig", None), getattr(exc, "__cause__", None)):
        state = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(state, str):
            return state
    return ""


def _is_database_down(exc: BaseException) -> bool:
    # PoolTimeout: no connection came free within DATABASE_POOL_TIMEOUT.
    if isinstance(exc, OperationalError | PoolTimeout):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return _sqlstate(exc).startswith(_UNAVAILABLE_SQLSTATES)


def _dependency_of(exc: BaseException) -> str:
    if isinstance(exc, PoolTimeout):
        return "database_pool"
    return "database" if _is_database_down(exc) else "connection"


def _is_connection_error(exc: BaseException) -> bool:
    return isinstance(exc, ConnectionError | TimeoutError | OSError)


async def unhandled_exception_handler(request: Request, exc: Exception) -> Response:
    """500 INTERNAL_ERROR with the request id; 503 when a dependency is down."""
    if _is_database_down(exc) or _is_connection_error(exc):
        DEPENDENCY_UNAVAILABLE.labels(dependency=_dependency_of(exc)).inc()
        logger.warning("dependency unavailable: %s", type(exc).__name__)
        return envelope_response(
            503, ErrorCode.SERVICE_UNAVAILABLE, _base_data(), headers={"Retry-After": "1"}
        )
    logger.error("unhandled error", exc_info=exc)
    data = _base_data()
    settings = getattr(request.app.state, "settings", None)
    if settings is not None and settings.ENVIRONMENT.shows_error_details:
        data["detail"] = f"{type(exc).__name__}: {exc}"
    return envelope_response(500, ErrorCode.INTERNAL_ERROR, data)


def register_exception_handlers(app: FastAPI) -> None:
    """Register every handler on one app (handlers do not cross a Mount)."""
    app.add_exception_handler(DomainError, domain_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_exception_handler)
    app.add_exception_handler(RequestValidationError, validation_exception_handler)
    app.add_exception_handler(RateLimitExceeded, rate_limit_exceeded_handler)
    app.add_exception_handler(Exception, unhandled_exception_handler)
