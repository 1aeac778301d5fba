"""The DetailedHTTPException family and the handlers that turn errors into the envelope.

Routes and dependencies raise these; services raise domain exceptions that subclass
them. Responses are built here and only here.
"""

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, HTTPException, Request
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

logger = logging.getLogger(__name__)


class DetailedHTTPException(HTTPException):
    """An error with a status, a stable error code (`msg`) and optional `data` fields.

    Subclasses HTTPException so FastAPI's body parsing re-raises it untouched.
    """

    STATUS_CODE = 500
    DETAIL = ErrorCode.INTERNAL_ERROR

    def __init__(
        self,
        detail: str | None = None,
        *,
        data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code=self.STATUS_CODE, detail=detail or self.DETAIL)
        self.data = data or {}
        if headers:
            self.headers = headers


class BadRequest(DetailedHTTPException):
    STATUS_CODE = 400
    DETAIL = ErrorCode.BAD_REQUEST


class NotAuthenticated(DetailedHTTPException):
    STATUS_CODE = 401
    DETAIL = ErrorCode.AUTHENTICATION_REQUIRED

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kwargs)


class PermissionDenied(DetailedHTTPException):
    STATUS_CODE = 403
    DETAIL = ErrorCode.AUTHORIZATION_FAILED


class NotFound(DetailedHTTPException):
    STATUS_CODE = 404
    DETAIL = ErrorCode.NOT_FOUND


class Conflict(DetailedHTTPException):
    STATUS_CODE = 409
    DETAIL = ErrorCode.CONFLICT


class PayloadTooLarge(DetailedHTTPException):
    STATUS_CODE = 413
    DETAIL = ErrorCode.PAYLOAD_TOO_LARGE


class RequestTimeout(DetailedHTTPException):
    """The body did not arrive within HTTP_BODY_TIMEOUT (a slow or stalled client)."""

    STATUS_CODE = 408
    DETAIL = ErrorCode.REQUEST_TIMEOUT

    def __init__(self, body_timeout: float) -> None:
        super().__init__(data={"body_timeout": body_timeout}, headers={"Connection": "close"})


class UnsupportedMediaType(DetailedHTTPException):
    STATUS_CODE = 415
    DETAIL = ErrorCode.UNSUPPORTED_MEDIA_TYPE


class UnprocessableEntity(DetailedHTTPException):
    STATUS_CODE = 422
    DETAIL = ErrorCode.VALIDATION_ERROR

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Sequence[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        if errors is not None:
            kwargs.setdefault("data", {})["errors"] = list(errors)
        super().__init__(detail, **kwargs)


class TooManyRequests(DetailedHTTPException):
    STATUS_CODE = 429
    DETAIL = ErrorCode.RATE_LIMIT_EXCEEDED


class ServiceUnavailable(DetailedHTTPException):
    STATUS_CODE = 503
    DETAIL = ErrorCode.SERVICE_UNAVAILABLE

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": "1"})
        super().__init__(detail, **kwargs)


class ServiceBusy(ServiceUnavailable):
    DETAIL = ErrorCode.SERVICE_BUSY


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


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    data = _base_data()
    if isinstance(exc, DetailedHTTPException):
        data.update(exc.data)
        msg = str(exc.detail)
    else:
        msg = error_code_for_status(exc.status_code)
    headers = dict(exc.headers) if exc.headers else None
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


async def validation_exception_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    data = _base_data()
    data["errors"] = [_clean_validation_error(err) for err in exc.errors()]
    return envelope_response(422, ErrorCode.VALIDATION_ERROR, data)


async def rate_limit_exceeded_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RateLimitExceeded)
    from src.rate_limiter import rate_limit_headers

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


def _is_connection_error(exc: BaseException) -> bool:
    return isinstance(exc, ConnectionError | TimeoutError | OSError)


async def unhandled_exception_handler(request: Request, exc: Exception) -> Response:
    """500 INTERNAL_ERROR with the request id; 503 when a dependency is down."""
    if _is_database_down(exc) or _is_connection_error(exc):
        logger.warning("dependency unavailable: %s", type(exc).__name__)
        return envelope_response(
            503, ErrorCode.SERVICE_UNAVAILABLE, _base_data(), headers={"Retry-After": "1"}
        )
    logger.error("unhandled error", exc_info=exc)
    data = _base_data()
    settings = getattr(request.app.state, "settings", None)
    if settings is not None and settings.ENVIRONMENT.is_debug:
        data["detail"] = f"{type(exc).__name__}: {exc}"
    return envelope_response(500, ErrorCode.INTERNAL_ERROR, data)


def register_exception_handlers(app: FastAPI) -> None:
    """Register every handler on one app (handlers do not cross a Mount)."""
    app.add_exception_handler(StarletteHTTPException, http_exception_handler)
    app.add_exception_handler(RequestValidationError, validation_exception_handler)
    app.add_exception_handler(RateLimitExceeded, rate_limit_exceeded_handler)
    app.add_exception_handler(Exception, unhandled_exception_handler)
