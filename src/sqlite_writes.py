"""`WriteTurns`: one SQLite write transaction at a time per process, in arrival order.

SQLite lets one writer in at a time. When several transactions of one worker want to
write at once, all but one wait inside SQLite, whose busy handler sleeps in growing
steps (1, 2, 5, 10 ... 100 ms) and checks again: eight concurrent orders on one
worker had a p99 of 1.2 s, mostly sleeping. Here a transaction waits for its turn on
an asyncio lock before its first INSERT, UPDATE or DELETE, then for an exclusive lock
on a file beside the database that the other workers take too (polled every
millisecond: cancellable, and fair where SQLite's growing sleeps let one worker's
writers starve another's), and hands both on when its connection goes back to the pool
(a session gives it back as it commits or rolls back). Reads never wait.
"""

import asyncio
import fcntl
import os
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import await_only

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
_HOLDS_TURN = "voice_write_turn"
_POLL_SECONDS = 0.001


class WriteTurns:
    """Turns to write, fair within a process and shared between its workers."""

    def __init__(self, lock_path: str, timeout: float) -> None:
        self.lock_path = lock_path
        self.timeout = timeout
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fd: int | None = None
        self._fd_pid = 0

    def _lock_file(self) -> int:
        # Opened per process: flock belongs to the open file, which a fork would share.
        if self._fd is None or self._fd_pid != os.getpid():
            self._fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            self._fd_pid = os.getpid()
        return self._fd

    def _try_file_lock(self) -> bool:
        try:
            fcntl.flock(self._lock_file(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _turn(self) -> asyncio.Lock:
        # One lock per event loop (a lock is bound to the loop that first waits on it).
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:
            self._lock, self._loop = asyncio.Lock(), loop
        return self._lock

    async def _wait_for_turn(self) -> None:
        turn = self._turn()
        try:
            async with asyncio.timeout(self.timeout):
                await turn.acquire()
                try:
                    while not self._try_file_lock():
                        await asyncio.sleep(_POLL_SECONDS)
                except BaseException:
                    turn.release()
                    raise
        except TimeoutError:
            raise PoolTimeout("no turn to write within DATABASE_POOL_TIMEOUT") from None

    def before_execute(self, conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        """Engine hook: wait for the turn before a transaction's first write."""
        if conn.info.get(_HOLDS_TURN) or not statement.lstrip()[:7].upper().startswith(_WRITES):
            return
        await_only(self._wait_for_turn())  # runs in SQLAlchemy's greenlet: may wait
        conn.info[_HOLDS_TURN] = True

    def on_checkin(self, _dbapi_connection: Any, record: Any) -> None:
        """Pool hook: the transaction is over (committed, or rolled back on return)."""
        if record.info.pop(_HOLDS_TURN, False):
            fcntl.flock(self._lock_file(), fcntl.LOCK_UN)
            if self._lock is not None:
                self._lock.release()


def serialize_writes(engine: AsyncEngine, timeout: float) -> WriteTurns:
    """Attach WriteTurns to a SQLite file database's engine (one per process)."""
    turns = WriteTurns(f"{engine.url.database}.write-lock", timeout)
    sync_engine = engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", turns.before_execute)
    # Not the "commit" event: it fires before the commit itself, and the next writer
    # would meet SQLite's lock (and its sleeping busy handler) while it runs.
    event.listen(sync_engine.pool, "checkin", turns.on_checkin)
    return turns
