"""`use_autocommit`: on PostgreSQL a session that has not begun runs each statement
as its own transaction (a keyless order is one statement); everything else keeps
its transaction."""

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from src.config import Settings
from src.database import use_autocommit
from src.platform.db.engine import create_engine, create_sessionmaker
from tests.conftest import require_service

POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"

pytestmark = pytest.mark.anyio


async def _state_of(engine: AsyncEngine, pid: int) -> str:
    async with engine.connect() as observer:  # another pooled connection
        state: str = await observer.scalar(
            text("SELECT state FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
        )
        return state


async def test_on_postgresql_a_fresh_session_commits_each_statement_alone(
    settings: Settings,
) -> None:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    engine = create_engine(settings.model_copy(update={"DATABASE_URL": POSTGRES_URL}))
    sessions = create_sessionmaker(engine)
    try:
        async with sessions() as session:
            assert await use_autocommit(session)
            pid = await session.scalar(text("SELECT pg_backend_pid()"))
            assert await _state_of(engine, pid) == "idle"  # no transaction left open
        # The connection goes back to the pool as it was: the next session that uses
        # it is in a transaction again, and one that has begun keeps it.
        async with sessions() as session:
            pid = await session.scalar(text("SELECT pg_backend_pid()"))
            assert not await use_autocommit(session)
            assert await _state_of(engine, pid) == "idle in transaction"
    finally:
        await engine.dispose()


async def test_on_sqlite_sessions_keep_their_transaction(settings: Settings) -> None:
    # SQLite's writers take turns per transaction (src/platform/db/sqlite_writes.py).
    engine = create_engine(settings.model_copy(update={"DATABASE_URL": "sqlite+aiosqlite://"}))
    try:
        async with create_sessionmaker(engine)() as session:
            assert not await use_autocommit(session)
            await session.execute(text("SELECT 1"))
            assert session.in_transaction()
    finally:
        await engine.dispose()
