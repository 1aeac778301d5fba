"""Recommendations: the counters one answer needs, read through per-worker caches.

The counters themselves are kept by `recommendation_counters`.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from src.platform.cache import Cache
from src.platform.observability.metrics import RECOMMENDATIONS_SERVED
from src.voice.catalog.service import PreparedCatalog
from src.voice.orders.schemas import ImportLineIn
from src.voice.recommend.counters import ALL_HOURS, as_utc, fold_all_queued, has_queued
from src.voice.recommend.models import (
    RecCustomerBasket,
    RecCustomerItem,
    RecItem,
    RecPair,
    RecTotal,
)
from src.voice.recommend.recommender import Counts, recommend
from src.voice.recommend.schemas import RecommendationOut, RecommendOut, UsualOrder

ClientCounts = tuple[dict[int, int], dict[str, int], dict[str, int]]
CustomerHistory = tuple[dict[str, float], list[dict[str, Any]] | None]


@dataclass(frozen=True, slots=True)
class RecommendCaches:
    """Counters for a few seconds per worker (a recommendation that far behind is
    harmless); made by the voice lifespan, one per app."""

    client_counts: Cache[tuple[str, int], ClientCounts] = field(default_factory=Cache)
    item_pairs: Cache[tuple[str, str], dict[str, int]] = field(default_factory=Cache)
    customers: Cache[tuple[str, str], CustomerHistory] = field(default_factory=Cache)


async def _read_client_counts(
    db_session: AsyncSession,
    caches: RecommendCaches,
    client_id: str,
    hour: int,
    cache_seconds: float,
) -> ClientCounts:
    """(basket totals by hour, baskets per item overall, baskets per item at `hour`).

    Read from the database, they first take in the client's queued orders.
    """
    key = (client_id, hour)
    cached = caches.client_counts.get(key, cache_seconds)
    if cached is not None:
        return cached
    if await has_queued(db_session, client_id):
        await fold_all_queued(db_session, client_id=client_id)
    totals = dict(
        (
            await db_session.execute(
                select(RecTotal.hour, RecTotal.baskets).where(
                    RecTotal.client_id == client_id, RecTotal.hour.in_((ALL_HOURS, hour))
                )
            )
        )
        .tuples()
        .all()
    )
    overall: dict[str, int] = {}
    at_hour: dict[str, int] = {}
    rows = await db_session.execute(
        select(RecItem.hour, RecItem.sku, RecItem.baskets).where(
            RecItem.client_id == client_id, RecItem.hour.in_((ALL_HOURS, hour))
        )
    )
    for row_hour, sku, count in rows.tuples():
        (overall if row_hour == ALL_HOURS else at_hour)[sku] = count
    counts = (totals, overall, at_hour)
    if cache_seconds > 0:
        caches.client_counts.put(key, counts)
    return counts


async def _read_pairs(
    db_session: AsyncSession,
    caches: RecommendCaches,
    client_id: str,
    basket: Sequence[str],
    cache_seconds: float,
) -> dict[str, dict[str, int]]:
    """Baskets shared by each basket item and every other item."""
    pairs: dict[str, dict[str, int]] = {}
    missing = []
    for sku in basket:
        cached = caches.item_pairs.get((client_id, sku), cache_seconds)
        if cached is None:
            missing.append(sku)
        else:
            pairs[sku] = cached
    if missing:
        fresh: dict[str, dict[str, int]] = {sku: {} for sku in missing}
        rows = await db_session.execute(
            select(RecPair.sku, RecPair.other_sku, RecPair.baskets).where(
                RecPair.client_id == client_id, RecPair.sku.in_(missing)
            )
        )
        for sku, other, count in rows.tuples():
            fresh[sku][other] = count
        for sku, others in fresh.items():
            if cache_seconds > 0:
                caches.item_pairs.put((client_id, sku), others)
        pairs.update(fresh)
    return pairs


async def _read_customer(
    db_session: AsyncSession,
    caches: RecommendCaches,
    client_id: str,
    customer_id: str,
    cache_seconds: float,
) -> tuple[dict[str, float], list[dict[str, Any]] | None]:
    """A customer's decayed item weights and most frequent basket."""
    key = (client_id, customer_id)
    cached = caches.customers.get(key, cache_seconds)
    if cached is not None:
        return cached
    favourites = dict(
        (
            await db_session.execute(
                select(RecCustomerItem.sku, RecCustomerItem.weight).where(
                    RecCustomerItem.client_id == client_id,
                    RecCustomerItem.customer_id == customer_id,
                )
            )
        )
        .tuples()
        .all()
    )
    usual = await db_session.scalar(
        select(RecCustomerBasket.items)
        .where(
            RecCustomerBasket.client_id == client_id,
            RecCustomerBasket.customer_id == customer_id,
        )
        .order_by(RecCustomerBasket.times.desc(), RecCustomerBasket.last_at.desc())
        .limit(1)
    )
    if cache_seconds > 0:
        caches.customers.put(key, (favourites, usual))
    return favourites, usual


@dataclass(frozen=True, slots=True)
class History:
    counts: Counts
    usual_order: list[dict[str, Any]] | None


async def load_history(
    *,
    db_session: AsyncSession,
    caches: RecommendCaches,
    client_id: str,
    basket: Sequence[str],
    at: datetime,
    customer_id: str | None,
    cache_seconds: float = 0.0,
) -> History:
    """The counters one recommendation needs: a handful of primary-key range reads.

    Each part (client-wide counts, each basket item's pairs, the customer's history)
    may come from a per-worker cache up to `cache_seconds` old (0: always read).
    When the client-wide counts are read from the database, the client's queued
    orders are folded in first: with no cache, an answer counts every order stored
    before it.
    """
    hour = as_utc(at).hour
    totals, overall, at_hour = await _read_client_counts(
        db_session, caches, client_id, hour, cache_seconds
    )
    pairs = (
        await _read_pairs(db_session, caches, client_id, basket, cache_seconds) if basket else {}
    )
    favourites: dict[str, float] = {}
    usual: list[dict[str, Any]] | None = None
    if customer_id is not None:
        favourites, usual = await _read_customer(
            db_session, caches, client_id, customer_id, cache_seconds
        )
    counts = Counts(
        baskets=totals.get(ALL_HOURS, 0),
        item_baskets=overall,
        pairs=pairs,
        hour_baskets=totals.get(hour, 0),
        hour_item_baskets=at_hour,
        favorites=favourites,
    )
    return History(counts=counts, usual_order=usual)


def answer(
    history: History, *, prepared: PreparedCatalog, basket: Sequence[str], limit: int
) -> RecommendOut:
    """Score against the current catalog: removed SKUs are neither offered nor usual."""
    picks = recommend(
        history.counts, basket=basket, available=prepared.item_names.keys(), limit=limit
    )
    usual = None
    if history.usual_order:
        lines = [
            ImportLineIn.model_validate(line)
            for line in history.usual_order
            if line["sku"] in prepared.item_names
            and all(code in prepared.modifier_prices for code in line["modifiers"])
        ]
        usual = UsualOrder(items=lines) if lines else None
    for pick in picks:
        RECOMMENDATIONS_SERVED.labels(reason=pick.reason).inc()
    return RecommendOut(
        recommendations=[
            RecommendationOut(
                sku=pick.sku,
                name=prepared.item_names[pick.sku],
                score=pick.score,
                reason=pick.reason,
            )
            for pick in picks
        ],
        usual_order=usual,
    )
