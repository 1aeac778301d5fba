"""The one-trip aiosqlite cursor: every result as sqlite3 gives it, in fewer trips."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from src.config import Settings
from src.platform.db.engine import create_engine
from src.platform.db.sqlite_driver import PREFETCH_ROWS, OneTripConnection

pytestmark = pytest.mark.anyio


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    made = create_engine(Settings(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'd.db'}"))
    async with made.begin() as connection:
        await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT UNIQUE)"))
    yield made
    await made.dispose()


async def test_the_engine_uses_one_trip_connections(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        assert isinstance(raw.driver_connection, OneTripConnection)
        # The PRAGMAs of the connect hook ran through it.
        assert (await connection.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1


async def test_writes_report_their_counts_and_ids(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        inserted = await connection.execute(text("INSERT INTO t (x) VALUES ('a')"))
        assert inserted.lastrowid == 1
        many = await connection.execute(
            text("INSERT INTO t (x) VALUES (:x)"), [{"x": "b"}, {"x": "c"}, {"x": "d"}]
        )
        assert many.rowcount == 3
        updated = await connection.execute(text("UPDATE t SET x = x || '!' WHERE id > 1"))
        assert updated.rowcount == 3
        returned = await connection.execute(text("DELETE FROM t WHERE id >= 3 RETURNING id"))
        assert sorted(returned.scalars()) == [3, 4]
    async with engine.connect() as connection:
        rows = (await connection.execute(text("SELECT id, x FROM t ORDER BY id"))).all()
    assert [tuple(row) for row in rows] == [(1, "a"), (2, "b!")]


async def test_a_failed_statement_raises_and_the_connection_goes_on(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO t (x) VALUES ('same')"))
    with pytest.raises(IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO t (x) VALUES ('same')"))
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM t"))).scalar_one() == 1


async def test_a_result_larger_than_the_prefetch_is_read_whole(engine: AsyncEngine) -> None:
    total = PREFETCH_ROWS * 2 + 7
    async with engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO t (x) VALUES (:x)"), [{"x": str(n)} for n in range(total)]
        )
    async with engine.connect() as connection:
        everything = (await connection.execute(text("SELECT id FROM t ORDER BY id"))).all()
        assert [row.id for row in everything] == list(range(1, total + 1))
        # Streamed (a server-side cursor): partitions, each fetched as it is asked for.
        streamed = await connection.stream(text("SELECT id FROM t ORDER BY id"))
        parts = [[row.id for row in part] async for part in streamed.partitions(300)]
        assert [n for part in parts for n in part] == list(range(1, total + 1))
        assert max(len(part) for part in parts) == 300
        # A second statement after an unfinished stream starts afresh.
        first = await connection.stream(text("SELECT id FROM t ORDER BY id"))
        assert (await first.fetchone()) is not None
        await first.close()
        assert (await connection.execute(text("SELECT count(*) FROM t"))).scalar_one() == total
