"""`Cache`: the one per-process cache, bounded, with per-lookup freshness.

Instances are made by the app's lifespan and reached through the request's state,
so that two apps in one process (tests) never share entries.
"""

import math
import time
from collections import OrderedDict
from collections.abc import Hashable
from threading import Lock
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# How long the other callers keep the stale value while one caller refreshes it.
REFRESH_GRACE_SECONDS = 1.0


class Cache(Generic[K, V]):
    """A bounded LRU whose entries are fresh for `max_age` seconds (given per lookup).

    Keys that carry a version (client, catalog version) are never stale: look them up
    with the default `max_age` (forever). For values that age, the first caller to
    find an entry stale gets None and refreshes it from the source of truth, while
    the others keep the stale value for up to REFRESH_GRACE_SECONDS instead of all
    going to the database at once. `max_age` 0 turns the cache off for that lookup.
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        self._entries: OrderedDict[K, tuple[V, float]] = OrderedDict()
        self._refreshing: dict[K, float] = {}
        self._max_entries = max_entries
        self._lock = Lock()

    def get(self, key: K, max_age: float = math.inf) -> V | None:
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
        """Store `value` as fresh now; the least recently stored entry goes when full."""
        with self._lock:
            self._refreshing.pop(key, None)
            self._entries[key] = (value, time.monotonic())
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def forget(self, key: K) -> None:
        """Drop one entry (the source of truth changed in this process)."""
        with self._lock:
            self._refreshing.pop(key, None)
            self._entries.pop(key, None)

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._refreshing.clear()
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
