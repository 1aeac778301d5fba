"""Voice routes. Thin: parse the request, call a service, wrap the answer."""

from datetime import UTC, datetime
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from src.auth.dependencies import CurrentClient, guarded_client
from src.database import DbSession, release_connection, use_autocommit
from src.exceptions import NotFound, ServiceUnavailable, UnprocessableEntity, validation_error
from src.models import Envelope, envelope, error_responses
from src.platform.observability.metrics import IDEMPOTENT_REPLAYS
from src.voice.catalog import service as catalog_service
from src.voice.catalog.schemas import CatalogIn, CatalogOut, CatalogSaved
from src.voice.catalog.service import PreparedCatalog
from src.voice.dependencies import (
    CurrentCatalog,
    IdempotencyKeyHeader,
    LastSeenCatalog,
    OptionalCatalog,
    Speech,
    speech_engine,
    valid_prepared_catalog,
)
from src.voice.orders import idempotency
from src.voice.orders import service as order_service
from src.voice.orders.parser import reads_as_order
from src.voice.orders.schemas import ImportRequest, ImportResult, OrderOut, OrderPage, OrderRequest
from src.voice.recommend import service as recommendation_service
from src.voice.recommend.schemas import RecommendOut, RecommendRequest
from src.voice.speech.engine import AudioInput, SpeechEngine, Transcript
from src.voice.speech.intake import SPEECH_REQUEST_BODY, audio_from_base64, read_speech_request
from src.voice.speech.schemas import SpeechOut, SpeechSegment

router = APIRouter()

_JSON = "application/json"
# An order parses again when its catalog was replaced meanwhile; this often in a row
# only if replacements never stop.
_ORDER_ATTEMPTS = 3


@router.put("/catalog", summary="Replace the catalog (atomically)")
async def put_catalog(
    body: CatalogIn, client: CurrentClient, db_session: DbSession
) -> Envelope[CatalogSaved]:
    """Replaces the caller's whole catalog; orders are parsed against the new version."""
    saved = await catalog_service.replace_catalog(
        db_session=db_session, client_id=client.client_id, catalog=body
    )
    return envelope(saved)


@router.get(
    "/catalog",
    summary="The current catalog",
    response_model=Envelope[CatalogOut],
    responses={404: {"description": "none yet"}},
)
async def get_catalog(request: Request) -> Response:
    """The caller's catalog as sent, with its version.

    A replacement answered by another worker shows here within CATALOG_CACHE_SECONDS;
    orders always use the newest version.
    """
    client = guarded_client(request)  # the router's api_guard: the hottest read
    body = await catalog_service.read_catalog_body(
        sessionmaker=request.state.sessionmaker,
        client_id=client.client_id,
        max_age=request.app.state.settings.CATALOG_CACHE_SECONDS,
    )
    if body is None:
        raise NotFound()
    return Response(body, media_type=_JSON)


async def _transcribe(
    engine: SpeechEngine,
    audio: AudioInput,
    catalog: PreparedCatalog | None,
    db_session: AsyncSession,
    *,
    as_order: bool = False,
) -> Transcript:
    # A decode takes a good part of a second: no database connection held meanwhile.
    await release_connection(db_session)
    # Biased toward what this client sells; hot words are fitted once per catalog version.
    hotwords = engine.hotwords_for(catalog.speech_phrases) if catalog is not None else None
    # An order is heard again, slowed, when its best reading does not read as one.
    accept = partial(reads_as_order, index=catalog.index) if as_order and catalog else None
    return await engine.transcribe(audio, hotwords=hotwords, accept=accept)


@router.post(
    "/speech",
    summary="Transcribe speech, biased toward the caller's catalog",
    openapi_extra={"requestBody": SPEECH_REQUEST_BODY},
    responses={
        415: {"description": "UNSUPPORTED_MEDIA_TYPE: content type or audio format"},
        422: {"description": "AUDIO_INVALID or VALIDATION_ERROR"},
        503: {"description": "SERVICE_BUSY (with Retry-After) or model not loaded"},
    },
)
async def speech_to_text(
    request: Request, engine: Speech, catalog: OptionalCatalog, db_session: DbSession
) -> Envelope[SpeechOut]:
    """JSON `{"audio": "<base64>", ...}` or multipart with a `file` part."""
    await release_connection(db_session)  # before reading a body that may arrive slowly
    audio = await read_speech_request(request)
    transcript = await _transcribe(engine, audio, catalog, db_session)
    return envelope(
        SpeechOut(
            text=transcript.text,
            language=transcript.language,
            duration=transcript.duration,
            segments=[
                SpeechSegment(start=s.start, end=s.end, text=s.text) for s in transcript.segments
            ],
        )
    )


