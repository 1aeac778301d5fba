"""The connection pool hands a returned connection to the request that waited longest."""

import asyncio

import pytest
from sqlalchemy.util import greenlet_spawn
from sqlalchemy.util.queue import Empty

from src.connection_pool import FairAsyncQueue

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
