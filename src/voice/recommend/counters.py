"""Recommendation counters: each stored order is queued, then folded in in batches.

Counters are additive deltas (`baskets = baskets + excluded.baskets`), so concurrent
folds never lose a count and SQLite and PostgreSQL behave the same. A recommendation
reads a few of their rows by primary-key prefix and never scans the order history.

Why a queue: every order of a merchant adds to the same rows (its basket total, its
best sellers' counts). Upserted in the order's own transaction, those rows stay
locked until its commit and the merchant's orders wait for one another (figures in
docs/OPERATIONS.md). So an order's id only goes into `rec_pending_orders`, put there
by a trigger on `orders` in the order's own transaction (migration 0004; nothing is
lost if the process dies after the commit), and
`fold_queued` claims queued orders in batches with a `DELETE ... RETURNING` (two
folds never count one order) and adds them up in one transaction. Each worker folds every
RECOMMEND_FOLD_SECONDS, and a recommendation that reads counters from the database
folds its client's queue first.

A customer's favourites decay with a half-life. Rather than rewriting every row
as time passes, each order adds 2 ** ((t - EPOCH) / half-life): the weights of
one customer's items share the factor 2 ** (-(now - EPOCH) / half-life), which
cancels when they are compared, and the sum stays additive.
"""

import hashlib
import itertools
import json
import logging
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, cast

