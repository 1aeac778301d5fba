"""The voice domain's startup and shutdown: the speech model, background loops, caches."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.config import Settings
from src.voice.catalog.service import CatalogCaches
from src.voice.orders.idempotency import PendingReleases
from src.voice.recommend.counters import fold_continuously
from src.voice.recommend.service import RecommendCaches
from src.voice.speech.service import SpeechService


@asynccontextmanager
async def voice_lifespan(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[dict[str, Any]]:
    """Start what the voice routes need; yields the entries of the request state.

    `speech` starts loading its model in the background (ASR_PRELOAD), idempotency
    keys whose release failed are retried, and queued orders are folded into the
    recommendation counters every RECOMMEND_FOLD_SECONDS.
    """
    speech = SpeechService(settings)
    if settings.ASR_PRELOAD:
        speech.start_loading()
    releases = PendingReleases(settings.IDEMPOTENCY_LOCK_SECONDS)
    loops = [
        asyncio.create_task(releases.run(sessionmaker), name="idempotency-releases"),
        asyncio.create_task(
            fold_continuously(sessionmaker, settings.RECOMMEND_FOLD_SECONDS),
            name="recommendation-folds",
        ),
    ]
    try:
        yield {
            "speech": speech,
            "idempotency_releases": releases,
            "catalog_caches": CatalogCaches(),
            "recommend_caches": RecommendCaches(),
        }
    finally:
        for loop in loops:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        await releases.retry(sessionmaker)  # a last try before the engine goes
        await anyio.to_thread.run_sync(speech.close)
