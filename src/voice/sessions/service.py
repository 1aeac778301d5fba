"""Order session use cases: start, read, take a turn, confirm, cancel.

Every change to a session happens under its row lock: the first statement of the
transaction is an UPDATE of the session row, which PostgreSQL holds until commit
and which, on SQLite, waits for the one write turn of all workers. So turns of one
session apply one at a time, in the order they reach the database, on any worker
or replica, and each sees the cart its predecessor left.
"""

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from src.config import Settings
from src.exceptions import ServiceUnavailable
from src.models import envelope
from src.platform.observability.metrics import (
    SESSION_ACTIONS,
    SESSION_EVENTS,
    SESSION_TURNS,
)
from src.voice.catalog import service as catalog_service
from src.voice.catalog.service import CatalogCaches, PreparedCatalog, price_of
from src.voice.exceptions import (
    AmountTooLarge,
    CartEmpty,
    CatalogMissing,
    ItemUnavailable,
    SessionClosed,
    SessionNotFound,
    SessionVersionMismatch,
)
from src.voice.money import from_minor
from src.voice.orders import idempotency, store
from src.voice.orders.service import OrderTaken, parse_off_loop_if_long
from src.voice.sessions.cart import Cart, cart_from_json, cart_to_json
from src.voice.sessions.models import OrderSession, SessionTurn
from src.voice.sessions.readback import SpokenLine, readback
from src.voice.sessions.schemas import (
    CartLineOut,
    CartOut,
    SessionCreate,
    SessionOut,
    TurnOut,
    TurnResult,
)
from src.voice.sessions.turns import (
    REVIEW_CONFIDENCE,
    HeardTurn,
    TurnOutcome,
    choose_turn_reading,
    read_turn,
)
from src.voice.speech.engine import AudioInput, Transcript
from src.voice.speech.service import SpeechService, transcribe_for_catalog

OPEN, CONFIRMED, CANCELLED, EXPIRED = "open", "confirmed", "cancelled", "expired"
# Below this recogniser confidence in the reading taken, a spoken turn needs review
# (see docs/SESSIONS.md for how it was set).
HEARD_REVIEW_CONFIDENCE = 0.5


@dataclass(slots=True)
class SessionRow:
    """A session's row as plain data (read and written with Core statements)."""

    id: str
    client_id: str
    customer_id: str | None
    channel: str
    status: str
    version: int
    cart: dict[str, Any]
    readback: str
    needs_review: bool
    order_id: str | None
    created_at: datetime
    expires_at: datetime


_SESSIONS = cast(Table, OrderSession.__table__)
_COLUMNS = [_SESSIONS.c[f.name] for f in fields(SessionRow)]
# The lock and the read in one statement: the UPDATE takes the row lock (PostgreSQL)
# or the write turn (SQLite) and RETURNING hands the row back.
_LOCK = (
    update(_SESSIONS)
    .where(_SESSIONS.c.id == bindparam("sid"), _SESSIONS.c.client_id == bindparam("cid"))
    .values(version=_SESSIONS.c.version)
    .returning(*_COLUMNS)
)
_READ = select(*_COLUMNS).where(
    _SESSIONS.c.id == bindparam("sid"), _SESSIONS.c.client_id == bindparam("cid")
)
_SAVE = (
    update(_SESSIONS)
    .where(_SESSIONS.c.id == bindparam("sid"))
    .values(
        status=bindparam("status"),
        version=bindparam("version"),
        cart=bindparam("cart", type_=_SESSIONS.c.cart.type),
        readback=bindparam("readback"),
        needs_review=bindparam("needs_review"),
        order_id=bindparam("order_id"),
        expires_at=bindparam("expires_at", type_=_SESSIONS.c.expires_at.type),
    )
)
_INSERT_TURN = insert(cast(Table, SessionTurn.__table__))


async def _save(db_session: AsyncSession, row: SessionRow) -> None:
    await db_session.execute(
        _SAVE,
        {
            "sid": row.id,
            "status": row.status,
            "version": row.version,
            "cart": row.cart,
            "readback": row.readback,
            "needs_review": row.needs_review,
            "order_id": row.order_id,
            "expires_at": row.expires_at,
        },
    )


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    # SQLite gives back naive datetimes; they were stored in UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# --- the cart as stored and shown ------------------------------------------------------


