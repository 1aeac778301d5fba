"""The engine's pool: `FairAsyncQueuePool` hands out connections in turn, and
`ping_when_idle` checks only connections that sat idle before they are used.

Fair turns.

SQLAlchemy's asyncio pool keeps idle connections in an `asyncio.Queue`. When a
connection comes back, the queue wakes the longest waiter, but the connection stays
in the queue until that waiter runs; a request that asks in between takes it first
(the pool's `get` takes an available connection without waiting its turn), and the
woken waiter goes back to the end of the line. Under steady load one request can lose
that race again and again until DATABASE_POOL_TIMEOUT (seen with a pool of one
connection a worker: a few catalog reads in 30,000 waited 3 s and answered 503; any
pool that runs out under load does the same). Here callers line
up on an `asyncio.Lock`, which lets nobody in ahead of a waiter, and only the caller
at the front waits on the queue itself.
"""

import asyncio
import time
from functools import cached_property
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.util.queue import AsyncAdaptedQueue, Empty


class FairAsyncQueue(AsyncAdaptedQueue[Any]):
    """A pool queue whose blocking `get` serves callers in the order they asked."""

    @cached_property
    def _turn(self) -> asyncio.Lock:
        # Made on first use, inside the running loop (as the queue itself is).
        return asyncio.Lock()

    async def _get_in_turn(self, timeout: float | None) -> Any:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
        # that arrives as the inner await completes (gh-86296).
        async with asyncio.timeout(timeout), self._turn:
            return await self._queue.get()

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """The next free connection; waiting callers are served first come, first served."""
        if not block:
            return self.get_nowait()
        # Always through the lock (no early get_nowait): a connection put back while
        # the next waiter is being woken is that waiter's. Uncontended, neither the
        # lock nor the queue suspends.
        try:
            return self.await_(self._get_in_turn(timeout))
        except (asyncio.QueueEmpty, TimeoutError) as err:
            raise Empty() from err


class FairAsyncQueuePool(AsyncAdaptedQueuePool):
    """AsyncAdaptedQueuePool with FairAsyncQueue (engine option `poolclass`)."""

    _queue_class = FairAsyncQueue


_RETURNED_AT = "voice_returned_at"


def ping_when_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    """Ping a pooled connection before use only if it sat idle over `idle_seconds`.

    SQLAlchemy's `pool_pre_ping` pings on every checkout, and on asyncpg a ping is
    three round trips (BEGIN, `;`, ROLLBACK): a third of a stored order's. A
    connection used a moment ago is alive or the database just went away, which
    the request then meets either way: its error invalidates the pool and it
    answers 503. Connections that sat idle, which firewalls and server timeouts
    drop, are still checked (SQLAlchemy's pessimistic recipe: a failed ping raises
    DisconnectionError and the pool connects afresh).
    """
    pool = engine.sync_engine.pool
    dialect = engine.dialect

    def remember_use(_dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED_AT] = time.monotonic()

    def ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned_at = record.info.get(_RETURNED_AT)
        if returned_at is None or time.monotonic() - returned_at < idle_seconds:
            return  # just connected, or used moments ago
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError("pooled connection failed its ping") from exc
        if not alive:
            raise DisconnectionError("pooled connection failed its ping")

    event.listen(pool, "checkin", remember_use)
    event.listen(pool, "checkout", ping_if_idle)
