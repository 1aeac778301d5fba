"""One live stream per session across workers: the lease on the session row (both
backends). Two engines stand for two workers or replicas."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from src.config import Settings
from src.platform.db.engine import create_engine, create_sessionmaker
from src.voice.sessions.models import OrderSession
from src.voice.sessions.stream_lease import RENEW_EVERY_SECONDS, StreamLease
from tests.conftest import RunningApp

pytestmark = pytest.mark.anyio


async def _session(client: httpx.AsyncClient, merchant: dict[str, Any]) -> str:
    started = await client.post("/api/v1/voice/sessions", json={}, headers=merchant["headers"])
    assert started.status_code == 201, started.text
    return str(started.json()["data"]["session_id"])


async def test_a_session_held_by_a_stream_on_one_worker_is_refused_on_another(
    settings: Settings,
    lifespan: RunningApp,
    client: httpx.AsyncClient,
    merchant: dict[str, Any],
) -> None:
    session_id = await _session(client, merchant)
    here = lifespan.state["sessionmaker"]
    engine = create_engine(settings)
    there = create_sessionmaker(engine)
    try:
        first = StreamLease(here, merchant["client_id"], session_id)
        second = StreamLease(there, merchant["client_id"], session_id)
        assert await first.claim()
        assert not await second.claim()
        await first.release()
        assert await second.claim()  # given back: the other worker may take it
        # Another client never claims a session that is not theirs.
        assert not await StreamLease(there, "someone-else", session_id).claim()

        # A worker that died holding it: the lease runs out and the session is free.
        async with there() as db_session:
            await db_session.execute(
                update(OrderSession)
                .where(OrderSession.id == session_id)
                .values(stream_until=datetime.now(UTC) - timedelta(seconds=1))
            )
            await db_session.commit()
        third = StreamLease(here, merchant["client_id"], session_id)
        assert await third.claim()
        # The old holder learns it lost the session at its next renewal.
        second._renewed_at -= timedelta(seconds=RENEW_EVERY_SECONDS + 1)
        assert not await second.keep()
        third._renewed_at -= timedelta(seconds=RENEW_EVERY_SECONDS + 1)
        assert await third.keep()
        await second.release()  # not the holder: changes nothing
        assert not await StreamLease(there, merchant["client_id"], session_id).claim()
        await third.release()
    finally:
        await engine.dispose()
