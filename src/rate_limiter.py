"""Rate limits: a slowapi `Limiter` per app and a dependency that applies a limit.

Why a dependency rather than slowapi's decorator or middleware: the middleware cannot
see routes of a mounted sub-app and answers 429 outside our envelope, and the
decorator needs `request`/`response` in every signature. The dependency registers its
limit with slowapi once and then asks slowapi to check it, so storage, strategies and
the in-memory fallback while Redis is down are all slowapi's.
"""

import inspect
import ipaddress
import logging
import math
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import anyio.to_thread
from fastapi import Request, Response
from redis.backoff import NoBackoff
from redis.retry import Retry
from slowapi import Limiter
from slowapi.errors import RateLimitExceeded

from src.config import PROJECT_ROOT, Settings
from src.monitoring import RATE_LIMIT_REJECTIONS

logger = logging.getLogger(__name__)

# slowapi reads `.env` through starlette's Config unless told otherwise; all of its
# options come from our Settings, so point it at an empty file of our own.
_NO_CONFIG_FILE = str(PROJECT_ROOT / "src" / "slowapi.env")


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


def client_ip(request: Request) -> str:
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


def client_or_ip_key(request: Request) -> str:
    """Rate-limit key: the authenticated API client, else the caller's IP."""
    client_id = getattr(request.state, "client_id", None)
    if client_id:
        return f"client:{client_id}"
    return f"ip:{client_ip(request)}"


def ip_key(request: Request) -> str:
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
        key_prefix="voice-api",
        swallow_errors=True,
        in_memory_fallback_enabled=True,
        in_memory_fallback=[settings.RATE_LIMIT_DEFAULT],
        enabled=settings.RATE_LIMIT_ENABLED,
        config_filename=_NO_CONFIG_FILE,
    )


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


def rate_limit_headers(request: Request, *, exceeded: bool = False) -> dict[str, str]:
    """`X-RateLimit-*` for the limit this request was counted against, `Retry-After` if over.

    Computed once, when the limit is checked, and remembered for the response.
    """
    if not exceeded:
        known: dict[str, str] | None = getattr(request.state, "rate_limit_headers", None)
        if known is not None:
            return known
    current = getattr(request.state, "view_rate_limit", None)
    limiter: Limiter | None = getattr(request.app.state, "limiter", None)
    if current is None or limiter is None:
        return {"Retry-After": "1"} if exceeded else {}
    limit_item, key_parts = current
    try:
        reset_at, remaining = limiter.limiter.get_window_stats(limit_item, *key_parts)
    except Exception:
        # Storage went away between the hit and the stats: say what we know.
        reset_at, remaining = time.time() + limit_item.get_expiry(), 0
    reset_in = max(1, math.ceil(reset_at - time.time()))
    headers = {
        "X-RateLimit-Limit": str(limit_item.amount),
        "X-RateLimit-Remaining": str(max(0, remaining)),
        "X-RateLimit-Reset": str(reset_in),
    }
    if exceeded:
        headers["Retry-After"] = str(reset_in)
    return headers


class RateLimit:
    """A dependency enforcing the limit named by a setting, counted per `key_func`.

    All routes guarded by the same `RateLimit` share one budget per key.
    """

    def __init__(
        self,
        name: str,
        limit_setting: str,
        key_func: Callable[[Request], str] = client_or_ip_key,
    ) -> None:
        self.name = name
        self.limit_setting = limit_setting
        self.key_func = key_func
        # slowapi calls inspect.signature(key_func) on every request; a signature worked
        # out once and kept on the function is returned as it is (5.7 -> 1.1 us).
        if not hasattr(key_func, "__signature__"):
            setattr(key_func, "__signature__", inspect.signature(key_func))  # noqa: B010
        self._markers: dict[int, Callable[[Request], None]] = {}

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

    async def __call__(self, request: Request, response: Response) -> None:
        limiter: Limiter = request.app.state.limiter
        if not limiter.enabled:
            return
        settings: Settings = request.app.state.settings
        marker = self._marker_for(limiter, settings)

        def check() -> dict[str, str]:
            limiter._check_request_limit(request, marker, False)
            return rate_limit_headers(request)

        try:
            if storage_is_shared(settings):
                # Blocking network calls (the hit, then the window's stats for the
                # headers): one trip to a worker thread for both, off the event loop.
                headers = await anyio.to_thread.run_sync(check)
            else:
                headers = check()
        except RateLimitExceeded:
            RATE_LIMIT_REJECTIONS.labels(limit=self.name).inc()
            raise
        request.state.rate_limit_headers = headers
        response.headers.update(headers)
