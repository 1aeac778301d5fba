"""The connection pool hands a returned connection to the request that waited longest,
and checks a connection that sat idle before a request uses it."""

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import greenlet_spawn
from sqlalchemy.util.queue import Empty

from src.config import Settings
from src.platform.db.engine import create_engine
from src.platform.db.pool import FairAsyncQueue
from tests.conftest import require_service

POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"

pytestmark = pytest.mark.anyio


async def test_a_returned_connection_goes_to_the_waiter_not_to_a_newcomer() -> None:
    queue = FairAsyncQueue(maxsize=1)
    got: dict[str, str | None] = {}

    def ask(name: str, timeout: float) -> None:  # as the pool asks, inside a greenlet
        try:
            got[name] = queue.get(True, timeout)
        except Empty:
            got[name] = None

    waiter = asyncio.create_task(greenlet_spawn(ask, "waiter", 2.0))
    await asyncio.sleep(0.02)  # in line: no connection is free

    def give_back_then_another_asks() -> None:
        queue.put_nowait("connection")  # one request gives its connection back...
        ask("newcomer", 0.2)  # ...and another asks before the waiter has run again

    await greenlet_spawn(give_back_then_another_asks)
    await waiter
    assert got == {"waiter": "connection", "newcomer": None}


async def test_a_free_connection_is_taken_at_once_and_timeouts_still_apply() -> None:
    queue = FairAsyncQueue(maxsize=1)
    queue.put_nowait("connection")
    assert await greenlet_spawn(queue.get, True, 0.5) == "connection"
    with pytest.raises(Empty):
        await greenlet_spawn(queue.get, True, 0.05)


# -- pinging before use: only connections that sat idle


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        pid: int = await connection.scalar(text("SELECT pg_backend_pid()"))
        return pid


async def _drop_on_server(engine: AsyncEngine, pid: int) -> None:
    """What a PostgreSQL restart, an idle timeout or a firewall does to a connection."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


def _one_connection_engine(settings: Settings, idle_seconds: float) -> AsyncEngine:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    return create_engine(
        settings.model_copy(
            update={
                "DATABASE_URL": POSTGRES_URL,
                "DATABASE_POOL_SIZE": 1,
                "DATABASE_MAX_OVERFLOW": 0,
                "DATABASE_POOL_PING_IDLE_SECONDS": idle_seconds,
            }
        )
    )


async def test_a_connection_dropped_while_idle_is_replaced_before_a_request_uses_it(
    settings: Settings,
) -> None:
    engine = _one_connection_engine(settings, idle_seconds=0.05)
    admin = _one_connection_engine(settings, idle_seconds=0)
    try:
        pid = await _backend_pid(engine)
        await _drop_on_server(admin, pid)
        await asyncio.sleep(0.1)  # idle longer than DATABASE_POOL_PING_IDLE_SECONDS
        assert await _backend_pid(engine) != pid  # no error: pinged, found dead, replaced
    finally:
        await engine.dispose()
        await admin.dispose()


async def test_a_connection_used_moments_ago_is_not_pinged_and_one_use_pays_for_a_drop(
    settings: Settings,
) -> None:
    # The trade-off of not pinging busy connections (three round trips each on asyncpg):
    # a connection dropped right after its last use fails the next use, which
    # invalidates it (the request answers 503); the use after that reconnects.
    engine = _one_connection_engine(settings, idle_seconds=60)
    admin = _one_connection_engine(settings, idle_seconds=0)
    try:
        pid = await _backend_pid(engine)
        await _drop_on_server(admin, pid)
        with pytest.raises(DBAPIError) as failed:
            await _backend_pid(engine)
        assert failed.value.connection_invalidated
        assert await _backend_pid(engine) != pid
    finally:
        await engine.dispose()
        await admin.dispose()
