"""Voice dependencies: the caller's prepared catalog, the idempotency header."""

from typing import Annotated

from fastapi import Depends, Header, Request

from src.auth.dependencies import CurrentClient
from src.database import DbSession
from src.exceptions import ServiceUnavailable
from src.voice.catalog import service as catalog_service
from src.voice.catalog.service import PreparedCatalog
from src.voice.exceptions import CatalogMissing
from src.voice.orders import idempotency
from src.voice.speech.engine import SpeechEngine


async def _prepared_catalog(
    client: CurrentClient, db_session: DbSession, *, last_seen: bool
) -> PreparedCatalog:
    prepared = await catalog_service.get_prepared_catalog(
        db_session=db_session, client_id=client.client_id, last_seen=last_seen
    )
    if prepared is None:
        raise CatalogMissing()
    return prepared


async def valid_prepared_catalog(client: CurrentClient, db_session: DbSession) -> PreparedCatalog:
    """The caller's current catalog, ready to parse against; 422 if there is none."""
    return await _prepared_catalog(client, db_session, last_seen=False)


async def last_seen_catalog(client: CurrentClient, db_session: DbSession) -> PreparedCatalog:
    """The caller's catalog as this process saw it last (no database read when it is at
    hand); 422 if there is none. For orders only: they store themselves only if it is
    still current, and parse again otherwise."""
    return await _prepared_catalog(client, db_session, last_seen=True)


async def optional_prepared_catalog(
    client: CurrentClient, db_session: DbSession
) -> PreparedCatalog | None:
    """The caller's prepared catalog if it has one (speech works without)."""
    return await catalog_service.get_prepared_catalog(
        db_session=db_session, client_id=client.client_id
    )


def speech_engine(request: Request) -> SpeechEngine:
    """The process's speech engine (created by the lifespan)."""
    engine: SpeechEngine | None = getattr(request.state, "speech", None)
    if engine is None:
        raise ServiceUnavailable(data={"checks": {"speech_model": "disabled"}})
    return engine


async def idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Retry-safe key (1-255 printable characters), kept 24 hours",
        ),
    ] = None,
) -> str | None:
    return idempotency.validate_key(key) if key is not None else None


CurrentCatalog = Annotated[PreparedCatalog, Depends(valid_prepared_catalog)]
IdempotencyKeyHeader = Annotated[str | None, Depends(idempotency_key)]
LastSeenCatalog = Annotated[PreparedCatalog, Depends(last_seen_catalog)]
OptionalCatalog = Annotated[PreparedCatalog | None, Depends(optional_prepared_catalog)]
Speech = Annotated[SpeechEngine, Depends(speech_engine)]
