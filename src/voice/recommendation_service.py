"""Recommendation counters (written with each stored order) and their reads.

Counters are upserted in the transaction that stores the orders, as additive
deltas (`baskets = baskets + excluded.baskets`), so concurrent orders never lose
a count and SQLite and PostgreSQL behave the same. A recommendation reads a few
rows by primary-key prefix and never scans the order history.

A customer's favourites decay with a half-life. Rather than rewriting every row
as time passes, each order adds 2 ** ((t - EPOCH) / half-life): the weights of
one customer's items share the factor 2 ** (-(now - EPOCH) / half-life), which
cancels when they are compared, and the sum stays additive.
"""

import hashlib
import itertools
import json
import math
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from src.monitoring import RECOMMENDATIONS_SERVED
from src.voice.catalog_service import PreparedCatalog
from src.voice.models import (
    Order,
    RecCustomerBasket,
    RecCustomerItem,
    RecItem,
    RecPair,
    RecTotal,
)
from src.voice.recommender import FAVORITE_HALF_LIFE_DAYS, Counts, recommend
from src.voice.schemas import ImportLineIn, RecommendationOut, RecommendOut, UsualOrder

ALL_HOURS = -1
_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
_UPSERT_CHUNK = 500


@dataclass(frozen=True, slots=True)
class BasketLine:
    sku: str
    quantity: int
    modifiers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Basket:
    """One stored order as the recommender sees it."""

    customer_id: str | None
    created_at: datetime
    lines: tuple[BasketLine, ...]


def basket_of(order: Order) -> Basket:
    """The recommender's view of a stored order."""
    return Basket(
        customer_id=order.customer_id,
        created_at=order.created_at,
        lines=tuple(
            BasketLine(line.sku, line.quantity, tuple(sorted(line.modifiers)))
            for line in order.lines
        ),
    )


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _favourite_weight(moment: datetime) -> float:
    days = (_utc(moment) - _EPOCH).total_seconds() / 86400
    return math.pow(2.0, days / FAVORITE_HALF_LIFE_DAYS)


def _basket_items(basket: Basket) -> list[dict[str, Any]]:
    merged: Counter[tuple[str, tuple[str, ...]]] = Counter()
    for line in basket.lines:
        merged[(line.sku, line.modifiers)] += line.quantity
    return [
        {"sku": sku, "quantity": quantity, "modifiers": list(modifiers)}
        for (sku, modifiers), quantity in sorted(merged.items())
    ]


async def record_baskets(
    *, db_session: AsyncSession, client_id: str, baskets: Iterable[Basket]
) -> None:
    """Add stored orders to the client's counters (in the caller's transaction)."""
    totals: Counter[int] = Counter()
    items: Counter[tuple[int, str]] = Counter()
    pairs: Counter[tuple[str, str]] = Counter()
    favourites: defaultdict[tuple[str, str], float] = defaultdict(float)
    favourite_last: dict[tuple[str, str], datetime] = {}
    usual: dict[tuple[str, str], dict[str, Any]] = {}
    for basket in baskets:
        skus = sorted({line.sku for line in basket.lines})
        if not skus:
            continue
        created = _utc(basket.created_at)
        for hour in (ALL_HOURS, created.hour):
            totals[hour] += 1
            for sku in skus:
                items[(hour, sku)] += 1
        for a, b in itertools.permutations(skus, 2):
            pairs[(a, b)] += 1
        if basket.customer_id is None:
            continue
        weight = _favourite_weight(created)
        for sku in skus:
            key = (basket.customer_id, sku)
            favourites[key] += weight
            favourite_last[key] = max(favourite_last.get(key, created), created)
        lines = _basket_items(basket)
        basket_key = hashlib.sha256(json.dumps(lines, sort_keys=True).encode()).hexdigest()
        entry = usual.setdefault(
            (basket.customer_id, basket_key), {"items": lines, "times": 0, "last_at": created}
        )
        entry["times"] += 1
        entry["last_at"] = max(entry["last_at"], created)

    await _add(
        db_session,
        RecTotal,
        [{"client_id": client_id, "hour": h, "baskets": n} for h, n in totals.items()],
        "baskets",
    )
    await _add(
        db_session,
        RecItem,
        [
            {"client_id": client_id, "hour": h, "sku": s, "baskets": n}
            for (h, s), n in items.items()
        ],
        "baskets",
    )
    await _add(
        db_session,
        RecPair,
        [
            {"client_id": client_id, "sku": a, "other_sku": b, "baskets": n}
            for (a, b), n in pairs.items()
        ],
        "baskets",
    )
    await _add(
        db_session,
        RecCustomerItem,
        [
            {
                "client_id": client_id,
                "customer_id": customer,
                "sku": sku,
                "weight": weight,
                "updated_at": favourite_last[(customer, sku)],
            }
            for (customer, sku), weight in favourites.items()
        ],
        "weight",
        latest="updated_at",
    )
    await _add(
        db_session,
        RecCustomerBasket,
        [
            {
                "client_id": client_id,
                "customer_id": customer,
                "basket_key": key,
                "items": entry["items"],
                "times": entry["times"],
                "last_at": entry["last_at"],
            }
            for (customer, key), entry in usual.items()
        ],
        "times",
        latest="last_at",
    )


