"""Recommendation request and response bodies."""

from typing import Literal

from pydantic import Field

from src.models import ORJSONModel, RequestModel
from src.voice.fields import Code, CustomerId, IsoDateTime
from src.voice.orders.schemas import ImportLineIn


class RecommendRequest(RequestModel):
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
