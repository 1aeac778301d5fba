"""Catalog routes: replace the caller's catalog, read it back."""

from fastapi import APIRouter, Request, Response

from src.auth.dependencies import CurrentClient, guarded_client
from src.database import DbSession
from src.exceptions import NotFound
from src.models import Envelope, envelope
from src.voice.catalog import service
from src.voice.catalog.dependencies import CatalogCachesDep, catalog_caches
from src.voice.catalog.schemas import CatalogIn, CatalogOut, CatalogSaved

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
        caches=catalog_caches(request),
        client_id=client.client_id,
        max_age=request.app.state.settings.CATALOG_CACHE_SECONDS,
        render=_render,
    )
    if body is None:
        raise NotFound()
    return Response(body, media_type="application/json")
