"""Shared response shapes: the `{code, msg, data}` envelope, Money and UTC datetimes."""

from datetime import UTC, datetime
from decimal import Decimal
from http import HTTPStatus
from typing import Annotated, Any, Generic, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, PlainSerializer, WithJsonSchema, model_validator
from starlette.responses import JSONResponse


def utc_isoformat(value: datetime) -> str:
    """ISO-8601 in UTC with a `Z`; naive values are taken as UTC (SQLite drops tz)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


UTCDateTime = Annotated[
    datetime,
    PlainSerializer(utc_isoformat, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]

# Money travels as a decimal string ("3.50", "45000"), never a float.
Money = Annotated[
    Decimal,
    PlainSerializer(lambda value: format(value, "f"), return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "examples": ["3.50"]}),
]


class ORJSONModel(BaseModel):
    """Base of every schema: strict about unknown input, JSON-friendly output."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    def jsonable(self) -> dict[str, Any]:
        """The model as JSON-ready python values (Decimal -> str, datetime -> ISO)."""
        return self.model_dump(mode="json")


def _nul_at(value: Any, path: str) -> str | None:
    """The path of the first string (or key) under `value` that holds a NUL character."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and "\x00" in key:
                return where
            found = _nul_at(item, where)
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _nul_at(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


class RequestModel(ORJSONModel):
    """Base of every request body: no NUL character anywhere in it.

    PostgreSQL cannot store one in text and SQLite would keep it silently, so a NUL
    is refused up front (422) whatever field it hides in.
    """

    @model_validator(mode="before")
    @classmethod
    def _no_nul_characters(cls, data: Any) -> Any:
        where = _nul_at(data, "")
        if where is not None:
            raise ValueError(f"NUL characters are not accepted (in {where or 'the body'})")
        return data


DataT = TypeVar("DataT")


class Envelope(BaseModel, Generic[DataT]):
    """Every JSON response: `code` repeats the HTTP status, `msg` says what happened."""

    code: int
    msg: str
    data: DataT


class ErrorItem(BaseModel):
    """One problem of a request: where, what, and its kind (pydantic's shape)."""

    loc: list[str | int]
    msg: str
    type: str


class ErrorData(BaseModel):
    """An error's `data`: always the request id; `errors` for validation errors; other
    fields as the error code says (`reason`, `transcript`, `unmatched`, `lines`, ...)."""

    model_config = ConfigDict(extra="allow")

    request_id: str
    errors: list[ErrorItem] | None = None


class ErrorEnvelope(BaseModel):
    """Every error: `code` is the status, `msg` the error code of API.md, `data.request_id`."""

    code: int
    msg: str
    data: ErrorData


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for error statuses, all in the error envelope."""
    return {
        status: {"model": ErrorEnvelope, "description": _ERROR_DOCS[status]} for status in statuses
    }


_ERROR_DOCS = {
    400: "BAD_REQUEST (unreadable body) or an auth error code",
    401: "AUTHENTICATION_REQUIRED or INVALID_TOKEN",
    403: "AUTHORIZATION_FAILED",
    404: "NOT_FOUND (also another client's resource)",
    409: "A conflict: the error code says which (API.md, Errors)",
    412: "SESSION_VERSION_MISMATCH: If-Match names a version the session has moved past",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR (data.errors lists each problem)",
    429: "RATE_LIMIT_EXCEEDED (Retry-After, X-RateLimit-*)",
    503: "SERVICE_UNAVAILABLE (a dependency is down) or SERVICE_BUSY",
}


# One example `msg` per status for the docs (API.md's table lists them all).
_EXAMPLE_CODES = {
    400: "INVALID_CREDENTIALS",
    401: "INVALID_TOKEN",
    403: "AUTHORIZATION_FAILED",
    404: "NOT_FOUND",
    409: "IDEMPOTENCY_KEY_IN_USE",
    412: "SESSION_VERSION_MISMATCH",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMIT_EXCEEDED",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


def _error_content(status: int) -> dict[str, Any]:
    return {
        "application/json": {
            "schema": {"$ref": "#/components/schemas/ErrorEnvelope"},
            "example": {
                "code": status,
                "msg": _EXAMPLE_CODES.get(status, "INTERNAL_ERROR"),
                "data": {"request_id": "4f9c2d1e8b7a4c3d9e0f1a2b3c4d5e6f"},
            },
        }
    }


def _documented_otherwise(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    ref = schema.get("$ref", "") if isinstance(schema, dict) else ""
    return bool(ref) and not ref.endswith("/ErrorEnvelope")


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Every error status of every operation in the error envelope, with an example,
    so that generated clients get a typed error; 415 on every operation that takes a
    body (any of them answers a body it cannot read with it)."""
    schema.setdefault("components", {}).setdefault("schemas", {}).setdefault(
        "ErrorEnvelope", ErrorEnvelope.model_json_schema()
    )
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            responses = operation.setdefault("responses", {})
            if "requestBody" in operation:
                responses.setdefault("415", {"description": _ERROR_DOCS[415]})
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400:
                    if _documented_otherwise(response):
                        continue  # a route with errors of another shape (OpenAI's)
                    content = response.setdefault("content", _error_content(int(status)))
                    content.setdefault("application/json", {}).setdefault(
                        "example", _error_content(int(status))["application/json"]["example"]
                    )
    return schema


def envelope(data: DataT, status: int = 200) -> Envelope[DataT]:
    """Wrap a payload for a successful response with the status' standard phrase."""
    return Envelope[DataT](code=status, msg=HTTPStatus(status).phrase, data=data)


def _orjson_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def dump_json(content: Any) -> bytes:
    """orjson with the project's conventions (UTC datetimes, Decimal as string)."""
    return orjson.dumps(
        content,
        default=_orjson_default,
        option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC | orjson.OPT_NON_STR_KEYS,
    )


class EnvelopeResponse(JSONResponse):
    """A JSONResponse rendered with orjson, used for hand-built (error) envelopes."""

    def render(self, content: Any) -> bytes:
        return dump_json(content)


def envelope_response(
    status: int,
    msg: str,
    data: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> EnvelopeResponse:
    """Build an envelope response by hand (errors, middleware short-circuits)."""
    return EnvelopeResponse(
        {"code": status, "msg": msg, "data": data if data is not None else {}},
        status_code=status,
        headers=headers,
    )
