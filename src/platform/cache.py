"""`TimedCache`: per-process values that go stale after a while, refreshed one at a time."""

import time
from collections import OrderedDict
from threading import Lock
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

# How long the other callers keep the stale value while one caller refreshes it.
REFRESH_GRACE_SECONDS = 1.0


class TimedCache(Generic[K, V]):
    """A bounded LRU whose entries are fresh for `max_age` seconds (given per lookup).

    When an entry is stale, the first caller gets None and refreshes it from the
    source of truth; the callers meanwhile keep the stale value for up to
    REFRESH_GRACE_SECONDS instead of all going to the database at once (under load
    that stampede, not the reads themselves, made the slow tail). `max_age` 0 turns
    the cache off.
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        self._entries: OrderedDict[K, tuple[V, float]] = OrderedDict()
        self._refreshing: dict[K, float] = {}
        self._max_entries = max_entries
        self._lock = Lock()

    def get(self, key: K, max_age: float) -> V | None:
        """The value if fresh, or stale while another caller refreshes it; else None."""
        entry = self._entries.get(key)
        if entry is None or max_age <= 0:
            return None
        now = time.monotonic()
        if now - entry[1] <= max_age:
            return entry[0]
        with self._lock:
            started = self._refreshing.get(key)
            if started is None or now - started > REFRESH_GRACE_SECONDS:
                self._refreshing[key] = now
                return None  # this caller refreshes
        return entry[0]

    def peek(self, key: K) -> V | None:
        """The value, fresh or not."""
        entry = self._entries.get(key)
        return entry[0] if entry is not None else None

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._refreshing.pop(key, None)
            self._entries[key] = (value, time.monotonic())
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def forget(self, key: K) -> None:
        with self._lock:
            self._refreshing.pop(key, None)
            self._entries.pop(key, None)
