"""Order session request and response bodies."""

from typing import Any, Literal

from pydantic import Field

from src.models import Money, ORJSONModel, RequestModel, UTCDateTime
from src.voice.fields import CustomerId
from src.voice.orders.schemas import UtteranceRequest

Channel = Literal["counter", "kiosk", "drive_thru", "phone", "web"]
SessionStatus = Literal["open", "confirmed", "cancelled", "expired"]


class SessionCreate(RequestModel):
    customer_id: CustomerId | None = None
    channel: Channel = "counter"


class TurnRequest(UtteranceRequest):
    """One utterance: exactly one of `text` or `audio`."""


class CartLineOut(ORJSONModel):
    line_id: str
    sku: str
    name: str
    quantity: int
    modifiers: list[str]
    unit_price: Money
    line_total: Money
    confidence: float
    modifier_names: list[str] = Field(
        description="The modifiers as the catalog names them, in the order of `modifiers`"
    )
    needs_review: bool = Field(
        description="The line's confidence is below the review threshold: check it with "
        "the customer"
    )


class CartOut(ORJSONModel):
    lines: list[CartLineOut]
    total: Money
    currency: str


class SessionOut(ORJSONModel):
    session_id: str
    status: SessionStatus
    version: int
    customer_id: str | None
    channel: Channel
    cart: CartOut
    readback: str
    needs_review: bool
    order_id: str | None
    created_at: UTCDateTime
    expires_at: UTCDateTime


class TurnOut(ORJSONModel):
    turn_id: str
    transcript: str
    actions: list[dict[str, Any]] = Field(
        description="Edits in the order spoken: op is add, remove, set_quantity, "
        "set_modifiers, replace, undo or clear"
    )
    unmatched: list[str]
    unavailable: list[str] = Field(description="Names of sold-out items the turn asked for")
    needs_review: bool
    done: bool


class TurnResult(ORJSONModel):
    session: SessionOut
    turn: TurnOut
