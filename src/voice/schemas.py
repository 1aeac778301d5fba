"""Request and response bodies of the voice endpoints."""

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, StringConstraints, model_validator

from src.models import Money, ORJSONModel, UTCDateTime
from src.voice.money import currency_exponent

MAX_CATALOG_ITEMS = 5000
MAX_CATALOG_MODIFIERS = 500
MAX_ORDER_TEXT = 2000


def _decimal_string(value: Any) -> Any:
    # Floats carry binary rounding (0.1 + 0.2); money must arrive as a string or integer.
    if isinstance(value, float):
        raise ValueError('money must be a decimal string such as "3.50", not a float')
    if isinstance(value, bool):
        raise ValueError("money must be a decimal string")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        if not re.fullmatch(r"\s*-?\d{1,12}(\.\d{1,4})?\s*", value):
            raise ValueError('money must be a decimal string such as "3.50"')
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            raise ValueError("not a decimal amount") from None
    return value


MoneyIn = Annotated[Decimal, BeforeValidator(_decimal_string)]


def _iso_only(value: Any) -> Any:
    # pydantic would read a number as a Unix time; a client sending 0 meant no date.
    if not isinstance(value, str | datetime):
        raise ValueError("must be an ISO 8601 date-time string")
    return value


IsoDateTime = Annotated[datetime, BeforeValidator(_iso_only)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Code = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
]
Alias = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
CustomerId = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$"
    ),
]


class CatalogItemIn(ORJSONModel):
    sku: Code
    name: Name
    aliases: list[Alias] = Field(default_factory=list, max_length=50)
    price: MoneyIn
    category: Annotated[str, StringConstraints(max_length=100)] | None = None


class CatalogModifierIn(ORJSONModel):
    code: Code
    name: Name
    aliases: list[Alias] = Field(default_factory=list, max_length=50)
    price: MoneyIn = Decimal(0)
    group: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None,
        description="Mutually exclusive set (size, milk, ...); a correction replaces "
        "within it. Inferred from the name when absent.",
    )


class CatalogIn(ORJSONModel):
    """A whole catalog; PUT replaces the previous one atomically."""

    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "USD"
    items: list[CatalogItemIn] = Field(max_length=MAX_CATALOG_ITEMS)
    modifiers: list[CatalogModifierIn] = Field(
        default_factory=list, max_length=MAX_CATALOG_MODIFIERS
    )

    @model_validator(mode="after")
    def _check_consistency(self) -> "CatalogIn":
        problems: list[str] = []
        step = Decimal(1).scaleb(-currency_exponent(self.currency))
        entries: list[tuple[str, str, Decimal]] = [
            *((f"items[{n}]", f"sku {i.sku!r}", i.price) for n, i in enumerate(self.items)),
            *(
                (f"modifiers[{n}]", f"code {m.code!r}", m.price)
                for n, m in enumerate(self.modifiers)
            ),
        ]
        seen: set[str] = set()
        for where, identity, price in entries:
            if identity in seen:
                problems.append(f"{where}: duplicate {identity}")
            seen.add(identity)
            if price < 0:
                problems.append(f"{where}.price: must not be negative")
            elif price != price.quantize(step):
                problems.append(f"{where}.price: more decimal places than {self.currency} allows")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class CatalogItemOut(ORJSONModel):
    sku: str
    name: str
    aliases: list[str]
    price: Money
    category: str | None


class CatalogModifierOut(ORJSONModel):
    code: str
    name: str
    aliases: list[str]
    price: Money
    group: str | None


class CatalogOut(ORJSONModel):
    currency: str
    version: int
    items: list[CatalogItemOut]
    modifiers: list[CatalogModifierOut]


class CatalogSaved(ORJSONModel):
    items: int
    modifiers: int
    version: int


AudioEncoding = Literal["wav", "flac", "ogg", "mp3", "webm", "m4a", "pcm_s16le", "pcm_f32le"]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]


class AudioOptions(ORJSONModel):
    """How to read the audio: also the form fields next to a multipart `file`."""

    hertz: int | None = Field(
        default=None, ge=8000, le=48000, description="Sample rate; required for raw PCM"
    )
    encoding: AudioEncoding | None = Field(
        default=None, description="Optional for container formats (sniffed); required for raw PCM"
    )
    language: Language | None = Field(default=None, description="ISO 639-1 hint, e.g. `en`")


class AudioFields(AudioOptions):
    """The AudioHertzModel: base64 audio with its format."""

    audio: str | None = Field(default=None, description="base64 of the audio bytes")


class SpeechRequest(AudioOptions):
    """`POST /voice/speech` as JSON."""

    audio: str = Field(description="base64 of the audio bytes")


class SpeechSegment(ORJSONModel):
    start: float
    end: float
    text: str


class SpeechOut(ORJSONModel):
    text: str
    language: str
    duration: float
    segments: list[SpeechSegment]


class OrderRequest(AudioFields):
    """Exactly one of `text` or `audio`."""

    text: Annotated[str, StringConstraints(max_length=MAX_ORDER_TEXT)] | None = None
    customer_id: CustomerId | None = None

    @model_validator(mode="after")
    def _one_input(self) -> "OrderRequest":
        if (self.text is None) == (self.audio is None):
            raise ValueError("send exactly one of `text` or `audio`")
        if self.text is not None and not self.text.strip():
            raise ValueError("`text` is empty")
        return self


class OrderLineOut(ORJSONModel):
    sku: str
    name: str
    quantity: int
    modifiers: list[str]
    unit_price: Money
    line_total: Money
    matched_text: str | None
    confidence: float | None


class OrderOut(ORJSONModel):
    order_id: str
    customer_id: str | None
    transcript: str | None
    items: list[OrderLineOut]
    unmatched: list[str]
    total: Money
    currency: str
    created_at: UTCDateTime


class OrderPage(ORJSONModel):
    orders: list[OrderOut]
    next_cursor: str | None


class ImportLineIn(ORJSONModel):
    sku: Code
    quantity: int = Field(default=1, ge=1, le=1000)
    modifiers: list[Code] = Field(default_factory=list, max_length=20)


class ImportOrderIn(ORJSONModel):
    customer_id: CustomerId | None = None
    created_at: IsoDateTime
    items: list[ImportLineIn] = Field(min_length=1, max_length=200)


class ImportRequest(ORJSONModel):
    orders: list[ImportOrderIn] = Field(min_length=1, max_length=10_000)


class ImportResult(ORJSONModel):
    imported: int


class RecommendRequest(ORJSONModel):
    customer_id: CustomerId | None = None
    items: list[Code] = Field(default_factory=list, max_length=100)
    limit: int = Field(default=5, ge=1, le=50)
    at: IsoDateTime | None = Field(
        default=None,
        description="Moment of the order, ISO 8601 (default now); its hour of day weighs in",
    )


class RecommendationOut(ORJSONModel):
    sku: str
    name: str
    score: float
    reason: Literal["frequently_bought_together", "customer_favorite", "popular"]


class UsualOrder(ORJSONModel):
    items: list[ImportLineIn]


class RecommendOut(ORJSONModel):
    recommendations: list[RecommendationOut]
    usual_order: UsualOrder | None
