"""Order session routes: start, read, take turns, confirm, cancel."""

from fastapi import APIRouter, Request, Response

from src.auth.dependencies import CurrentClient
from src.database import DbSession
from src.models import Envelope, envelope, error_responses
from src.platform.http.context import request_id_var
from src.voice.catalog.dependencies import CatalogCachesDep, RecentCatalog
from src.voice.orders.dependencies import IdempotencyKeyHeader
from src.voice.orders.schemas import OrderOut
from src.voice.sessions import service
from src.voice.sessions.dependencies import IfMatchVersion, SessionId, TurnBody
from src.voice.sessions.schemas import SessionCreate, SessionOut, TurnRequest, TurnResult
from src.voice.speech.dependencies import speech_service
from src.voice.speech.intake import audio_from_base64, utterance_request_body

router = APIRouter()


def _etag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"{version}"'


@router.post(
    "/sessions",
    status_code=201,
    summary="Start an order session (an empty cart)",
    responses=error_responses(422),
)
async def start_session(
    body: SessionCreate,
    request: Request,
    response: Response,
    client: CurrentClient,
    catalog: RecentCatalog,
    db_session: DbSession,
) -> Envelope[SessionOut]:
    """The customer's turns build the cart; confirm stores it as an order."""
    session = await service.start_session(
        db_session=db_session,
        settings=request.app.state.settings,
        client_id=client.client_id,
        body=body,
        catalog=catalog,
    )
    _etag(response, session.version)
    return envelope(session, 201)


@router.get("/sessions/{session_id}", summary="An order session", responses=error_responses(404))
async def get_session(
    session_id: SessionId, response: Response, client: CurrentClient, db_session: DbSession
) -> Envelope[SessionOut]:
    session = await service.read_session(
        db_session=db_session, client_id=client.client_id, session_id=session_id
    )
    _etag(response, session.version)
    return envelope(session)


@router.post(
    "/sessions/{session_id}/turns",
    summary="One utterance of the customer, applied to the cart",
    openapi_extra={"requestBody": utterance_request_body(TurnRequest)},
    responses=error_responses(404, 409, 412, 415, 422, 503),
)
async def take_turn(
    session_id: SessionId,
    body: TurnBody,
    request: Request,
    response: Response,
    client: CurrentClient,
    catalog: RecentCatalog,
    db_session: DbSession,
    if_match: IfMatchVersion,
) -> Envelope[TurnResult]:
    """Turns of one session apply one at a time in arrival order, on any worker.
    With `If-Match: "<version>"`, a turn meant for an older cart is 412."""
    result = await service.take_turn(
        db_session=db_session,
        settings=request.app.state.settings,
        client_id=client.client_id,
        session_id=session_id,
        text=body.text,
        audio=audio_from_base64(body.audio, body) if body.audio is not None else None,
        speech=await speech_service(request) if body.audio is not None else None,
        catalog=catalog,
        if_match=if_match,
        request_id=request_id_var.get(),
    )
    _etag(response, result.session.version)
    return envelope(result)


@router.post(
    "/sessions/{session_id}/confirm",
    status_code=201,
    response_model=Envelope[OrderOut],
    summary="Store the cart as an order",
    responses=error_responses(404, 409, 422),
)
async def confirm_session(
    session_id: SessionId,
    request: Request,
    client: CurrentClient,
    caches: CatalogCachesDep,
    db_session: DbSession,
    key: IdempotencyKeyHeader,
) -> Response:
    """201 with the order, shaped as `/voice/order` answers, plus `session_id`. An empty
    cart is 422 CART_EMPTY; a sold-out line is 409 ITEM_UNAVAILABLE. With
    `Idempotency-Key`, a retry returns the first answer byte for byte."""
    taken = await service.confirm_session(
        db_session=db_session,
        settings=request.app.state.settings,
        caches=caches,
        client_id=client.client_id,
        session_id=session_id,
        idempotency_key=key,
        pending_releases=getattr(request.state, "idempotency_releases", None),
    )
    headers = {"Idempotent-Replayed": "true"} if taken.replayed else None
    return Response(taken.body, taken.status, headers, media_type="application/json")


@router.delete(
    "/sessions/{session_id}", summary="Cancel an order session", responses=error_responses(404, 409)
)
async def cancel_session(
    session_id: SessionId, response: Response, client: CurrentClient, db_session: DbSession
) -> Envelope[SessionOut]:
    session = await service.cancel_session(
        db_session=db_session, client_id=client.client_id, session_id=session_id
    )
    _etag(response, session.version)
    return envelope(session)
