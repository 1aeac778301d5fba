"""Order use cases: take an order (idempotently), read and list orders, import history.

Each use case owns its transaction: it commits what it wrote or, on any failure,
leaves nothing behind (and releases the Idempotency-Key it claimed).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import anyio.to_thread
from sqlalchemy.ext.asyncio import AsyncSession

from src.config import Settings
from src.database import use_autocommit
from src.exceptions import ServiceUnavailable
from src.models import envelope
from src.voice.catalog import service as catalog_service
from src.voice.catalog.schemas import CatalogSaved
from src.voice.catalog.service import CatalogCaches, PreparedCatalog
from src.voice.exceptions import CatalogMissing, ImportRejected, InvalidCursor, NothingOrdered
from src.voice.orders import idempotency, store
from src.voice.orders.history_csv import Transaction, as_import_orders, catalog_for
from src.voice.orders.respelling import HeardOrder
from src.voice.orders.schemas import ImportRequest, ImportResult, OrderOut, OrderPage, OrderRequest
from src.voice.speech.engine import AudioInput
from src.voice.speech.service import SpeechService, transcribe_for_catalog

T = TypeVar("T")

# An order parses again when its catalog was replaced meanwhile; this often in a row
# only if replacements never stop.
ORDER_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class OrderTaken:
    """The response body of a taken order (byte-identical on replays), and whether it
    is a replay of an earlier answer to the same Idempotency-Key."""

    status: int
    body: bytes
    replayed: bool = False


async def take_order(
    *,
    db_session: AsyncSession,
    settings: Settings,
    caches: CatalogCaches,
    client_id: str,
    request: OrderRequest,
    audio: AudioInput | None,
    catalog: PreparedCatalog,
    speech: SpeechService | None,
    idempotency_key: str | None,
    pending_releases: idempotency.PendingReleases | None = None,
) -> OrderTaken:
    """Transcribe (for audio), parse against the catalog, price and store one order.

    With an `idempotency_key`, a retry returns the first answer byte for byte and
    creates nothing. `catalog` may be the version this process saw last: the order is
    stored only if it is still current, and parsed again against the current one if not.
    """
    stored = await idempotency.claim_request(
        db_session=db_session,
        settings=settings,
        client_id=client_id,
        key=idempotency_key,
        method="POST",
        path="/voice/order",
        body=request.model_dump(mode="json"),
    )
    if stored is not None:
        return OrderTaken(stored.status, stored.body, replayed=True)
    async with idempotency.released_on_failure(
        db_session=db_session, client_id=client_id, key=idempotency_key, pending=pending_releases
    ):
        if audio is not None:
            assert speech is not None, "the router passes the speech service with audio"
            # An order is heard again, slowed, when no reading reads as one; then
            # the catalog's respellings of the words left unread are weighed, and
            # counts for items the best reading orders with none said.
            heard = HeardOrder(catalog.index)
            transcript = await transcribe_for_catalog(
                speech,
                audio,
                catalog,
                db_session,
                client=client_id,
                accept=heard.accepts,
                respell=heard.respellings,
                challenge=heard.recounts,
            )
            text, alternatives, source = transcript.text, transcript.alternatives, "audio"
            confidences = transcript.confidences
        else:
            assert request.text is not None
            text, alternatives, source, confidences = request.text, (), "text", ()
        for _ in range(ORDER_ATTEMPTS):
            order = await _build_order(
                client_id=client_id,
                customer_id=request.customer_id,
                transcript=text,
                source=source,
                prepared=catalog,
                alternatives=alternatives,
                confidences=confidences,
            )
            if not order.lines:
                # Off-menu words, silence, or a recogniser's "Thank you." in noise.
                raise NothingOrdered(order.transcript, order.unmatched)
            body = envelope(store.order_out(order), 201).model_dump_json().encode()
            if idempotency_key is None:
                # Stored in one statement on PostgreSQL (store_order): it needs no
                # transaction around it unless the idempotency key's rows share it.
                await use_autocommit(db_session)
            if await store.store_order(db_session, order, catalog_version=catalog.version):
                break
            # Replaced since this process saw it (by another worker): parse the same
            # words again against the current catalog.
            current = await catalog_service.get_prepared_catalog(
                db_session=db_session, caches=caches, client_id=client_id
            )
            if current is None:
                raise CatalogMissing()
            catalog = current
        else:
            raise ServiceUnavailable("the catalog is being replaced; retry")
        if idempotency_key is not None:
            await idempotency.complete(
                db_session=db_session, client_id=client_id, key=idempotency_key, status=201,
                body=body,
            )  # fmt: skip
        await db_session.commit()
    return OrderTaken(201, body)


# Utterances whose words times the catalog's phrases pass this are parsed in a worker
# thread: parsing is bounded (parser.FUZZY_COMPARISON_BUDGET) but can take a good part
# of a second against a big catalog, and the event loop serves every tenant meanwhile.
PARSE_INLINE_WORK = 50_000


async def _build_order(
    *,
    client_id: str,
    customer_id: str | None,
    transcript: str,
    source: str,
    prepared: PreparedCatalog,
    alternatives: Sequence[str],
    confidences: Sequence[float],
) -> store.PricedOrder:
    build = partial(
        store.build_order,
        client_id=client_id,
        customer_id=customer_id,
        transcript=transcript,
        source=source,
        prepared=prepared,
        alternatives=alternatives,
        confidences=confidences,
    )
    return await parse_off_loop_if_long(build, (transcript, *alternatives), prepared)


async def parse_off_loop_if_long(
    parse: Callable[[], T], readings: Sequence[str], prepared: PreparedCatalog
) -> T:
    """`parse()` on the event loop when the readings' words times the catalog's phrases
    stay under PARSE_INLINE_WORK, else in a worker thread."""
    words = sum(len(reading.split()) for reading in readings)
    if words * len(prepared.index.phrases) <= PARSE_INLINE_WORK:
        return parse()
    return await anyio.to_thread.run_sync(parse)


async def read_order(*, db_session: AsyncSession, client_id: str, order_id: str) -> OrderOut:
    """The client's order; another client's order is NOT_FOUND like a missing one."""
    order = await store.get_order(db_session=db_session, client_id=client_id, order_id=order_id)
    return store.order_out(order)


async def list_orders(
    *,
    db_session: AsyncSession,
    client_id: str,
    customer_id: str | None,
    limit: int,
    cursor: str | None,
) -> OrderPage:
    """Newest first, `limit` per page; `cursor` is a page's `next_cursor`, and
    InvalidCursor is raised for anything else."""
    after = store.decode_cursor(cursor) if cursor else None
    if cursor and after is None:
        raise InvalidCursor()
    return await store.list_orders(
        db_session=db_session, client_id=client_id, customer_id=customer_id, limit=limit,
        cursor=after,
    )  # fmt: skip


async def import_history(
    *,
    db_session: AsyncSession,
    client_id: str,
    request: ImportRequest,
    catalog: PreparedCatalog,
) -> ImportResult:
    """Store past orders priced at the current catalog, all or nothing, and commit.

    Raises ImportRejected listing every unknown SKU or modifier; nothing is stored then.
    """
    # Checking and pricing 10,000 orders takes a while: off the event loop.
    rows = await anyio.to_thread.run_sync(_checked_import_rows, request, catalog, client_id)
    imported = await store.insert_import(db_session, client_id, rows)
    await db_session.commit()
    return ImportResult(imported=imported)


def _checked_import_rows(
    request: ImportRequest, catalog: PreparedCatalog, client_id: str
) -> store.ImportRows:
    problems = store.import_problems(request, catalog)
    if problems:
        raise ImportRejected(problems[: store.MAX_IMPORT_PROBLEMS])
    return store.import_rows(request, catalog, client_id)


# Orders converted and inserted per batch: a POS export can hold years of sales.
HISTORY_BATCH = 10_000


async def import_pos_history(
    *, db_session: AsyncSession, client_id: str, transactions: Sequence[Transaction], currency: str
) -> tuple[CatalogSaved, int]:
    """Replace the client's catalog with every item sold and import each transaction as
    a past order: all in one transaction, so a failure leaves the previous catalog
    and no orders. Returns the saved catalog and the number of orders imported.

    Raises pydantic's ValidationError for a transaction no order can hold (more than
    200 distinct items, or one item more than 1,000 times).
    """
    caches = CatalogCaches()  # this process serves no requests: nothing to keep
    try:
        saved = await catalog_service.replace_catalog(
            db_session=db_session,
            caches=caches,
            client_id=client_id,
            catalog=catalog_for(transactions, currency),
            commit=False,
        )
        prepared = await catalog_service.get_prepared_catalog(
            db_session=db_session, caches=caches, client_id=client_id
        )
        assert prepared is not None  # written above, in this transaction
        imported = 0
        for start in range(0, len(transactions), HISTORY_BATCH):
            batch = ImportRequest(
                orders=as_import_orders(transactions[start : start + HISTORY_BATCH])
            )
            imported += await store.import_orders(
                db_session=db_session, client_id=client_id, request=batch, prepared=prepared
            )
        await db_session.commit()
    except BaseException:
        await db_session.rollback()
        raise
    return saved, imported
