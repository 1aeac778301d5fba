"""Rate limits with four gunicorn workers sharing one Redis: exact under a burst, no 5xx
when Redis stops (over-admission bounded by per-worker fallback counters), and routes
without limits unaffected while Redis hangs."""

import asyncio
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from src.platform.db.migrate import upgrade
from tests.processes import (
    PrivateRedis,
    ProdServer,
    bearer,
    create_credentials,
    private_redis,
    prod_env,
    prod_server,
)

LIMIT = 100
WORKERS = 4


@pytest.fixture
def redis() -> Iterator[PrivateRedis]:
    with private_redis() as server:
        yield server


def _server(tmp_path: Path, redis: PrivateRedis, **extra: str) -> Iterator[ProdServer]:
    database = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    upgrade(database)
    env = prod_env(
        tmp_path,
        database,
        WEB_CONCURRENCY=str(WORKERS),
        RATE_LIMIT_STORAGE_URI=redis.url,
        RATE_LIMIT_DEFAULT=f"{LIMIT}/minute",
        # A slow client (200 connections from one Python process) can leave a pooled
        # connection idle past the 5 s keep-alive, and reusing it as the server closes
        # it is a transport error: not what these tests are about.
        GUNICORN_KEEPALIVE="60",
        **extra,
    )
    with prod_server(tmp_path, env) as running:
        yield running


@pytest.fixture
def server(tmp_path: Path, redis: PrivateRedis) -> Iterator[ProdServer]:
    yield from _server(tmp_path, redis)


@pytest.fixture
def saturated_server(tmp_path: Path, redis: PrivateRedis) -> Iterator[ProdServer]:
    # 200 requests in flight on 4 workers and 2 cores: each worker's event loop has
    # ~50 requests of CPU work between sending a Redis check and reading its answer,
    # about the default 0.1 s storage timeout. Past it a worker counts in memory for
    # a second (the over-admission test below); here the storage is up and counts.
    yield from _server(tmp_path, redis, RATE_LIMIT_STORAGE_TIMEOUT="0.5")


async def _burst(url: str, headers: dict[str, str], total: int, concurrency: int) -> Counter[int]:
    """`total` GETs with at most `concurrency` in flight; count answers by status."""
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    statuses: Counter[int] = Counter()
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as http:

        async def one() -> None:
            async with gate:
                statuses[(await http.get(url)).status_code] += 1

        await asyncio.gather(*(one() for _ in range(total)))
    return statuses


def test_four_workers_admit_exactly_the_limit(saturated_server: ProdServer) -> None:
    server = saturated_server
    headers = bearer(server.api, create_credentials(server.env))
    statuses = asyncio.run(_burst(server.api + "/voice/orders", headers, 1000, 200))
    print(f"\nFIGURE rate limit, 4 workers on Redis, 1000 @ 200: {dict(statuses)}")
    assert statuses == {200: LIMIT, 429: 1000 - LIMIT}


def test_redis_stopped_no_5xx_and_bounded_over_admission(
    server: ProdServer, redis: PrivateRedis
) -> None:
    headers = bearer(server.api, create_credentials(server.env))
    before = asyncio.run(_burst(server.api + "/voice/orders", headers, 50, 10))
    assert before == {200: 50}
    redis.stop()
    concurrency = 50
    after = asyncio.run(_burst(server.api + "/voice/orders", headers, 1000, concurrency))
    print(f"\nFIGURE rate limit with Redis stopped, 1000 @ 50 after 50 admitted: {dict(after)}")
    assert set(after) <= {200, 429}  # no 5xx, nothing else
    # Each worker counts in its own memory meanwhile (one limit per worker), and the
    # checks already in flight when Redis went away are let through uncounted.
    assert LIMIT - 50 <= after[200] <= WORKERS * LIMIT + concurrency
    ready = httpx.get(server.api + "/readiness", timeout=5)
    assert ready.json()["data"]["checks"]["ratelimit"] == "down"


def test_redis_hung_unlimited_routes_keep_answering(
    server: ProdServer, redis: PrivateRedis
) -> None:
    headers = bearer(server.api, create_credentials(server.env))
    hang_seconds = 3
    sleeper = threading.Thread(target=redis.cli, args=("debug", "sleep", str(hang_seconds)))
    probe_ms: list[float] = []
    limited: Counter[int] = Counter()
    with httpx.Client(timeout=10) as http:
        sleeper.start()
        time.sleep(0.2)  # Redis is now asleep
        deadline = time.monotonic() + hang_seconds - 0.5
        while time.monotonic() < deadline:
            started = time.perf_counter()
            assert http.get(server.api + "/healthcheck").status_code == 200
            probe_ms.append((time.perf_counter() - started) * 1000)
            # A limited route in between: answered from fallback counters.
            limited[http.get(server.api + "/voice/orders", headers=headers).status_code] += 1
    sleeper.join()
    p99 = statistics.quantiles(probe_ms, n=100)[98]
    print(
        f"\nFIGURE Redis hung {hang_seconds} s: healthcheck p99 {p99:.1f} ms over "
        f"{len(probe_ms)} probes; limited route answers {dict(limited)}"
    )
    assert p99 < 100
    # Counted in each worker's memory meanwhile, so the limit still bites; never a 5xx.
    assert set(limited) <= {200, 429} and limited[200] >= 1
