"""Rate limits: a slowapi `Limiter` per app and a dependency that applies a limit.

Why a dependency rather than slowapi's decorator or middleware: the middleware cannot
see routes of a mounted sub-app and answers 429 outside our envelope, and the
decorator needs `request`/`response` in every signature. How the dependency counts
depends on the storage and strategy (see `RateLimit`). Fixed windows, the default,
are counted by a window counter: a batched and awaited Lua call in Redis
(production's setting, where slowapi's blocking calls cost more than the rest of a
request: `RedisWindowCounter`), a dict in memory (limits' MemoryStorage starts a
sweeper thread every 10 ms under load: `MemoryWindowCounter`). Other strategies go
through slowapi: its strategy directly in memory, and its whole check, with its
in-memory fallback, on a shared storage.
"""

import inspect
import ipaddress
import logging
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any, cast

import anyio.to_thread
from fastapi import Request
from limits import parse
from redis.backoff import NoBackoff
from redis.retry import Retry
from slowapi import Limiter
from slowapi.errors import RateLimitExceeded
from slowapi.wrappers import Limit
from starlette.requests import HTTPConnection

from src.config import PROJECT_ROOT, Settings
from src.platform.observability.metrics import RATE_LIMIT_REJECTIONS
from src.platform.ratelimit.headers import (
    RATE_LIMIT_HEADERS_KEY,
    rate_limit_headers,
    window_headers,
)
from src.platform.ratelimit.memory_window import MemoryWindowCounter
from src.platform.ratelimit.redis_window import RedisWindowCounter

# The fixed-window counters the app may hold in `app.state.window_counter`.
WindowCounter = MemoryWindowCounter | RedisWindowCounter

logger = logging.getLogger(__name__)

# slowapi reads `.env` through starlette's Config unless told otherwise; all of its
# options come from our Settings, so point it at an empty file of our own.
_NO_CONFIG_FILE = str(PROJECT_ROOT / "src" / "slowapi.env")
KEY_PREFIX = "voice-api"


@lru_cache(maxsize=64)
def _parse_networks(
    trusted: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in trusted)


def _is_trusted(
    host: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in networks)


def client_ip(request: HTTPConnection) -> str:
    """The caller's IP; `X-Forwarded-For` is believed only from TRUSTED_PROXIES."""
    peer = request.client.host if request.client else "unknown"
    settings: Settings = request.app.state.settings
    if not settings.TRUSTED_PROXIES:
        return peer
    networks = _parse_networks(tuple(settings.TRUSTED_PROXIES))
    if not _is_trusted(peer, networks):
        return peer
    forwarded = request.headers.get("x-forwarded-for", "")
    # Walk from the nearest hop outwards; the first untrusted address is the client.
    for hop in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
        if not _is_trusted(hop, networks):
            return hop
    return peer


def client_or_ip_key(request: HTTPConnection) -> str:
    """Rate-limit key: the authenticated API client, else the caller's IP."""
    client_id = getattr(request.state, "client_id", None)
    if client_id:
        return f"client:{client_id}"
    return f"ip:{client_ip(request)}"


def ip_key(request: HTTPConnection) -> str:
    """Rate-limit key for unauthenticated routes such as /auth/token."""
    return f"ip:{client_ip(request)}"


def _storage_options(settings: Settings) -> dict[str, Any]:
    if not settings.RATE_LIMIT_STORAGE_URI.startswith(("redis", "rediss")):
        return {}
    # Fail fast: slowapi calls the storage synchronously, so a hung Redis with
    # redis-py's default retries would stall every limited request for seconds.
    timeout = settings.RATE_LIMIT_STORAGE_TIMEOUT
    return {
        "socket_connect_timeout": timeout,
        "socket_timeout": timeout,
        "retry": Retry(NoBackoff(), 0),
        "health_check_interval": 0,
    }


def build_limiter(settings: Settings) -> Limiter:
    """The app's limiter: shared storage, in-memory fallback when the storage is down."""
    return Limiter(
        key_func=client_or_ip_key,
        storage_uri=settings.RATE_LIMIT_STORAGE_URI,
        storage_options=_storage_options(settings),
        strategy=settings.RATE_LIMIT_STRATEGY,
        headers_enabled=False,
        key_style="endpoint",
        key_prefix=KEY_PREFIX,
        swallow_errors=True,
        in_memory_fallback_enabled=True,
        in_memory_fallback=[settings.RATE_LIMIT_DEFAULT],
        enabled=settings.RATE_LIMIT_ENABLED,
        config_filename=_NO_CONFIG_FILE,
    )


def build_window_counter(settings: Settings) -> WindowCounter | None:
    """The counter for fixed windows in memory or Redis; None: slowapi checks."""
    if settings.RATE_LIMIT_STRATEGY != "fixed-window":
        return None
    uri = settings.RATE_LIMIT_STORAGE_URI
    if uri.startswith("memory://"):
        return MemoryWindowCounter()
    if uri.startswith(("redis://", "rediss://")):
        return RedisWindowCounter(uri, settings.RATE_LIMIT_STORAGE_TIMEOUT)
    return None


def reset_limits(state: Any) -> None:
    """Forget every count of an app's limits (its `state`): slowapi's and the counter's."""
    state.limiter.reset()
    if state.window_counter is not None:
        state.window_counter.reset()


def storage_is_shared(settings: Settings) -> bool:
    return not settings.RATE_LIMIT_STORAGE_URI.startswith("memory")


