"""Orders in the database: build a priced order, store it, read it, list pages, import history."""

import base64
import binascii
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import orjson
from sqlalchemy import (
    JSON,
    CursorResult,
    Table,
    Text,
    bindparam,
    exists,
    func,
    insert,
    literal,
    select,
    true,
    tuple_,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from src.platform.observability.metrics import ORDER_LINES, ORDERS_PARSED, UNMATCHED_SPANS
from src.voice.catalog.models import Catalog
from src.voice.catalog.service import PreparedCatalog, price_of
from src.voice.exceptions import AmountTooLarge, OrderNotFound
from src.voice.money import from_minor
from src.voice.orders.models import Order, OrderLine
from src.voice.orders.parser import ParseResult, choose_reading, parse_order
from src.voice.orders.schemas import ImportRequest, OrderLineOut, OrderOut, OrderPage
from src.voice.recommend.counters import Basket, BasketLine, forget_queued, record_baskets

# Amounts are stored as 64-bit integers of minor units.
MAX_MINOR_UNITS = 2**63 - 1


def new_order_id() -> str:
    return f"ord_{uuid.uuid4().hex}"


def _outcome(result: ParseResult) -> str:
    if not result.lines:
        return "none"
    return "partial" if result.unmatched else "full"


@dataclass(slots=True)
class PricedLine:
    """One parsed and priced line of a new order (the columns of `order_lines`)."""

    position: int
    sku: str
    name: str
    quantity: int
    modifiers: list[str]
    unit_price_minor: int
    line_total_minor: int
    matched_text: str | None
    confidence: float | None


@dataclass(slots=True)
class PricedOrder:
    """A new order before it is stored (the columns of `orders`, and its lines).

    Plain data rather than ORM objects: an order is written with Core inserts,
    which cost a fraction of the ORM's unit of work on this path.
    """

    id: str
    client_id: str
    customer_id: str | None
    source: str
    transcript: str
    unmatched: list[str]
    currency: str
    total_minor: int
    created_at: datetime
    lines: list[PricedLine] = field(default_factory=list)
    session_id: str | None = None


def build_order(
    *,
    client_id: str,
    customer_id: str | None,
    transcript: str,
    source: str,
    prepared: PreparedCatalog,
    alternatives: Sequence[str] = (),
    confidences: Sequence[float] = (),
) -> PricedOrder:
    """Parse and price an utterance into an unsaved order (pure apart from the clock).

    For speech (`source="audio"`) the transcript and the recogniser's `alternatives`
    are read as spoken language and the reading that parses best is kept; the
    recogniser's `confidences` in them weigh how far the readings agree on each line.
    """
    if source == "audio":
        transcript, result = choose_reading(
            [transcript, *alternatives], prepared.index, confidences
        )
    else:
        result = parse_order(transcript, prepared.index)
    ORDERS_PARSED.labels(outcome=_outcome(result), source=source).inc()
    UNMATCHED_SPANS.inc(len(result.unmatched))
    ORDER_LINES.observe(len(result.lines))
    lines: list[PricedLine] = []
    unmatched = list(result.unmatched)
    for line in result.lines:
        if line.sku in prepared.unavailable:
            # Sold out: heard, never ordered; the words go back to the caller.
            unmatched.append(line.matched_text)
            continue
        unit = price_of(prepared, line.sku, line.modifiers)
        lines.append(
            PricedLine(
                position=len(lines),
                sku=line.sku,
                name=prepared.item_names[line.sku],
                quantity=line.quantity,
                modifiers=list(line.modifiers),
                unit_price_minor=unit,
                line_total_minor=unit * line.quantity,
                matched_text=line.matched_text,
                confidence=line.confidence,
            )
        )
    total_minor = sum(line.line_total_minor for line in lines)
    if total_minor > MAX_MINOR_UNITS:
        raise AmountTooLarge()
    return PricedOrder(
        id=new_order_id(),
        client_id=client_id,
        customer_id=customer_id,
        source=source,
        transcript=transcript,
        unmatched=unmatched,
        currency=prepared.currency,
        total_minor=total_minor,
        created_at=datetime.now(UTC),
        lines=lines,
    )


_ORDERS = cast(Table, Order.__table__)
_ORDER_LINES = cast(Table, OrderLine.__table__)
_ORDER_COLUMNS = tuple(c.name for c in _ORDERS.columns)
_LINE_COLUMNS = tuple(c.name for c in _ORDER_LINES.columns if c.name not in ("id", "order_id"))
_CATALOGS = cast(Table, Catalog.__table__)
# Statements built once: a statement object keeps its compiled-cache key, so each
# order skips working it out again.
# The order row, written only while the client's catalog is still the version the
# order was parsed against: the check needs no statement (no round trip) of its own.
_INSERT_ORDER_IF_CATALOG_CURRENT = insert(_ORDERS).from_select(
    list(_ORDER_COLUMNS),
    select(*(bindparam(name, type_=_ORDERS.c[name].type) for name in _ORDER_COLUMNS)).where(
        exists().where(
            _CATALOGS.c.client_id == bindparam("client_id"),
            _CATALOGS.c.version == bindparam("catalog_version"),
        )
    ),
)
_INSERT_LINES = insert(_ORDER_LINES)


def _insert_order_with_lines() -> Any:
    """PostgreSQL: the order and all its lines in one statement, which needs no
    transaction around it (see `database.use_autocommit`): one round trip where the
    order, its lines, BEGIN and COMMIT took four. The lines arrive as one array per
    column; `count` is 0 when the catalog check wrote nothing."""
    new_order = _INSERT_ORDER_IF_CATALOG_CURRENT.returning(_ORDERS.c.id).cte("new_order")
    # Modifiers (JSON) travel as JSON text and are cast back in the statement.
    element_types = {name: _ORDER_LINES.c[name].type for name in _LINE_COLUMNS}
    element_types["modifiers"] = Text()
    arrays = [
        bindparam(f"lines_{name}", type_=postgresql.ARRAY(element_types[name]))
        for name in _LINE_COLUMNS
    ]
    line = func.unnest(*arrays).table_valued(*_LINE_COLUMNS).render_derived("line")
    values = [
        sql_cast(line.c[name], JSON) if name == "modifiers" else line.c[name]
        for name in _LINE_COLUMNS
    ]
    new_lines = (
        insert(_ORDER_LINES)
        .from_select(
            ["order_id", *_LINE_COLUMNS],
            select(new_order.c.id, *values).select_from(new_order).join(line, true()),
        )
        .returning(_ORDER_LINES.c.id)
        .cte("new_lines")
    )
    return select(func.count().label("count")).select_from(new_order).add_cte(new_lines)


_INSERT_ORDER_WITH_LINES = _insert_order_with_lines()


async def store_order(
    db_session: AsyncSession, order: PricedOrder, *, catalog_version: int
) -> bool:
    """Insert the order and its lines if the client's catalog is still `catalog_version`
    (caller commits). False, with nothing written, if it has been replaced since: the
    order was parsed and priced against a catalog that is no longer current.

    The database queues a stored order for the recommendation counters (a trigger on
    `orders`, migration 0004).
    """
    values: dict[str, Any] = {name: getattr(order, name) for name in _ORDER_COLUMNS}
    values["catalog_version"] = catalog_version
    if db_session.get_bind().dialect.name == "postgresql":
        for name in _LINE_COLUMNS:
            values[f"lines_{name}"] = [getattr(line, name) for line in order.lines]
        values["lines_modifiers"] = [orjson.dumps(m).decode() for m in values["lines_modifiers"]]
        return bool(await db_session.scalar(_INSERT_ORDER_WITH_LINES, values))
    stored = await db_session.execute(_INSERT_ORDER_IF_CATALOG_CURRENT, values)
    if cast(CursorResult[Any], stored).rowcount == 0:
        return False
    if order.lines:
        await db_session.execute(
            _INSERT_LINES,
            [
                {"order_id": order.id, **{name: getattr(line, name) for name in _LINE_COLUMNS}}
                for line in order.lines
            ],
        )
    return True


def order_out(order: Order | PricedOrder) -> OrderOut:
    """The API shape of a stored order."""
    currency = order.currency
    return OrderOut(
        order_id=order.id,
        customer_id=order.customer_id,
        transcript=order.transcript,
        items=[
            OrderLineOut(
                sku=line.sku,
                name=line.name,
                quantity=line.quantity,
                modifiers=list(line.modifiers),
                unit_price=from_minor(line.unit_price_minor, currency),
                line_total=from_minor(line.line_total_minor, currency),
                matched_text=line.matched_text,
                confidence=line.confidence,
            )
            for line in order.lines
        ],
        unmatched=list(order.unmatched),
        total=from_minor(order.total_minor, currency),
        currency=currency,
        created_at=order.created_at,
        session_id=order.session_id,
    )


async def get_order(*, db_session: AsyncSession, client_id: str, order_id: str) -> Order:
    """The client's order; another client's order is NOT_FOUND like a missing one."""
    result = await db_session.execute(
        select(Order).where(Order.id == order_id, Order.client_id == client_id)
    )
    order = result.scalar_one_or_none()
    if order is None:
        raise OrderNotFound()
    return order


def _encode_cursor(order: Order) -> str:
    created = order.created_at.replace(tzinfo=None).isoformat()
    return base64.urlsafe_b64encode(f"{created}|{order.id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str] | None:
    """(created_at, order_id) of a page cursor, or None if it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, order_id = raw.split("|", 1)
        return datetime.fromisoformat(created).replace(tzinfo=UTC), order_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


async def list_orders(
    *,
    db_session: AsyncSession,
    client_id: str,
    customer_id: str | None,
    limit: int,
    cursor: tuple[datetime, str] | None,
) -> OrderPage:
    """Newest first, `limit` per page; `next_cursor` continues after the last one."""
    query = select(Order).where(Order.client_id == client_id)
    if customer_id is not None:
        query = query.where(Order.customer_id == customer_id)
    if cursor is not None:
        query = query.where(
            tuple_(Order.created_at, Order.id) < tuple_(literal(cursor[0]), literal(cursor[1]))
        )
    query = query.order_by(Order.created_at.desc(), Order.id.desc()).limit(limit + 1)
    orders = list((await db_session.execute(query)).scalars())
    next_cursor = _encode_cursor(orders[limit - 1]) if len(orders) > limit else None
    return OrderPage(orders=[order_out(o) for o in orders[:limit]], next_cursor=next_cursor)


MAX_IMPORT_PROBLEMS = 100


@dataclass(frozen=True, slots=True)
class ImportProblem:
    """An unknown SKU or modifier code at `loc` in an import body."""

    loc: tuple[str | int, ...]
    msg: str
    type: str


def import_problems(request: ImportRequest, prepared: PreparedCatalog) -> list[ImportProblem]:
    """Every unknown SKU or modifier code in an import."""
    problems: list[ImportProblem] = []
    for n, order in enumerate(request.orders):
        for m, line in enumerate(order.items):
            where = ("body", "orders", n, "items", m)
            if line.sku not in prepared.item_prices:
                problems.append(
                    ImportProblem((*where, "sku"), f"unknown sku {line.sku!r}", "unknown_sku")
                )
            for code in line.modifiers:
                if code not in prepared.modifier_prices:
                    problems.append(
                        ImportProblem(
                            (*where, "modifiers"), f"unknown modifier {code!r}", "unknown_modifier"
                        )
                    )
    return problems


@dataclass(slots=True)
class ImportRows:
    """An import's rows, priced at the catalog, ready to insert."""

    orders: list[dict[str, Any]] = field(default_factory=list)
    lines: list[dict[str, Any]] = field(default_factory=list)
    baskets: list[Basket] = field(default_factory=list)


def import_rows(request: ImportRequest, prepared: PreparedCatalog, client_id: str) -> ImportRows:
    """Price past orders at today's catalog into rows (pure; CPU-bound for big imports)."""
    rows = ImportRows()
    for incoming in request.orders:
        order_id = new_order_id()
        created = incoming.created_at
        # In UTC: SQLite keeps the wall time without its offset.
        created = created.replace(tzinfo=UTC) if created.tzinfo is None else created.astimezone(UTC)
        total = 0
        for position, line in enumerate(incoming.items):
            modifiers = sorted(set(line.modifiers))
            unit = price_of(prepared, line.sku, modifiers)
            total += unit * line.quantity
            if total > MAX_MINOR_UNITS:
                raise AmountTooLarge()
            rows.lines.append(
                {
                    "order_id": order_id,
                    "position": position,
                    "sku": line.sku,
                    "name": prepared.item_names[line.sku],
                    "quantity": line.quantity,
                    "modifiers": modifiers,
                    "unit_price_minor": unit,
                    "line_total_minor": unit * line.quantity,
                    "matched_text": None,
                    "confidence": None,
                }
            )
        rows.orders.append(
            {
                "id": order_id,
                "client_id": client_id,
                "customer_id": incoming.customer_id,
                "source": "import",
                "transcript": None,
                "unmatched": [],
                "currency": prepared.currency,
                "total_minor": total,
                "created_at": created,
            }
        )
        rows.baskets.append(
            Basket(
                customer_id=incoming.customer_id,
                created_at=created,
                lines=tuple(
                    BasketLine(line.sku, line.quantity, tuple(sorted(set(line.modifiers))))
                    for line in incoming.items
                ),
            )
        )
    return rows


async def insert_import(db_session: AsyncSession, client_id: str, rows: ImportRows) -> int:
    """Store an import's rows and count them for recommendations (caller commits)."""
    for start in range(0, len(rows.orders), 1000):
        await db_session.execute(insert(Order), rows.orders[start : start + 1000])
    for start in range(0, len(rows.lines), 1000):
        await db_session.execute(insert(OrderLine), rows.lines[start : start + 1000])
    # Counted here and now, so the trigger's queue entries for them go.
    await record_baskets(db_session=db_session, client_id=client_id, baskets=rows.baskets)
    await forget_queued(db_session, [row["id"] for row in rows.orders])
    return len(rows.orders)


async def import_orders(
    *, db_session: AsyncSession, client_id: str, request: ImportRequest, prepared: PreparedCatalog
) -> int:
    """Store past orders priced at today's catalog and count them (caller commits)."""
    return await insert_import(db_session, client_id, import_rows(request, prepared, client_id))
