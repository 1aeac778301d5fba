"""Recommendation route: what else to offer with a basket."""

from datetime import UTC, datetime

from fastapi import APIRouter, Request

from src.auth.dependencies import CurrentClient
from src.database import DbSession
from src.models import Envelope, envelope
from src.voice.catalog.dependencies import CurrentCatalog
from src.voice.recommend import service
from src.voice.recommend.dependencies import RecommendCachesDep
from src.voice.recommend.schemas import RecommendOut, RecommendRequest

router = APIRouter()


@router.post("/recommend_order", summary="What else to offer: together, favourites, popular")
async def recommend_order(
    body: RecommendRequest,
    request: Request,
    client: CurrentClient,
    catalog: CurrentCatalog,
    caches: RecommendCachesDep,
    db_session: DbSession,
) -> Envelope[RecommendOut]:
    """Learned from this client's own stored and imported orders only."""
    history = await service.load_history(
        db_session=db_session,
        caches=caches,
        client_id=client.client_id,
        basket=body.items,
        at=body.at or datetime.now(UTC),
        customer_id=body.customer_id,
        cache_seconds=request.app.state.settings.RECOMMEND_CACHE_SECONDS,
    )
    return envelope(service.answer(history, prepared=catalog, basket=body.items, limit=body.limit))
