"""Order request and response bodies: orders, pages of orders, history imports."""

from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from src.models import Money, ORJSONModel, RequestModel, UTCDateTime
from src.voice.fields import Code, CustomerId, IsoDateTime
from src.voice.speech.schemas import AudioFields

MAX_ORDER_TEXT = 2000


class UtteranceRequest(AudioFields):
    """Exactly one of `text` or `audio`."""

    text: Annotated[str, StringConstraints(max_length=MAX_ORDER_TEXT)] | None = None

    @model_validator(mode="after")
    def _one_input(self) -> "UtteranceRequest":
        if (self.text is None) == (self.audio is None):
            raise ValueError("send exactly one of `text` or `audio`")
        if self.text is not None and not self.text.strip():
            raise ValueError("`text` is empty")
        return self


class OrderRequest(UtteranceRequest):
    """Exactly one of `text` or `audio`, and who orders."""

    customer_id: CustomerId | None = None


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
    session_id: str | None = None  # set on orders confirmed from an order session


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


class ImportRequest(RequestModel):
    orders: list[ImportOrderIn] = Field(min_length=1, max_length=10_000)


class ImportResult(ORJSONModel):
    imported: int
