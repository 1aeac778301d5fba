"""Rate-limit response headers: computed once per request when its limit is checked,
kept in the request's state, and added to whatever answers it by the middleware."""

import math
import time
from typing import Any

from slowapi import Limiter
from starlette.requests import Request

RATE_LIMIT_HEADERS_KEY = "rate_limit_headers"  # in the request's state


def rate_limit_headers(request: Request, *, exceeded: bool = False) -> dict[str, str]:
    """`X-RateLimit-*` for the limit this request was counted against, `Retry-After` if over.

    Computed once, when the limit is checked, and kept in the request's state, from
    which RequestContextMiddleware adds them to the response, whatever answers it.
    """
    known: dict[str, str] | None = getattr(request.state, RATE_LIMIT_HEADERS_KEY, None)
    if known is not None and (not exceeded or "Retry-After" in known):
        return known
    current = getattr(request.state, "view_rate_limit", None)
    limiter: Limiter | None = getattr(request.app.state, "limiter", None)
    if current is None or limiter is None:
        headers = {"Retry-After": "1"} if exceeded else {}
    else:
        limit_item, key_parts = current
        try:
            reset_at, remaining = limiter.limiter.get_window_stats(limit_item, *key_parts)
        except Exception:
            # Storage went away between the hit and the stats: say what we know.
            reset_at, remaining = time.time() + limit_item.get_expiry(), 0
        reset_in = reset_at - time.time()
        headers = window_headers(limit_item.amount, remaining, reset_in, exceeded=exceeded)
    setattr(request.state, RATE_LIMIT_HEADERS_KEY, headers)
    return headers


def rate_limit_header_lines(state: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    """The rate-limit headers a request's state holds, as ASGI header lines."""
    headers: dict[str, str] | None = state.get(RATE_LIMIT_HEADERS_KEY)
    if not headers:
        return []
    return [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
    ]


def window_headers(
    amount: int, remaining: int, reset_in: float, *, exceeded: bool
) -> dict[str, str]:
    """`X-RateLimit-*` for a limit of `amount` per window, and `Retry-After` if `exceeded`."""
    reset_seconds = max(1, math.ceil(reset_in))
    headers = {
        "X-RateLimit-Limit": str(amount),
        "X-RateLimit-Remaining": str(max(0, remaining)),
        "X-RateLimit-Reset": str(reset_seconds),
    }
    if exceeded:
        headers["Retry-After"] = str(reset_seconds)
    return headers
