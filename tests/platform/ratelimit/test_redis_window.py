"""The batched Redis window counter against a real redis-server of its own: exact
counts under concurrency with few round trips, a forgotten script reloaded, and
counting in memory (never failing) while Redis is stopped or hung."""

import asyncio
from collections.abc import Iterator

import pytest

from src.platform.observability.metrics import RATE_LIMIT_STORAGE_ERRORS
from src.platform.ratelimit.redis_window import RedisWindowCounter
from tests.processes import PrivateRedis, private_redis

pytestmark = pytest.mark.anyio


@pytest.fixture
def redis() -> Iterator[PrivateRedis]:
    with private_redis() as server:
        yield server


def _reads_processed(redis: PrivateRedis) -> int:
    stats = dict(
        line.split(":", 1) for line in redis.cli("info", "stats").splitlines() if ":" in line
    )
    return int(stats["total_reads_processed"])


async def test_concurrent_hits_count_exactly_in_few_round_trips(redis: PrivateRedis) -> None:
    counter = RedisWindowCounter(redis.url, timeout=1.0)
    await counter.hit("warm-up", 60)  # connects and loads the script
    reads_before = _reads_processed(redis)
    hits = await asyncio.gather(*(counter.hit("client:a", 60) for _ in range(200)))
    reads = _reads_processed(redis) - reads_before
    await counter.aclose()
    assert sorted(hit.count for hit in hits) == list(range(1, 201))
    assert all(0 < hit.reset_in <= 60 for hit in hits)
    # 200 checks made together travel as a handful of pipelines, not 200 requests.
    print(f"\nFIGURE 200 concurrent checks reached Redis in {reads} reads")
    assert reads <= 20, reads
    assert redis.cli("get", "LIMITS:client:a").strip() == "200"


async def test_keys_are_counted_apart_and_expire_with_their_window(redis: PrivateRedis) -> None:
    counter = RedisWindowCounter(redis.url, timeout=1.0)
    assert (await counter.hit("client:a", 60)).count == 1
    assert (await counter.hit("client:b", 60)).count == 1
    assert (await counter.hit("client:a", 60, cost=3)).count == 4
    await counter.aclose()
    assert 0 < int(redis.cli("ttl", "LIMITS:client:a")) <= 60


async def test_a_forgotten_script_is_loaded_again(redis: PrivateRedis) -> None:
    counter = RedisWindowCounter(redis.url, timeout=1.0)
    assert (await counter.hit("client:a", 60)).count == 1
    redis.cli("script", "flush")  # as after a Redis restart
    assert (await counter.hit("client:a", 60)).count == 2
    await counter.aclose()


async def test_redis_stopped_counts_in_memory_without_failing(redis: PrivateRedis) -> None:
    counter = RedisWindowCounter(redis.url, timeout=0.2)
    assert (await counter.hit("client:a", 60)).count == 1
    errors_before = RATE_LIMIT_STORAGE_ERRORS._value.get()
    redis.stop()
    during = [await counter.hit("client:a", 60) for _ in range(3)]
    # This process's own window now: the limit still bites, per worker.
    assert [hit.count for hit in during] == [1, 2, 3]
    # Counted once per outage (then backing off), for the storage-errors alert.
    assert RATE_LIMIT_STORAGE_ERRORS._value.get() == errors_before + 1
    assert all(0 < hit.reset_in <= 60 for hit in during)
    await counter.aclose()


async def test_redis_hung_answers_from_memory_after_the_timeout(redis: PrivateRedis) -> None:
    counter = RedisWindowCounter(redis.url, timeout=0.2)
    assert (await counter.hit("client:a", 60)).count == 1
    sleeper = asyncio.create_task(asyncio.to_thread(redis.cli, "debug", "sleep", "2"))
    await asyncio.sleep(0.2)
    # Bounded by the storage timeout, not by how long Redis stays asleep.
    hit = await asyncio.wait_for(counter.hit("client:a", 60), timeout=1.5)
    assert hit.count == 1  # counted in memory
    await sleeper
    await counter.aclose()
