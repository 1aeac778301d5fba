"""`WriteTurns`: one SQLite write transaction at a time per process, in arrival order.

SQLite lets one writer in at a time. When several transactions of one worker want to
write at once, all but one wait inside SQLite, whose busy handler sleeps in growing
steps (1, 2, 5, 10 ... 100 ms) and checks again, so the tail is mostly sleep. Here a
transaction waits for its turn on
an asyncio lock before its first INSERT, UPDATE or DELETE, then for an exclusive lock
on a file beside the database that the other workers take too, and hands both on when
its connection goes back to the pool (a session gives it back as it commits or rolls
back). Reads never wait.

A worker that finds the file locked waits for it in a daemon thread, blocked in
flock(), so the kernel hands the lock over the moment it is let go. Polling it instead
(every millisecond) let the worker holding it keep it: its next writer takes the lock
within microseconds of the last one letting go, and the other worker's poll rarely
falls in that gap. Each turn opens the file anew, because flock() belongs to the open
file: a thread still waiting for a turn given up (timed out) excludes the next writer
of its own worker as it would another worker's, and lets go as soon as it gets the
lock.
"""

import asyncio
import contextlib
import fcntl
import os
import threading
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import await_only

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
_LOCK_FD = "voice_write_lock_fd"


class WriteTurns:
    """Turns to write, fair within a process and shared between its workers."""

    def __init__(self, lock_path: str, timeout: float) -> None:
        self.lock_path = lock_path
        self.timeout = timeout
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _turn(self) -> asyncio.Lock:
        # One lock per event loop (a lock is bound to the loop that first waits on it).
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:
            self._lock, self._loop = asyncio.Lock(), loop
        return self._lock

    async def _wait_for_turn(self) -> int:
        """Take this worker's turn, then the file lock; returns the locked file."""
        turn = self._turn()
        try:
            async with asyncio.timeout(self.timeout):
                await turn.acquire()
                try:
                    return await self._lock_file()
                except BaseException:
                    turn.release()
                    raise
        except TimeoutError:
            raise PoolTimeout("no turn to write within DATABASE_POOL_TIMEOUT") from None

    async def _lock_file(self) -> int:
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            pass
        except BaseException:
            os.close(fd)
            raise
        waiting = _flock_in_daemon_thread(fd)
        try:
            await asyncio.shield(waiting)
        except BaseException:
            # Given up (timed out, cancelled): the thread may still get the lock; closing
            # the file once it returns lets go of it.
            waiting.add_done_callback(lambda _: os.close(fd))
            raise
        return fd

    def before_execute(self, conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        """Engine hook: wait for the turn before a transaction's first write."""
        if _LOCK_FD in conn.info or not statement.lstrip()[:7].upper().startswith(_WRITES):
            return
        # Runs in SQLAlchemy's greenlet: it may wait.
        conn.info[_LOCK_FD] = await_only(self._wait_for_turn())

    def on_checkin(self, _dbapi_connection: Any, record: Any) -> None:
        """Pool hook: the transaction is over (committed, or rolled back on return)."""
        fd = record.info.pop(_LOCK_FD, None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)  # lets go of the file lock
            if self._lock is not None:
                self._lock.release()


def _flock_in_daemon_thread(fd: int) -> "asyncio.Future[None]":
    """Wait for the file lock in a daemon thread, whose result resolves the future.

    Not the loop's default executor: a wait given up on can stay blocked for as long
    as another process holds the lock, and `asyncio.run` (an operator command) or
    interpreter exit would wait for such a thread before the process could end.
    """
    loop = asyncio.get_running_loop()
    waiting: asyncio.Future[None] = loop.create_future()

    def settle(error: BaseException | None) -> None:
        if waiting.done():
            return
        if error is None:
            waiting.set_result(None)
        else:
            waiting.set_exception(error)

    def wait() -> None:
        error: BaseException | None = None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:
            error = exc
        try:
            loop.call_soon_threadsafe(settle, error)
        except RuntimeError:  # the loop is closed: nobody waits, let go of the lock
            os.close(fd)

    threading.Thread(target=wait, name="sqlite-write-lock", daemon=True).start()
    return waiting


def serialize_writes(engine: AsyncEngine, timeout: float) -> WriteTurns:
    """Attach WriteTurns to a SQLite file database's engine (one per process)."""
    turns = WriteTurns(f"{engine.url.database}.write-lock", timeout)
    sync_engine = engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", turns.before_execute)
    # Not the "commit" event: it fires before the commit itself, and the next writer
    # would meet SQLite's lock (and its sleeping busy handler) while it runs.
    event.listen(sync_engine.pool, "checkin", turns.on_checkin)
    return turns
