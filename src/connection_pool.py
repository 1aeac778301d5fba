"""`FairAsyncQueuePool`: SQLAlchemy's asyncio pool, handing out connections in turn.

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
from functools import cached_property
from typing import Any

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
