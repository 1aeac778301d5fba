"""Shared response shapes: the `{code, msg, data}` envelope, Money and UTC datetimes."""

from datetime import UTC, datetime
from decimal import Decimal
from http import HTTPStatus
from typing import Annotated, Any, Generic, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, PlainSerializer, WithJsonSchema
from starlette.responses import JSONResponse


def utc_isoformat(value: datetime) -> str:
    """ISO-8601 in UTC with a `Z`; naive values are taken as UTC (SQLite drops tz)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


UTCDateTime = Annotated[
    datetime,
    PlainSerializer(utc_isoformat, return_type=str),
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


DataT = TypeVar("DataT")


class Envelope(BaseModel, Generic[DataT]):
    """Every JSON response: `code` repeats the HTTP status, `msg` says what happened."""

    code: int
    msg: str
    data: DataT


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