import anyio
from sqlalchemy import (
    Integer,
    String,
    Table,
    and_,
    bindparam,
    case,
    delete,
    distinct,
    extract,
    func,
    literal_column,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.database import insert_of
from src.platform.observability.metrics import RECOMMEND_ORDERS_FOLDED
from src.voice.orders.models import Order, OrderLine
from src.voice.recommend.models import (
    RecCustomerBasket,
    RecCustomerItem,
    RecItem,
    RecPair,
    RecPendingOrder,
    RecTotal,
)
from src.voice.recommend.recommender import FAVORITE_HALF_LIFE_DAYS

logger = logging.getLogger(__name__)

ALL_HOURS = -1
_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
_UPSERT_CHUNK = 500
FOLD_BATCH = 500
# The table, for Core statements: the ORM's unit of work costs more than these rows.
_QUEUE = cast(Table, RecPendingOrder.__table__)
_MAX_FOLD_BACKOFF_SECONDS = 30.0


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


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _favourite_weight(moment: datetime) -> float:
    days = (as_utc(moment) - _EPOCH).total_seconds() / 86400
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
    baskets = list(baskets)
    totals: Counter[int] = Counter()
    items: Counter[tuple[int, str]] = Counter()
    pairs: Counter[tuple[str, str]] = Counter()
    for basket in baskets:
        skus = sorted({line.sku for line in basket.lines})
        if not skus:
            continue
        hour = as_utc(basket.created_at).hour
        for counted_hour in (ALL_HOURS, hour):
            totals[counted_hour] += 1
            for sku in skus:
                items[(counted_hour, sku)] += 1
        for a, b in itertools.permutations(skus, 2):
            pairs[(a, b)] += 1
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
    await record_customers(db_session=db_session, client_id=client_id, baskets=baskets)


async def record_customers(
    *, db_session: AsyncSession, client_id: str, baskets: Iterable[Basket]
) -> None:
    """Add the baskets of known customers to their favourites and usual orders."""
    favourites: defaultdict[tuple[str, str], float] = defaultdict(float)
    favourite_last: dict[tuple[str, str], datetime] = {}
    usual: dict[tuple[str, str], dict[str, Any]] = {}
    for basket in baskets:
        skus = sorted({line.sku for line in basket.lines})
        if not skus or basket.customer_id is None:
            continue
        created = as_utc(basket.created_at)
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
    # On the Core Table, not the ORM class: the session would run an ORM-entity insert
    # of many rows through its slower bulk-insert machinery. Cached per shape: ON
    # CONFLICT statements get no compiled-cache key.
    insert = insert_of(dialect)
    return _add_on_conflict(insert(model.__table__), model.__table__, counter, latest)


def _add_on_conflict(statement: Any, table: Table, counter: str, latest: str | None) -> Any:
    """On a stored key, add `counter` to the stored value (and keep the later `latest`)."""
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
        # Counted here, so not again by a fold; orders stored after this read stay
        # queued and are folded as usual.
        await forget_queued(db_session, [order.id for order in orders])
        await record_baskets(
            db_session=db_session, client_id=client_id, baskets=[basket_of(o) for o in orders]
        )
        seen += len(orders)
    return seen


async def forget_queued(db_session: AsyncSession, order_ids: Sequence[str]) -> None:
    """Take orders counted some other way (import, recount) off the queue."""
    for start in range(0, len(order_ids), _UPSERT_CHUNK):
        chunk = order_ids[start : start + _UPSERT_CHUNK]
        await db_session.execute(delete(_QUEUE).where(_QUEUE.c.order_id.in_(chunk)))


async def has_queued(db_session: AsyncSession, client_id: str | None = None) -> bool:
    """Whether any orders (of one client) wait to be counted: a read, so on SQLite it
    does not take the write turn that an empty fold would."""
    waiting = select(_QUEUE.c.order_id).limit(1)
    if client_id is not None:
        waiting = waiting.where(_QUEUE.c.client_id == client_id)
    return (await db_session.scalar(waiting)) is not None


async def _claim(db_session: AsyncSession, client_id: str | None, limit: int) -> list[str]:
    # On PostgreSQL the loop's folds (anyone's orders) skip rows another fold holds;
    # a client's fold, made before its recommendation is read, waits for them
    # instead, so that the counters it then reads include those orders. SQLite has
    # no FOR UPDATE (SQLAlchemy leaves it out); its writers take turns, and the
    # DELETE is this transaction's first write.
    waiting = select(_QUEUE.c.order_id).limit(limit).with_for_update(skip_locked=client_id is None)
    if client_id is not None:
        waiting = waiting.where(_QUEUE.c.client_id == client_id)
    claimed = await db_session.execute(
        delete(_QUEUE).where(_QUEUE.c.order_id.in_(waiting)).returning(_QUEUE.c.order_id)
    )
    return list(claimed.scalars())


async def _count_claimed(db_session: AsyncSession, order_ids: Sequence[str]) -> None:
    """Add claimed orders to their clients' counters (in the caller's transaction).

    The database counts baskets, items and pairs itself (`INSERT ... SELECT ...
    GROUP BY`). Counted in Python, a fold of 500 orders held its worker's event loop
    for ~20 ms, and every request of that worker waited: a third of the orders p99.
    Only known customers' favourites (a decayed weight) and usual orders (a hash of
    the basket) are still counted in Python, for those orders alone.
    """
    dialect = db_session.get_bind().dialect.name
    claimed = {"ids": order_ids if dialect == "postgresql" else json.dumps(list(order_ids))}
    for statement in _counting_statements(dialect):
        await db_session.execute(statement, claimed)
    rows = await db_session.execute(_customer_lines_statement(dialect), claimed)
    orders: dict[tuple[str, str], tuple[str, datetime, list[BasketLine]]] = {}
    for owner, order_id, customer_id, created_at, sku, quantity, modifiers in rows:
        entry = orders.setdefault((owner, order_id), (customer_id, created_at, []))
        entry[2].append(BasketLine(sku, quantity, tuple(sorted(modifiers))))
    baskets: dict[str, list[Basket]] = defaultdict(list)
    for (owner, _), (customer_id, created_at, lines) in orders.items():
        baskets[owner].append(Basket(customer_id, created_at, tuple(lines)))
    for owner, owned in baskets.items():
        await record_customers(db_session=db_session, client_id=owner, baskets=owned)


@lru_cache(maxsize=4)
def _claimed_lines(dialect: str) -> Any:
    """The lines of the claimed orders, with their order's columns.

    The claimed ids are one bound value, `ids` (`IN (...)` of 500 values re-rendered
    the statement on every fold): a text array on PostgreSQL, a JSON array on
    SQLite. On PostgreSQL each id is looked up by index (LATERAL): left to itself,
    the planner read the whole of `orders` and `order_lines` for a batch, a cost
    that grew with the history (6 ms a statement at 11,000 orders).
    """
    columns = (
        Order.client_id,
        Order.id.label("order_id"),
        Order.customer_id,
        Order.created_at,
        OrderLine.sku,
        OrderLine.quantity,
        OrderLine.modifiers,
    )
    lines = select(*columns).join(OrderLine, OrderLine.order_id == Order.id)
    if dialect != "postgresql":
        listed = func.json_each(bindparam("ids")).table_valued("value")
        return lines.where(Order.id.in_(select(listed.c.value))).subquery("claimed_lines")
    claimed = (
        func.unnest(sql_cast(bindparam("ids"), postgresql.ARRAY(String)))
        .table_valued("order_id")
        .render_derived("claimed")
    )
    # OFFSET 0 keeps PostgreSQL from flattening the LATERAL subquery into a plain join,
    # which it would plan as above.
    one_order = lines.where(Order.id == claimed.c.order_id)
    each = one_order.offset(literal_column("0")).lateral("each_order")
    return select(each).select_from(claimed).join(each, true()).subquery("claimed_lines")


def _claimed_ids(dialect: str) -> Any:
    return bindparam("ids", type_=postgresql.ARRAY(String) if dialect == "postgresql" else String)


def _utc_hour(dialect: str, moment: Any) -> Any:
    if dialect == "postgresql":
        return sql_cast(extract("hour", func.timezone(literal_column("'UTC'"), moment)), Integer)
    # SQLite keeps the UTC wall time as text: every writer stores UTC (import_orders).
    return sql_cast(func.strftime(literal_column("'%H'"), moment), Integer)


@lru_cache(maxsize=4)
def _counting_statements(dialect: str) -> tuple[Any, ...]:
    """The upserts of totals, items and pairs from the claimed orders, as
    `record_baskets` counts them: an order counts once per distinct item, once for
    all hours and once for its hour (UTC); lines-less orders count nowhere."""
    lines = _claimed_lines(dialect)
    skus = (
        select(
            lines.c.client_id,
            lines.c.order_id,
            _utc_hour(dialect, lines.c.created_at).label("hour"),
            lines.c.sku,
        )
        .distinct()
        .cte("basket_skus")
    )
    hours = union_all(
        select(skus.c.client_id, skus.c.order_id, skus.c.hour, skus.c.sku),
        select(
            skus.c.client_id,
            skus.c.order_id,
            literal_column(str(ALL_HOURS), Integer).label("hour"),
            skus.c.sku,
        ),
    ).cte("basket_hours")
    first, second = skus.alias("first_sku"), skus.alias("second_sku")
    # Ordered by primary key: two folds upserting the same rows take their locks in
    # the same order, and so never deadlock.
    totals = (
        select(hours.c.client_id, hours.c.hour, func.count(distinct(hours.c.order_id)))
        .group_by(hours.c.client_id, hours.c.hour)
        .order_by(hours.c.client_id, hours.c.hour)
    )
    items = (
        select(hours.c.client_id, hours.c.hour, hours.c.sku, func.count())
        .group_by(hours.c.client_id, hours.c.hour, hours.c.sku)
        .order_by(hours.c.client_id, hours.c.hour, hours.c.sku)
    )
    pairs = (
        select(first.c.client_id, first.c.sku, second.c.sku, func.count())
        .join(second, and_(second.c.order_id == first.c.order_id, second.c.sku != first.c.sku))
        .group_by(first.c.client_id, first.c.sku, second.c.sku)
        .order_by(first.c.client_id, first.c.sku, second.c.sku)
    )
    return (
        _upsert_from(dialect, RecTotal, ["client_id", "hour", "baskets"], totals),
        _upsert_from(dialect, RecItem, ["client_id", "hour", "sku", "baskets"], items),
        _upsert_from(dialect, RecPair, ["client_id", "sku", "other_sku", "baskets"], pairs),
    )


def _upsert_from(dialect: str, model: Any, columns: list[str], rows: Any) -> Any:
    insert = insert_of(dialect)
    # `WHERE true`: SQLite would read the ON of ON CONFLICT as a join's otherwise.
    statement = insert(model.__table__).from_select(columns, rows.where(true()))
    return _rendered_once(dialect, _add_on_conflict(statement, model.__table__, "baskets", None))


def _rendered_once(dialect: str, statement: Any) -> Any:
    """`statement` as SQL text, rendered once: SQLAlchemy keeps no compiled form of a
    dialect's INSERT ... ON CONFLICT (it has no cache key), and rendering these
    anew took ~1 ms of every fold. Constants are inlined; `ids` is the one parameter."""
    named = (postgresql if dialect == "postgresql" else sqlite).dialect(paramstyle="named")
    return text(str(statement.compile(dialect=named))).bindparams(_claimed_ids(dialect))


@lru_cache(maxsize=4)
def _customer_lines_statement(dialect: str) -> Any:
    # Every column of the claimed lines, in their order (`_count_claimed` unpacks them).
    lines = _claimed_lines(dialect)
    return select(lines).where(lines.c.customer_id.is_not(None))


async def fold_queued(
    db_session: AsyncSession, *, client_id: str | None = None, limit: int = FOLD_BATCH
) -> int:
    """Count up to `limit` queued orders (one client's, or anyone's) and commit.

    Returns how many were claimed: fewer than `limit` means the queue was drained.
    """
    order_ids = await _claim(db_session, client_id, limit)
    if not order_ids:
        await db_session.rollback()
        return 0
    await _count_claimed(db_session, order_ids)
    await db_session.commit()
    RECOMMEND_ORDERS_FOLDED.inc(len(order_ids))
    return len(order_ids)


async def fold_all_queued(db_session: AsyncSession, *, client_id: str | None = None) -> int:
    """Fold until the queue (one client's, or everyone's) is empty; returns the orders."""
    total = 0
    while (folded := await fold_queued(db_session, client_id=client_id)) > 0:
        total += folded
        if folded < FOLD_BATCH:
            break
    return total


async def fold_continuously(
    sessionmaker: async_sessionmaker[AsyncSession], interval: float
) -> None:
    """Background loop for the app's lifespan: fold the queue every `interval` seconds.

    While the database is away it waits longer between tries (up to 30 s) and logs
    once per outage; queued orders stay in the database until a fold succeeds.
    """
    delay = interval
    while True:
        await anyio.sleep(delay)
        try:
            async with sessionmaker() as db_session:
                if await has_queued(db_session):
                    await fold_all_queued(db_session)
        except Exception:
            if delay == interval:
                logger.warning("could not fold queued orders into the counters", exc_info=True)
            delay = min(delay * 2, max(interval, _MAX_FOLD_BACKOFF_SECONDS))
        else:
            delay = interval
