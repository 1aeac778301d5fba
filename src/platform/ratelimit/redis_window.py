"""Fixed-window rate-limit counts in Redis: async, one script call per check, and the
checks that arrive together sent in one round trip.

slowapi calls Redis synchronously, so a limited request either blocks the event loop
for its round trips or pays a hop to a worker thread (measured: ~160 us, more than
the round trips). Here a check is an awaitable: it joins the batch being gathered,
and one pipeline carries every check made while the previous batch was in flight.
Under load that is many checks per round trip; alone, a check is one round trip.

The script is limits' `incr_expire` (same key layout, same window semantics: the
window starts at the first hit) that also answers the key's remaining time, so the
`X-RateLimit-*` headers need no second round trip (limits reads them with two more).
"""

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError
from redis.retry import Retry

from src.platform.observability.metrics import RATE_LIMIT_STORAGE_ERRORS
from src.platform.ratelimit.memory_window import MemoryWindowCounter, WindowHit

logger = logging.getLogger(__name__)

# limits' incr_expire.lua, plus the key's time to live in milliseconds.
INCR_EXPIRE_TTL = """
local amount = tonumber(ARGV[2])
local current = redis.call("incrby", KEYS[1], amount)
if tonumber(current) == amount then
    redis.call("expire", KEYS[1], ARGV[1])
end
return {current, redis.call("pttl", KEYS[1])}
"""

# limits' RedisStorage prefix: the same limit counts in the same key either way.
KEY_PREFIX = "LIMITS"

# After a failure Redis is not asked again for a while (doubling up to 32 s, as
# slowapi does), so a hung Redis costs one timeout per interval, not per request.
MAX_BACKOFF_SECONDS = 32.0


class StorageUnavailable(Exception):
    """Redis did not answer (down, or hung past the timeout)."""


@dataclass(slots=True)
class _Check:
    key: str
    expiry: int
    cost: int
    done: "asyncio.Future[WindowHit]"


class RedisWindowCounter:
    """Batched fixed-window counters in one Redis database, for one process.

    While Redis does not answer, checks are counted in this process's memory (as
    slowapi's in-memory fallback does): limits stay enforced, per worker, and no
    request fails because Redis did.

    The client is made on first use inside the running event loop (after a gunicorn
    fork, in the worker's loop), and made again if the loop changes.
    """

    def __init__(self, uri: str, timeout: float) -> None:
        self._uri = uri
        self._timeout = timeout
        self._client: redis.asyncio.Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._script_sha: str | None = None
        self._pending: list[_Check] = []
        self._sender: asyncio.Task[None] | None = None
        self._down_until = 0.0
        self._backoff = 0.0
        self._memory = MemoryWindowCounter()

    def _client_for(self, loop: asyncio.AbstractEventLoop) -> redis.asyncio.Redis:
        if self._client is None or self._loop is not loop:
            # Fail fast: no retries and a short timeout (RATE_LIMIT_STORAGE_TIMEOUT);
            # the caller counts in memory meanwhile.
            self._client = redis.asyncio.Redis.from_url(
                self._uri,
                socket_connect_timeout=self._timeout,
                socket_timeout=self._timeout,
                retry=Retry(NoBackoff(), 0),
                health_check_interval=0,
            )
            self._loop = loop
            self._pending = []
            self._sender = None
        return self._client

    async def hit(self, key: str, expiry: int, cost: int = 1) -> WindowHit:
        """Add `cost` to `key`'s window of `expiry` seconds; the count and reset after."""
        if time.monotonic() >= self._down_until:
            try:
                return await self._hit_redis(key, expiry, cost)
            except StorageUnavailable:
                pass
        return self._memory.count(key, expiry, cost)

    async def _hit_redis(self, key: str, expiry: int, cost: int) -> WindowHit:
        loop = asyncio.get_running_loop()
        self._client_for(loop)
        check = _Check(f"{KEY_PREFIX}:{key}", expiry, cost, loop.create_future())
        self._pending.append(check)
        if self._sender is None or self._sender.done():
            self._sender = loop.create_task(self._send_batches())
        return await check.done

    async def _send_batches(self) -> None:
        # One batch in flight at a time: the checks made meanwhile form the next one.
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                replies = await self._execute(batch)
            except (RedisError, OSError, TimeoutError) as exc:
                self._mark_down(exc)
                for check in batch:
                    if not check.done.done():
                        check.done.set_exception(StorageUnavailable())
                continue
            self._backoff = 0.0
            for check, (count, ttl_ms) in zip(batch, replies, strict=True):
                if not check.done.done():  # the request may have gone meanwhile
                    reset_in = ttl_ms / 1000 if ttl_ms > 0 else float(check.expiry)
                    check.done.set_result(WindowHit(int(count), reset_in))

    async def _execute(self, batch: list[_Check]) -> list[Any]:
        client = self._client_for(asyncio.get_running_loop())
        if self._script_sha is None:
            self._script_sha = await client.script_load(INCR_EXPIRE_TTL)
        try:
            return await self._pipeline(client, self._script_sha, batch)
        except NoScriptError:
            # Redis restarted (or was flushed) and forgot the script: load it again.
            self._script_sha = await client.script_load(INCR_EXPIRE_TTL)
            return await self._pipeline(client, self._script_sha, batch)

    @staticmethod
    async def _pipeline(client: redis.asyncio.Redis, sha: str, batch: list[_Check]) -> list[Any]:
        async with client.pipeline(transaction=False) as pipe:
            for check in batch:
                pipe.evalsha(sha, 1, check.key, check.expiry, check.cost)
            return list(await pipe.execute())

    def _mark_down(self, exc: BaseException) -> None:
        RATE_LIMIT_STORAGE_ERRORS.inc()
        self._backoff = min(MAX_BACKOFF_SECONDS, self._backoff * 2 or 1.0)
        self._down_until = time.monotonic() + self._backoff
        logger.warning(
            "rate-limit storage unavailable; counting in memory for %.0f s",
            self._backoff,
            extra={"error": type(exc).__name__},
        )

    def reset(self) -> None:
        """Forget the in-memory counts (tests; Redis keys expire on their own)."""
        self._memory.reset()

    async def aclose(self) -> None:
        """Close this loop's connections (lifespan shutdown)."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
