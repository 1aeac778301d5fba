"""Fixed-window rate-limit counts in this process's memory, without a sweeper thread.

limits' MemoryStorage sweeps expired keys on a `threading.Timer` of 10 ms that each
hit starts again once the last one has run: under steady traffic, a new thread about
every 10 ms, each taking the GIL from the event loop. With that sweeper switched off,
authenticated catalog reads ran at 0.354x of bare FastAPI instead of 0.309x (same
run). Here a window is a (count, end) pair that the first hit after its end starts
afresh, and expired windows are dropped in one pass at most every SWEEP_SECONDS, on
the request path. Semantics as limits' fixed window: a window starts at its first hit.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

SWEEP_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class WindowHit:
    """The count after this hit and the seconds until the window resets."""

    count: int
    reset_in: float


class MemoryWindowCounter:
    """Fixed windows per key, for one process (one event loop thread uses it)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[str, tuple[int, float]] = {}  # key -> (count, ends at)
        self._next_sweep = clock() + SWEEP_SECONDS

    def count(self, key: str, expiry: float, cost: int = 1) -> WindowHit:
        """Add `cost` to `key`'s window of `expiry` seconds; the count and reset after."""
        now = self._clock()
        if now >= self._next_sweep:
            self._sweep(now)
        count, ends = self._windows.get(key, (0, 0.0))
        if ends <= now:
            count, ends = 0, now + expiry
        count += cost
        self._windows[key] = (count, ends)
        return WindowHit(count, ends - now)

    async def hit(self, key: str, expiry: int, cost: int = 1) -> WindowHit:
        """`count` as the app's window counters are called."""
        return self.count(key, expiry, cost)

    def _sweep(self, now: float) -> None:
        self._windows = {key: w for key, w in self._windows.items() if w[1] > now}
        self._next_sweep = now + SWEEP_SECONDS

    def __len__(self) -> int:
        return len(self._windows)

    def reset(self) -> None:
        """Forget every count."""
        self._windows.clear()

    async def aclose(self) -> None:
        """Nothing to close (the same lifespan call as the Redis counter)."""
