"""`FairSlots`: decode slots shared fairly between clients.

A plain semaphore serves waiters in arrival order, so a client that keeps several
long clips queued holds every slot while another client's short clip times out
behind them. Here a freed slot goes to the waiting client that holds the fewest
slots, and among equals to the one served least recently (round-robin), so each
client gets its share while others wait and all of them when nobody else does.
"""

import asyncio
import itertools
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class SlotsBusy(Exception):
    """No slot came free for this client within the timeout."""


class FairSlots:
    """`capacity` slots, handed out per client (asyncio; one event loop)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._held: dict[str, int] = {}
        self._waiting: dict[str, deque[asyncio.Future[None]]] = {}
        self._last_served: dict[str, int] = {}
        self._turn = itertools.count()

    @property
    def in_use(self) -> int:
        """Slots held now, by all clients together."""
        return sum(self._held.values())

    def held_by(self, client: str) -> int:
        """Slots `client` holds now."""
        return self._held.get(client, 0)

    @asynccontextmanager
    async def slot(self, client: str, timeout: float) -> AsyncIterator[None]:
        """Hold one slot for `client` for the block; SlotsBusy after `timeout` s waiting."""
        await self.acquire(client, timeout)
        try:
            yield
        finally:
            self.release(client)

    async def acquire(self, client: str, timeout: float) -> None:
        """Take a slot for `client`, waiting up to `timeout` seconds for a fair turn."""
        if self.in_use < self.capacity and not self._waiting:
            self._grant(client)
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(client, deque()).append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except (TimeoutError, asyncio.CancelledError) as exc:
            if waiter.done() and not waiter.cancelled():
                # Granted as the wait ended: hand it on rather than lose it.
                self.release(client)
            else:
                waiter.cancel()
                self._forget(client, waiter)
            if isinstance(exc, TimeoutError):
                raise SlotsBusy() from None
            raise

    def release(self, client: str) -> None:
        """Give back a slot of `client`'s and hand it to the fairest waiter."""
        held = self._held.get(client, 0) - 1
        if held > 0:
            self._held[client] = held
        else:
            self._held.pop(client, None)
        self._hand_on()

    def _grant(self, client: str) -> None:
        self._held[client] = self._held.get(client, 0) + 1
        self._last_served[client] = next(self._turn)
        if len(self._last_served) > 10_000:  # bounded: only the present clients matter
            present = self._held.keys() | self._waiting.keys()
            self._last_served = {c: t for c, t in self._last_served.items() if c in present}

    def _hand_on(self) -> None:
        while self.in_use < self.capacity and self._waiting:
            client = min(
                self._waiting,
                key=lambda name: (self._held.get(name, 0), self._last_served.get(name, -1)),
            )
            waiter = self._waiting[client].popleft()
            if not self._waiting[client]:
                del self._waiting[client]
            if waiter.done():  # timed out or cancelled meanwhile
                continue
            self._grant(client)
            waiter.set_result(None)

    def _forget(self, client: str, waiter: asyncio.Future[None]) -> None:
        queue = self._waiting.get(client)
        if queue is None:
            return
        try:
            queue.remove(waiter)
        except ValueError:
            return
        if not queue:
            del self._waiting[client]