def _priced_view(cart: Cart, prepared: PreparedCatalog) -> dict[str, Any]:
    """The cart's lines with names and prices at `prepared`, for the session row."""
    lines = []
    total = 0
    for line in cart.lines:
        known = line.sku in prepared.item_prices and all(
            m in prepared.modifier_prices for m in line.modifiers
        )
        unit = price_of(prepared, line.sku, line.modifiers) if known else 0
        total += unit * line.quantity
        lines.append(
            {
                "line_id": line.line_id,
                "sku": line.sku,
                "name": prepared.item_names.get(line.sku, line.sku),
                "quantity": line.quantity,
                "modifiers": list(line.modifiers),
                "modifier_names": [
                    [
                        entry.name if (entry := prepared.index.modifiers.get(m)) else m,
                        entry.group if entry else None,
                    ]
                    for m in line.modifiers
                ],
                "unit_price_minor": unit,
                "confidence": round(line.confidence, 2),
            }
        )
    if total > store.MAX_MINOR_UNITS:
        raise AmountTooLarge()
    return {"lines": lines, "total_minor": total, "currency": prepared.currency}


def _readback(view: dict[str, Any], sold_out: Sequence[str]) -> str:
    currency = view["currency"]
    spoken = [
        SpokenLine(
            line["quantity"],
            line["name"],
            [(name, group) for name, group in line["modifier_names"]],
        )
        for line in view["lines"]
    ]
    return readback(spoken, format(from_minor(view["total_minor"], currency), "f"), sold_out)