def check_storage(limiter: Limiter) -> bool:
    """True when the rate-limit storage answers (used by readiness)."""
    # The configured storage itself: after a failure slowapi counts in its in-memory
    # fallback, which always answers and would hide that Redis is down.
    try:
        return bool(limiter._storage.check())
    except Exception:
        return False


class RateLimit:
    """A dependency enforcing the limit named by a setting, counted per `key_func`.

    All routes guarded by the same `RateLimit` share one budget per key. With the
    fixed window (the default) a window counter counts it: in Redis one awaited Lua
    call, batched with the checks of concurrent requests (`RedisWindowCounter`); in
    memory a dict (`MemoryWindowCounter`). Other strategies are counted by slowapi's
    strategy in the event loop on memory storage, and by slowapi's whole check in a
    worker thread (its calls block) on a shared storage.
    """

    def __init__(
        self,
        name: str,
        limit_setting: str,
        key_func: Callable[[HTTPConnection], str] = client_or_ip_key,
    ) -> None:
        self.name = name
        self.limit_setting = limit_setting
        self.key_func = key_func
        # slowapi calls inspect.signature(key_func) on every request; a signature worked
        # out once and kept on the function is returned as it is (5.7 -> 1.1 us).
        if not hasattr(key_func, "__signature__"):
            setattr(key_func, "__signature__", inspect.signature(key_func))  # noqa: B010
        self._markers: dict[int, Callable[[Request], None]] = {}
        self._limits: dict[str, Limit] = {}

    def _marker_for(self, limiter: Limiter, settings: Settings) -> Callable[[Request], None]:
        # slowapi keys its limits by function: give this limit a function of its own.
        marker = self._markers.get(id(limiter))
        if marker is None:

            def marker(request: Request) -> None:
                """Stand-in endpoint that carries this limit inside slowapi."""

            marker.__name__ = marker.__qualname__ = f"limit_{self.name}"
            limiter.limit(getattr(settings, self.limit_setting), key_func=self.key_func)(marker)
            self._markers[id(limiter)] = marker
        return marker

    def _limit_for(self, settings: Settings) -> Limit:
        text: str = getattr(settings, self.limit_setting)
        limit = self._limits.get(text)
        if limit is None:
            limit = Limit(parse(text), self.key_func, self.name, False, None, None, None, 1, False)
            self._limits[text] = limit
        return limit

    async def __call__(self, request: Request) -> None:
        await self.check(request)

    async def check(self, request: HTTPConnection) -> dict[str, str]:
        """Count this request (or WebSocket message that does a request's work); its
        `X-RateLimit-*` headers, or RateLimitExceeded (429)."""
        limiter: Limiter = request.app.state.limiter
        if not limiter.enabled:
            return {}
        settings: Settings = request.app.state.settings
        counter: WindowCounter | None = request.app.state.window_counter
        try:
            if counter is not None:
                headers = await self._check_counter(counter, request, settings)
            elif storage_is_shared(settings):
                # slowapi's check reads a request: a WebSocket counts as its handshake.
                headers = await self._check_slowapi(limiter, cast(Request, request), settings)
            else:
                headers = self._check_in_memory(limiter, request, settings)
        except RateLimitExceeded:
            RATE_LIMIT_REJECTIONS.labels(limit=self.name).inc()
            raise
        setattr(request.state, RATE_LIMIT_HEADERS_KEY, headers)
        return headers

    async def _check_counter(
        self, counter: WindowCounter, request: HTTPConnection, settings: Settings
    ) -> dict[str, str]:
        limit = self._limit_for(settings)
        item = limit.limit
        key = item.key_for(KEY_PREFIX, self.name, self.key_func(request))
        hit = await counter.hit(key, item.get_expiry())
        return self._answer(request, limit, item.amount - hit.count, hit.reset_in)

    def _check_in_memory(
        self, limiter: Limiter, request: HTTPConnection, settings: Settings
    ) -> dict[str, str]:
        # slowapi's own strategy on its memory storage (`Limiter.limiter`), asked
        # directly: its per-request route bookkeeping (`_check_request_limit`) cost
        # twice the count itself, and nothing here can fail over to a fallback.
        limit = self._limit_for(settings)
        item = limit.limit
        identity = (KEY_PREFIX, self.name, self.key_func(request))
        backend = limiter.limiter
        allowed = backend.hit(item, *identity)
        reset_at, remaining = backend.get_window_stats(item, *identity)
        return self._answer(request, limit, remaining if allowed else -1, reset_at - time.time())

    @staticmethod
    def _answer(
        request: HTTPConnection, limit: Limit, remaining: int, reset_in: float
    ) -> dict[str, str]:
        """The headers for a counted request; RateLimitExceeded when `remaining` < 0."""
        exceeded = remaining < 0
        headers = window_headers(limit.limit.amount, remaining, reset_in, exceeded=exceeded)
        if exceeded:
            setattr(request.state, RATE_LIMIT_HEADERS_KEY, headers)  # for the 429
            raise RateLimitExceeded(limit)
        return headers

    async def _check_slowapi(
        self, limiter: Limiter, request: Request, settings: Settings
    ) -> dict[str, str]:
        marker = self._marker_for(limiter, settings)

        def check() -> dict[str, str]:
            limiter._check_request_limit(request, marker, False)
            return rate_limit_headers(request)

        # Blocking network calls (the hit, then the window's stats for the headers):
        # one trip to a worker thread for both, off the event loop. slowapi counts in
        # its in-memory fallback while the storage is down.
        return await anyio.to_thread.run_sync(check)
