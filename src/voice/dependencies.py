"""Voice dependencies shared by the sub-domains' routers: the caller's prepared
catalog, the speech service, the process's caches and the Idempotency-Key header."""

import re
from typing import Annotated

from fastapi import Depends, Header, Request

from src.auth.dependencies import CurrentClient
from src.database import DbSession
from src.exceptions import ServiceUnavailable, UnprocessableEntity, validation_error
from src.voice.catalog import service as catalog_service
from src.voice.catalog.service import CatalogCaches, PreparedCatalog
from src.voice.exceptions import CatalogMissing
from src.voice.recommend.service import RecommendCaches
from src.voice.speech.service import SpeechService

_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def catalog_caches(request: Request) -> CatalogCaches:
    """This app's catalog caches (made by the voice lifespan)."""
    caches: CatalogCaches = request.state.catalog_caches
    return caches


def recommend_caches(request: Request) -> RecommendCaches:
    """This app's recommendation caches (made by the voice lifespan)."""
    caches: RecommendCaches = request.state.recommend_caches
    return caches


CatalogCachesDep = Annotated[CatalogCaches, Depends(catalog_caches)]
RecommendCachesDep = Annotated[RecommendCaches, Depends(recommend_caches)]


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


async def optional_prepared_catalog(
    client: CurrentClient, db_session: DbSession, caches: CatalogCachesDep
) -> PreparedCatalog | None:
    """The caller's prepared catalog if it has one (speech works without)."""
    return await catalog_service.get_prepared_catalog(
        db_session=db_session, caches=caches, client_id=client.client_id
    )


def speech_service(request: Request) -> SpeechService:
    """The process's speech service (created by the voice lifespan)."""
    speech: SpeechService | None = getattr(request.state, "speech", None)
    if speech is None:
        raise ServiceUnavailable(data={"checks": {"speech_model": "disabled"}})
    return speech


async def idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Retry-safe key (1-255 printable characters), kept 24 hours",
        ),
    ] = None,
) -> str | None:
    """The Idempotency-Key header: 1-255 printable ASCII characters, else 422."""
    if key is not None and not _IDEMPOTENCY_KEY.match(key):
        raise UnprocessableEntity(
            errors=[
                validation_error(
                    ["header", "Idempotency-Key"], "must be 1-255 printable ASCII characters"
                )
            ]
        )
    return key


CurrentCatalog = Annotated[PreparedCatalog, Depends(valid_prepared_catalog)]
IdempotencyKeyHeader = Annotated[str | None, Depends(idempotency_key)]
LastSeenCatalog = Annotated[PreparedCatalog, Depends(last_seen_catalog)]
OptionalCatalog = Annotated[PreparedCatalog | None, Depends(optional_prepared_catalog)]
Speech = Annotated[SpeechService, Depends(speech_service)]
