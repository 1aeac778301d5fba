"""SQLite writers take turns: within a worker, across workers, and after a rollback."""

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine

from src.config import Settings
from src.platform.db.engine import create_engine

pytestmark = pytest.mark.anyio


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    made = create_engine(
        Settings(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'w.db'}", DATABASE_POOL_TIMEOUT=0.3)
    )
    async with made.begin() as connection:
        await connection.execute(text("CREATE TABLE t (x INTEGER)"))
    yield made
    await made.dispose()


async def count(engine: AsyncEngine) -> int:
    async with engine.connect() as reader:
        return int((await reader.execute(text("SELECT count(*) FROM t"))).scalar_one())


async def test_a_second_writer_waits_its_turn_and_readers_do_not(engine: AsyncEngine) -> None:
    async with engine.connect() as first:
        await first.execute(text("INSERT INTO t VALUES (1)"))  # holds the turn, uncommitted
        assert await count(engine) == 0  # a reader goes straight through
        with pytest.raises(PoolTimeout):  # within DATABASE_POOL_TIMEOUT, not SQLite's 5 s
            async with engine.begin() as second:
                await second.execute(text("INSERT INTO t VALUES (2)"))
        await first.commit()
    # The turn went back with the connection: the next writer goes at once.
    async with engine.begin() as third:
        await third.execute(text("INSERT INTO t VALUES (3)"))
    assert await count(engine) == 2


async def test_a_rolled_back_writer_hands_the_turn_on(engine: AsyncEngine) -> None:
    async with engine.connect() as first:
        await first.execute(text("INSERT INTO t VALUES (1)"))
        waiting = asyncio.create_task(write_one(engine))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        await first.rollback()
    await asyncio.wait_for(waiting, 1)
    assert await count(engine) == 1


async def write_one(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO t VALUES (2)"))


@contextmanager
def another_worker_holding(lock_path: Path) -> Iterator[None]:
    """Another process holds the write lock until the block ends."""
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT);"
         "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()",
         str(lock_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.communicate("")  # the other worker lets go


async def test_another_worker_holding_the_turn_makes_this_one_wait(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    with another_worker_holding(tmp_path / "w.db.write-lock"):
        with pytest.raises(PoolTimeout):
            await write_one(engine)
        assert await count(engine) == 0
    await write_one(engine)
    assert await count(engine) == 1


async def test_a_connection_returned_mid_transaction_is_rolled_back(engine: AsyncEngine) -> None:
    # The pool resets SQLite connections only when a transaction is open (each reset
    # is a trip to aiosqlite's thread); one that is must still not come back holding
    # SQLite's write lock or its uncommitted rows.
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        await raw.driver_connection.execute("INSERT INTO t VALUES (1)")  # behind SQLAlchemy
        assert raw.driver_connection.in_transaction
    async with engine.begin() as next_writer:
        await next_writer.execute(text("INSERT INTO t VALUES (2)"))
    assert await count(engine) == 1


def lock_is_free(lock_path: Path) -> bool:
    """Whether another process can take the write lock right now."""
    probe = subprocess.run(
        [sys.executable, "-c",
         "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT);"
         "fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)",
         str(lock_path)],
        capture_output=True,
    )  # fmt: skip
    return probe.returncode == 0


async def test_a_writer_that_gave_up_waiting_leaves_the_lock_free(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    # The waiting is done in a thread blocked in flock(); after the timeout that thread
    # still gets the lock once the other worker lets go, and must give it back at once.
    lock_path = tmp_path / "w.db.write-lock"
    with another_worker_holding(lock_path), pytest.raises(PoolTimeout):
        await write_one(engine)
    for _ in range(100):  # the abandoned thread takes the lock and lets it go
        if lock_is_free(lock_path):
            break
        await asyncio.sleep(0.02)
    assert lock_is_free(lock_path)
    await write_one(engine)
    assert await count(engine) == 1
    assert lock_is_free(lock_path)  # the writer let go when it committed
