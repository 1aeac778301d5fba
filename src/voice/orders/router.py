"""Order routes: take an order, read one, list them, import history."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from src.auth.dependencies import CurrentClient
from src.database import DbSession
from src.models import Envelope, envelope, error_responses
from src.voice.catalog.dependencies import CatalogCachesDep, CurrentCatalog, LastSeenCatalog
from src.voice.orders import service
from src.voice.orders.dependencies import IdempotencyKeyHeader, OrderBody
from src.voice.orders.schemas import ImportRequest, ImportResult, OrderOut, OrderPage, OrderRequest
from src.voice.speech.dependencies import speech_service
from src.voice.speech.intake import audio_from_base64, utterance_request_body

router = APIRouter()


@router.post(
    "/order",
    status_code=201,
    response_model=Envelope[OrderOut],
    summary="Parse a spoken or typed order, price it and store it",
    openapi_extra={"requestBody": utterance_request_body(OrderRequest)},
    responses={
        409: {"description": "IDEMPOTENCY_KEY_REUSED or IDEMPOTENCY_KEY_IN_USE"},
        415: {"description": "UNSUPPORTED_MEDIA_TYPE: content type or audio format"},
        422: {
            "description": "VALIDATION_ERROR (also: no catalog yet), AUDIO_INVALID or "
            "NOTHING_ORDERED (data.transcript, data.unmatched)"
        },
        503: {"description": "SERVICE_BUSY (with Retry-After): speech queue full"},
    },
)
async def create_order(
    body: OrderBody,
    request: Request,
    client: CurrentClient,
    catalog: LastSeenCatalog,
    caches: CatalogCachesDep,
    db_session: DbSession,
    key: IdempotencyKeyHeader,
) -> Response:
    """Returns 201 with the stored order. With `Idempotency-Key`, a retry returns the
    first response byte for byte and creates nothing."""
    taken = await service.take_order(
        db_session=db_session,
        settings=request.app.state.settings,
        caches=caches,
        client_id=client.client_id,
        request=body,
        audio=audio_from_base64(body.audio, body) if body.audio is not None else None,
        catalog=catalog,
        # 503 without a speech service, but only an audio order needs one.
        speech=await speech_service(request) if body.audio is not None else None,
        idempotency_key=key,
        pending_releases=getattr(request.state, "idempotency_releases", None),
    )
    headers = {"Idempotent-Replayed": "true"} if taken.replayed else None
    # Bytes, so that a replay is byte-identical to the first answer.
    return Response(taken.body, taken.status, headers, media_type="application/json")


@router.get("/orders/{order_id}", summary="One stored order", responses=error_responses(404))
async def get_order(
    order_id: str, client: CurrentClient, db_session: DbSession
) -> Envelope[OrderOut]:
    order = await service.read_order(
        db_session=db_session, client_id=client.client_id, order_id=order_id
    )
    return envelope(order)


@router.get("/orders", summary="Stored orders, newest first")
async def list_orders(
    client: CurrentClient,
    db_session: DbSession,
    customer_id: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Envelope[OrderPage]:
    """Keyset pagination: pass `next_cursor` back as `cursor` for the next page."""
    page = await service.list_orders(
        db_session=db_session,
        client_id=client.client_id,
        customer_id=customer_id,
        limit=limit,
        cursor=cursor,
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
    result = await service.import_history(
        db_session=db_session, client_id=client.client_id, request=body, catalog=catalog
    )
    return envelope(result, 201)