async def _add(
    db_session: AsyncSession,
    table: Any,
    rows: Sequence[dict[str, Any]],
    counter: str,
    *,
    latest: str | None = None,
) -> None:
    """Upsert `rows`, adding `counter` to the stored value (and keeping the later `latest`).

    One statement per table and dialect, executed with many parameter sets: it is
    compiled once and cached, instead of a fresh multi-VALUES statement per call.
    """
    if not rows:
        return
    statement = _upsert_statement(db_session.get_bind().dialect.name, table, counter, latest)
    for start in range(0, len(rows), _UPSERT_CHUNK):
        await db_session.execute(statement, list(rows[start : start + _UPSERT_CHUNK]))


@lru_cache(maxsize=32)
def _upsert_statement(dialect: str, model: Any, counter: str, latest: str | None) -> Any:
    # On the Core Table, not the ORM class: the session runs an ORM-entity insert with
    # many rows through its bulk-insert machinery, about 0.8 ms of an order's ~8 ms.
    # (ON CONFLICT statements get no compiled-cache key either way: ~0.1 ms each.)
    table = model.__table__
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table)
    updates: dict[str, Any] = {counter: table.c[counter] + statement.excluded[counter]}
    if latest is not None:
        stored, incoming = table.c[latest], statement.excluded[latest]
        updates[latest] = case((incoming > stored, incoming), else_=stored)
    primary_key = [c.name for c in table.primary_key.columns]
    return statement.on_conflict_do_update(index_elements=primary_key, set_=updates)


async def clear_counters(*, db_session: AsyncSession, client_id: str) -> None:
    """Forget a client's counters (before a recount)."""
    for table in (RecTotal, RecItem, RecPair, RecCustomerItem, RecCustomerBasket):
        await db_session.execute(delete(table).where(table.client_id == client_id))


async def recount(*, db_session: AsyncSession, client_id: str, batch: int = 2000) -> int:
    """Rebuild a client's counters from its stored orders; returns the orders read."""
    await clear_counters(db_session=db_session, client_id=client_id)
    result = await db_session.stream_scalars(
        select(Order).where(Order.client_id == client_id).execution_options(yield_per=batch)
    )
    seen = 0
    async for orders in result.partitions(batch):
        await record_baskets(
            db_session=db_session, client_id=client_id, baskets=[basket_of(o) for o in orders]
        )
        seen += len(orders)
    return seen


class _TtlCache:
    """Values for a few seconds per worker: a recommendation that far behind is harmless.

    Bounded: when full it starts over (entries are cheap to read again).
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        self._entries: dict[tuple[str, ...], tuple[float, Any]] = {}
        self._max_entries = max_entries

    def get(self, key: tuple[str, ...]) -> Any | None:
        entry = self._entries.get(key)
        return entry[1] if entry is not None and entry[0] > time.monotonic() else None

    def put(self, key: tuple[str, ...], value: Any, ttl: float) -> None:
        if ttl <= 0:
            return
        if len(self._entries) >= self._max_entries:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + ttl, value)


ClientCounts = tuple[dict[int, int], dict[str, int], dict[str, int]]
_client_counts = _TtlCache()
_item_pairs = _TtlCache()
_customer_history = _TtlCache()


async def _read_client_counts(
    db_session: AsyncSession, client_id: str, hour: int, cache_seconds: float
) -> ClientCounts:
    """(basket totals by hour, baskets per item overall, baskets per item at `hour`)."""
    key = (client_id, str(hour))
    cached: ClientCounts | None = _client_counts.get(key)
    if cached is not None:
        return cached
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
    _client_counts.put(key, counts, cache_seconds)
    return counts


async def _read_pairs(
    db_session: AsyncSession, client_id: str, basket: Sequence[str], cache_seconds: float
) -> dict[str, dict[str, int]]:
    """Baskets shared by each basket item and every other item."""
    pairs: dict[str, dict[str, int]] = {}
    missing = []
    for sku in basket:
        cached = _item_pairs.get((client_id, sku))
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
            _item_pairs.put((client_id, sku), others, cache_seconds)
        pairs.update(fresh)
    return pairs


async def _read_customer(
    db_session: AsyncSession, client_id: str, customer_id: str, cache_seconds: float
) -> tuple[dict[str, float], list[dict[str, Any]] | None]:
    """A customer's decayed item weights and most frequent basket."""
    key = (client_id, customer_id)
    cached: tuple[dict[str, float], list[dict[str, Any]] | None] | None = _customer_history.get(key)
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
    _customer_history.put(key, (favourites, usual), cache_seconds)
    return favourites, usual


@dataclass(frozen=True, slots=True)
class History:
    counts: Counts
    usual_order: list[dict[str, Any]] | None


async def load_history(
    *,
    db_session: AsyncSession,
    client_id: str,
    basket: Sequence[str],
    at: datetime,
    customer_id: str | None,
    cache_seconds: float = 0.0,
) -> History:
    """The counters one recommendation needs: a handful of primary-key range reads.

    Each part (client-wide counts, each basket item's pairs, the customer's history)
    may come from a per-worker cache up to `cache_seconds` old (0: always read).
    """
    hour = _utc(at).hour
    totals, overall, at_hour = await _read_client_counts(db_session, client_id, hour, cache_seconds)
    pairs = await _read_pairs(db_session, client_id, basket, cache_seconds) if basket else {}
    favourites: dict[str, float] = {}
    usual: list[dict[str, Any]] | None = None
    if customer_id is not None:
        favourites, usual = await _read_customer(db_session, client_id, customer_id, cache_seconds)
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
