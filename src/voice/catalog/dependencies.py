"""Catalog dependencies: this app's catalog caches and the caller's prepared catalog."""

from typing import Annotated

from fastapi import Depends, Request

from src.auth.dependencies import CurrentClient
from src.database import DbSession
from src.voice.catalog import service as catalog_service
from src.voice.catalog.service import CatalogCaches, PreparedCatalog
from src.voice.exceptions import CatalogMissing


async def catalog_caches(request: Request) -> CatalogCaches:
    """This app's catalog caches (made by the voice lifespan)."""
    # async: FastAPI runs a plain `def` dependency in a worker thread, a thread hop per request.
    caches: CatalogCaches = request.state.catalog_caches
    return caches


CatalogCachesDep = Annotated[CatalogCaches, Depends(catalog_caches)]


async def _prepared_catalog(
    client: CurrentClient, db_session: DbSession, caches: CatalogCaches, *, last_seen: bool
) -> PreparedCatalog:
    prepared = await catalog_service.get_prepared_catalog(
        db_session=db_session, caches=caches, client_id=client.client_id, last_seen=last_seen
    )
    if prepared is None:
        raise CatalogMissing()
    return prepared


async def valid_prepared_catalog(
    client: CurrentClient, db_session: DbSession, caches: CatalogCachesDep
) -> PreparedCatalog:
    """The caller's current catalog, ready to parse against; 422 if there is none."""
    return await _prepared_catalog(client, db_session, caches, last_seen=False)


async def last_seen_catalog(
    client: CurrentClient, db_session: DbSession, caches: CatalogCachesDep
) -> PreparedCatalog:
    """The caller's catalog as this process saw it last (no database read when it is at
    hand); 422 if there is none. For orders only: they store themselves only if it is
    still current, and parse again otherwise."""
    return await _prepared_catalog(client, db_session, caches, last_seen=True)


async def recent_prepared_catalog(
    request: Request, client: CurrentClient, db_session: DbSession, caches: CatalogCachesDep
) -> PreparedCatalog:
    """The caller's catalog as this process knew it less than CATALOG_CACHE_SECONDS ago
    (no database read), else as the database has it now; 422 if there is none. For
    session turns: a turn may read a catalog replaced that long ago; confirm prices and
    checks the cart against the current one."""
    prepared = await optional_prepared_catalog(request, client, db_session, caches)
    if prepared is None:
        raise CatalogMissing()
    return prepared


async def optional_prepared_catalog(
    request: Request, client: CurrentClient, db_session: DbSession, caches: CatalogCachesDep
) -> PreparedCatalog | None:
    """The caller's catalog (or None) as this process knew it less than
    CATALOG_CACHE_SECONDS ago: speech works without one, and hot words a second old
    bias a decode as well as the newest."""
    return await catalog_service.get_recent_prepared_catalog(
        db_session=db_session,
        caches=caches,
        client_id=client.client_id,
        max_age=request.app.state.settings.CATALOG_CACHE_SECONDS,
    )


CurrentCatalog = Annotated[PreparedCatalog, Depends(valid_prepared_catalog)]
LastSeenCatalog = Annotated[PreparedCatalog, Depends(last_seen_catalog)]
RecentCatalog = Annotated[PreparedCatalog, Depends(recent_prepared_catalog)]
OptionalCatalog = Annotated[PreparedCatalog | None, Depends(optional_prepared_catalog)]