def session_out(row: SessionRow, *, now: datetime | None = None) -> SessionOut:
    """The API shape of a session (expired when its time ran out, whatever the row says)."""
    view = row.cart["view"]
    currency = view["currency"]
    status = row.status
    if status == OPEN and _aware(row.expires_at) <= (now or _now()):
        status = EXPIRED
    return SessionOut(
        session_id=row.id,
        status=status,
        version=row.version,
        customer_id=row.customer_id,
        channel=row.channel,
        cart=CartOut(
            lines=[
                CartLineOut(
                    line_id=line["line_id"],
                    sku=line["sku"],
                    name=line["name"],
                    quantity=line["quantity"],
                    modifiers=line["modifiers"],
                    unit_price=from_minor(line["unit_price_minor"], currency),
                    line_total=from_minor(line["unit_price_minor"] * line["quantity"], currency),
                    confidence=line["confidence"],
                    modifier_names=[name for name, _group in line["modifier_names"]],
                    needs_review=line["confidence"] < REVIEW_CONFIDENCE,
                )
                for line in view["lines"]
            ],
            total=from_minor(view["total_minor"], currency),
            currency=currency,
        ),
        readback=row.readback,
        needs_review=row.needs_review,
        order_id=row.order_id,
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


# --- use cases ------------------------------------------------------------------------


async def start_session(
    *,
    db_session: AsyncSession,
    settings: Settings,
    client_id: str,
    body: SessionCreate,
    catalog: PreparedCatalog,
) -> SessionOut:
    """Open a session with an empty cart (version 1)."""
    now = _now()
    view = _priced_view(Cart(), catalog)
    row = SessionRow(
        id=f"ses_{uuid.uuid4().hex}",
        client_id=client_id,
        customer_id=body.customer_id,
        channel=body.channel,
        status=OPEN,
        version=1,
        cart={"state": cart_to_json(Cart()), "view": view},
        readback=_readback(view, ()),
        needs_review=False,
        order_id=None,
        created_at=now,
        expires_at=now + timedelta(seconds=settings.SESSION_TTL_SECONDS),
    )
    await db_session.execute(insert(_SESSIONS).values(**asdict(row)))
    await db_session.commit()
    SESSION_EVENTS.labels(event="started").inc()
    return session_out(row, now=now)


async def read_session(*, db_session: AsyncSession, client_id: str, session_id: str) -> SessionOut:
    """The client's session; another client's is NOT_FOUND like a missing one."""
    found = (await db_session.execute(_READ, {"sid": session_id, "cid": client_id})).first()
    if found is None:
        raise SessionNotFound()
    return session_out(SessionRow(**found._mapping))


async def _lock_open(
    db_session: AsyncSession, client_id: str, session_id: str, if_match: int | None
) -> SessionRow:
    """Take the session's row lock and return the row, still open and at `if_match`.

    An open session found past its time is marked expired (and counted) here.
    """
    locked = (await db_session.execute(_LOCK, {"sid": session_id, "cid": client_id})).first()
    if locked is None:
        await db_session.rollback()
        raise SessionNotFound()
    row = SessionRow(**locked._mapping)
    if row.status == OPEN and _aware(row.expires_at) <= _now():
        row.status = EXPIRED
        await _save(db_session, row)
        await db_session.commit()
        SESSION_EVENTS.labels(event="expired").inc()
        raise SessionClosed(EXPIRED)
    if row.status != OPEN:
        status = row.status
        await db_session.rollback()
        raise SessionClosed(status)
    if if_match is not None and if_match != row.version:
        version = row.version
        await db_session.rollback()
        raise SessionVersionMismatch(version)
    return row


async def _read_words(
    text: str, cart: Cart, catalog: PreparedCatalog, *, turn_id: str, spoken: bool
) -> TurnOutcome:
    read = partial(
        read_turn,
        text,
        cart,
        catalog.index,
        turn_id=turn_id,
        unavailable=catalog.unavailable,
        spoken=spoken,
    )
    return await parse_off_loop_if_long(read, (text,), catalog)


async def _peek_cart(db_session: AsyncSession, client_id: str, session_id: str) -> Cart:
    """The session's cart as it is now, without the lock (404 if there is no such session)."""
    state = await db_session.scalar(
        select(OrderSession.cart).where(
            OrderSession.id == session_id, OrderSession.client_id == client_id
        )
    )
    if state is None:
        raise SessionNotFound()
    return cart_from_json(state["state"])


async def _read_heard(
    heard: Transcript, cart: Cart, catalog: PreparedCatalog, *, turn_id: str
) -> tuple[str, TurnOutcome, bool]:
    """The recogniser's reading that reads best against the cart, what it does, and
    whether the recogniser was sure enough of it (else the turn needs review)."""
    readings = (heard.text, *heard.alternatives)
    choose = partial(
        choose_turn_reading,
        readings,
        cart,
        catalog.index,
        turn_id=turn_id,
        unavailable=catalog.unavailable,
    )
    text, outcome = await parse_off_loop_if_long(choose, readings, catalog)
    confidences = dict(zip(readings, heard.confidences, strict=False))
    sure = confidences.get(text, 1.0) >= HEARD_REVIEW_CONFIDENCE
    return text, outcome, sure


async def take_turn(
    *,
    db_session: AsyncSession,
    settings: Settings,
    client_id: str,
    session_id: str,
    text: str | None,
    audio: AudioInput | None,
    speech: SpeechService | None,
    catalog: PreparedCatalog,
    if_match: int | None,
    request_id: str | None,
) -> TurnResult:
    """Read one utterance against the session's cart and keep the result and the turn."""
    heard: Transcript | None = None
    if audio is not None:
        assert speech is not None, "the router passes the speech service with audio"
        # Heard before the lock is taken (a decode takes a good part of a second),
        # against the cart as it is now; read again under the lock.
        before = await _peek_cart(db_session, client_id, session_id)
        turn = HeardTurn(before, catalog.index, catalog.unavailable)
        heard = await transcribe_for_catalog(
            speech,
            audio,
            catalog,
            db_session,
            client=client_id,
            accept=turn.accepts,
            challenge=turn.recounts,
        )
    else:
        assert text is not None, "a turn is text or audio"
    row = await _lock_open(db_session, client_id, session_id, if_match)
    turn_id = f"trn_{uuid.uuid4().hex}"
    cart = cart_from_json(row.cart["state"])
    if heard is not None:
        text, outcome, sure = await _read_heard(heard, cart, catalog, turn_id=turn_id)
        source = "audio"
    else:
        assert text is not None
        source, sure = "text", True
        outcome = await _read_words(text, cart, catalog, turn_id=turn_id, spoken=False)
    turn_review = outcome.needs_review or not sure
    view = _priced_view(outcome.cart, catalog)
    now = _now()
    row.version += 1
    row.cart = {"state": cart_to_json(outcome.cart), "view": view}
    row.readback = _readback(view, outcome.unavailable)
    row.needs_review = turn_review or any(
        line.confidence < REVIEW_CONFIDENCE for line in outcome.cart.lines
    )
    row.expires_at = now + timedelta(seconds=settings.SESSION_TTL_SECONDS)
    actions = [action.as_dict() for action in outcome.actions]
    await _save(db_session, row)
    await db_session.execute(
        _INSERT_TURN,
        {
            "id": turn_id,
            "session_id": row.id,
            "client_id": client_id,
            "position": row.version,
            "source": source,
            "transcript": text,
            "actions": actions,
            "unmatched": list(outcome.unmatched),
            "needs_review": turn_review,
            "done": outcome.done,
            "request_id": request_id,
            "created_at": now,
        },
    )
    result = TurnResult(
        session=session_out(row, now=now),
        turn=TurnOut(
            turn_id=turn_id,
            transcript=text,
            actions=actions,
            unmatched=list(outcome.unmatched),
            unavailable=list(outcome.unavailable),
            needs_review=turn_review,
            done=outcome.done,
        ),
    )
    await db_session.commit()
    for action in outcome.actions:
        SESSION_ACTIONS.labels(op=action.op).inc()
    SESSION_TURNS.labels(review="yes" if turn_review else "no").inc()
    return result


async def cancel_session(
    *, db_session: AsyncSession, client_id: str, session_id: str
) -> SessionOut:
    """Close an open session without an order."""
    row = await _lock_open(db_session, client_id, session_id, None)
    row.status = CANCELLED
    row.version += 1
    out = session_out(row)
    await _save(db_session, row)
    await db_session.commit()
    SESSION_EVENTS.labels(event="cancelled").inc()
    return out


# An order made from a session is stored again when its catalog was replaced meanwhile.
CONFIRM_ATTEMPTS = 3


def _order_from_cart(
    row: SessionRow, cart: Cart, catalog: PreparedCatalog, transcripts: Sequence[str]
) -> store.PricedOrder:
    """The cart as an unsaved order at `catalog`'s prices; 409 if a line is sold out."""
    missing = [
        {"line_id": line.line_id, "sku": line.sku, "quantity": line.quantity}
        for line in cart.lines
        if line.sku in catalog.unavailable
        or line.sku not in catalog.item_prices
        or any(m not in catalog.modifier_prices for m in line.modifiers)
    ]
    if missing:
        raise ItemUnavailable(missing)
    lines = []
    for position, line in enumerate(cart.lines):
        unit = price_of(catalog, line.sku, line.modifiers)
        lines.append(
            store.PricedLine(
                position=position,
                sku=line.sku,
                name=catalog.item_names[line.sku],
                quantity=line.quantity,
                modifiers=list(line.modifiers),
                unit_price_minor=unit,
                line_total_minor=unit * line.quantity,
                matched_text=None,
                confidence=round(line.confidence, 2),
            )
        )
    total = sum(line.line_total_minor for line in lines)
    if total > store.MAX_MINOR_UNITS:
        raise AmountTooLarge()
    return store.PricedOrder(
        id=store.new_order_id(),
        client_id=row.client_id,
        customer_id=row.customer_id,
        source="session",
        transcript=" / ".join(transcripts),
        unmatched=[],
        currency=catalog.currency,
        total_minor=total,
        created_at=_now(),
        lines=lines,
        session_id=row.id,
    )


async def confirm_session(
    *,
    db_session: AsyncSession,
    settings: Settings,
    caches: CatalogCaches,
    client_id: str,
    session_id: str,
    idempotency_key: str | None,
    pending_releases: idempotency.PendingReleases | None = None,
) -> OrderTaken:
    """Store the cart as an order through the same path as `/voice/order`."""
    stored = await idempotency.claim_request(
        db_session=db_session,
        settings=settings,
        client_id=client_id,
        key=idempotency_key,
        method="POST",
        path=f"/voice/sessions/{session_id}/confirm",
        body={},
    )
    if stored is not None:
        return OrderTaken(stored.status, stored.body, replayed=True)
    async with idempotency.released_on_failure(
        db_session=db_session, client_id=client_id, key=idempotency_key, pending=pending_releases
    ):
        row = await _lock_open(db_session, client_id, session_id, None)
        cart = cart_from_json(row.cart["state"])
        if not cart.lines:
            raise CartEmpty()
        transcripts = list(
            await db_session.scalars(
                select(SessionTurn.transcript)
                .where(SessionTurn.session_id == row.id)
                .order_by(SessionTurn.position)
            )
        )
        for _ in range(CONFIRM_ATTEMPTS):
            catalog = await catalog_service.get_prepared_catalog(
                db_session=db_session, caches=caches, client_id=client_id
            )
            if catalog is None:
                raise CatalogMissing()
            order = _order_from_cart(row, cart, catalog, transcripts)
            if await store.store_order(db_session, order, catalog_version=catalog.version):
                break
        else:
            raise ServiceUnavailable("the catalog is being replaced; retry")
        row.status = CONFIRMED
        row.order_id = order.id
        row.version += 1
        await _save(db_session, row)
        body = envelope(store.order_out(order), 201).model_dump_json().encode()
        if idempotency_key is not None:
            await idempotency.complete(
                db_session=db_session, client_id=client_id, key=idempotency_key, status=201,
                body=body,
            )  # fmt: skip
        await db_session.commit()
    SESSION_EVENTS.labels(event="confirmed").inc()
    return OrderTaken(201, body)
