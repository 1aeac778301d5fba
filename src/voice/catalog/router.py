"""Catalog routes: replace the caller's catalog, read it back."""

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from src.auth.dependencies import CurrentClient, guarded_client
from src.database import DbSession
from src.exceptions import NotFound
from src.models import Envelope, envelope, error_responses
from src.voice.catalog import service
from src.voice.catalog.dependencies import CatalogCachesDep, catalog_caches
from src.voice.catalog.schemas import (
    AvailabilityIn,
    AvailabilitySaved,
    CatalogIn,
    CatalogOut,
    CatalogSaved,
)

router = APIRouter()


def _render(view: CatalogOut) -> bytes:
    return envelope(view).model_dump_json().encode()


@router.put("/catalog", summary="Replace the catalog (atomically)")
async def put_catalog(
    body: CatalogIn, client: CurrentClient, db_session: DbSession, caches: CatalogCachesDep
) -> Envelope[CatalogSaved]:
    """Replaces the caller's whole catalog; orders are parsed against the new version."""
    saved = await service.replace_catalog(
        db_session=db_session, caches=caches, client_id=client.client_id, catalog=body
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
    # The hottest read: the router's guard and the state are read directly rather
    # than through declared dependencies, each of which FastAPI solves per request.
    client = guarded_client(request)
    body = await service.read_catalog_body(
        sessionmaker=request.state.sessionmaker,
        caches=await catalog_caches(request),
        client_id=client.client_id,
        max_age=request.app.state.settings.CATALOG_CACHE_SECONDS,
        render=_render,
    )
    if body is None:
        raise NotFound()
    return Response(body, media_type="application/json")


@router.patch(
    "/catalog/items/{sku}",
    summary="Mark an item sold out or available again",
    responses=error_responses(404, 422),
)
async def patch_item(
    sku: Annotated[str, Path(max_length=64)],
    body: AvailabilityIn,
    client: CurrentClient,
    db_session: DbSession,
    caches: CatalogCachesDep,
) -> Envelope[AvailabilitySaved]:
    """A sold-out item is never added by an order or a turn; confirming a session whose
    cart holds one is 409 ITEM_UNAVAILABLE. Makes a new catalog version."""
    saved = await service.set_availability(
        db_session=db_session,
        caches=caches,
        client_id=client.client_id,
        sku=sku,
        available=body.available,
    )
    return envelope(saved)