@router.post(
    "/order",
    status_code=201,
    response_model=Envelope[OrderOut],
    summary="Parse a spoken or typed order, price it and store it",
    responses={
        409: {"description": "IDEMPOTENCY_KEY_REUSED or IDEMPOTENCY_KEY_IN_USE"},
        415: {"description": "UNSUPPORTED_MEDIA_TYPE: audio format"},
        422: {"description": "VALIDATION_ERROR (also: no catalog yet) or AUDIO_INVALID"},
        503: {"description": "SERVICE_BUSY (with Retry-After): speech queue full"},
    },
)
async def create_order(
    body: OrderRequest,
    request: Request,
    client: CurrentClient,
    catalog: LastSeenCatalog,
    db_session: DbSession,
    key: IdempotencyKeyHeader,
) -> Response:
    """Returns 201 with the stored order. With `Idempotency-Key`, a retry returns the
    first response byte for byte and creates nothing."""
    if key is not None:
        stored = await idempotency.claim(
            db_session=db_session,
            client_id=client.client_id,
            key=key,
            request_fingerprint=idempotency.fingerprint(
                "POST", "/voice/order", body.model_dump(mode="json")
            ),
            lock_seconds=request.app.state.settings.IDEMPOTENCY_LOCK_SECONDS,
            ttl_seconds=request.app.state.settings.IDEMPOTENCY_TTL_SECONDS,
        )
        if stored is not None:
            IDEMPOTENT_REPLAYS.inc()
            headers = {"Idempotent-Replayed": "true"}
            return Response(stored.body, stored.status, headers, media_type=_JSON)
    try:
        if body.audio is not None:
            transcript = await _transcribe(
                speech_engine(request),
                audio_from_base64(body.audio, body),
                catalog,
                db_session,
                as_order=True,
            )
            text, alternatives, source = transcript.text, transcript.alternatives, "audio"
        else:
            assert body.text is not None
            text, alternatives, source = body.text, (), "text"
        for _ in range(_ORDER_ATTEMPTS):
            order = order_service.build_order(
                client_id=client.client_id,
                customer_id=body.customer_id,
                transcript=text,
                source=source,
                prepared=catalog,
                alternatives=alternatives,
            )
            payload = envelope(order_service.order_out(order), 201).model_dump_json().encode()
            if key is None:
                # Stored in one statement on PostgreSQL (store_order): it needs no
                # transaction around it unless the idempotency key's rows share it.
                await use_autocommit(db_session)
            if await order_service.store_order(db_session, order, catalog_version=catalog.version):
                break
            # Replaced since this process saw it (by another worker): parse the same
            # words again against the current catalog.
            catalog = await valid_prepared_catalog(client, db_session)
        else:
            raise ServiceUnavailable("the catalog is being replaced; retry")
        if key is not None:
            await idempotency.complete(
                db_session=db_session, client_id=client.client_id, key=key, status=201, body=payload
            )
        await db_session.commit()
    except BaseException:
        if key is not None:
            await idempotency.release_quietly(
                db_session=db_session,
                client_id=client.client_id,
                key=key,
                pending=getattr(request.state, "idempotency_releases", None),
            )
        raise
    # Returned as bytes so that a replay is byte-identical to this first answer.
    return Response(payload, 201, media_type=_JSON)


@router.get("/orders/{order_id}", summary="One stored order", responses=error_responses(404))
async def get_order(
    order_id: str, client: CurrentClient, db_session: DbSession
) -> Envelope[OrderOut]:
    order = await order_service.get_order(
        db_session=db_session, client_id=client.client_id, order_id=order_id
    )
    return envelope(order_service.order_out(order))


@router.get("/orders", summary="Stored orders, newest first")
async def list_orders(
    client: CurrentClient,
    db_session: DbSession,
    customer_id: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Envelope[OrderPage]:
    """Keyset pagination: pass `next_cursor` back as `cursor` for the next page."""
    decoded = order_service.decode_cursor(cursor) if cursor else None
    if cursor and decoded is None:
        raise UnprocessableEntity(errors=[validation_error(["query", "cursor"], "invalid cursor")])
    page = await order_service.list_orders(
        db_session=db_session,
        client_id=client.client_id,
        customer_id=customer_id,
        limit=limit,
        cursor=decoded,
    )
    return envelope(page)


@router.post(
    "/orders/import",
    status_code=201,
    summary="Bulk-import past orders (all or nothing) to learn recommendations from",
    responses={422: {"description": "VALIDATION_ERROR listing every unknown SKU or modifier"}},
)
async def import_orders(
    body: ImportRequest, client: CurrentClient, catalog: CurrentCatalog, db_session: DbSession
) -> Envelope[ImportResult]:
    """Up to 10,000 orders a call, priced at the current catalog; nothing is stored
    unless every order is valid."""
    problems = order_service.import_problems(body, catalog)
    if problems:
        raise UnprocessableEntity(errors=problems[: order_service.MAX_IMPORT_PROBLEMS])
    imported = await order_service.import_orders(
        db_session=db_session, client_id=client.client_id, request=body, prepared=catalog
    )
    await db_session.commit()
    return envelope(ImportResult(imported=imported), 201)


@router.post("/recommend_order", summary="What else to offer: together, favourites, popular")
async def recommend_order(
    body: RecommendRequest,
    request: Request,
    client: CurrentClient,
    catalog: CurrentCatalog,
    db_session: DbSession,
) -> Envelope[RecommendOut]:
    """Learned from this client's own stored and imported orders only."""
    history = await recommendation_service.load_history(
        db_session=db_session,
        client_id=client.client_id,
        basket=body.items,
        at=body.at or datetime.now(UTC),
        customer_id=body.customer_id,
        cache_seconds=request.app.state.settings.RECOMMEND_CACHE_SECONDS,
    )
    return envelope(
        recommendation_service.answer(
            history, prepared=catalog, basket=body.items, limit=body.limit
        )
    )
