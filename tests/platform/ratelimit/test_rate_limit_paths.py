"""The default limit behaves the same on every path a check can take: memory or
Redis storage, fixed or moving window (the batched Redis counter, slowapi's strategy
in memory, slowapi's whole check in a worker thread)."""

from collections.abc import Iterator

import pytest

from src.config import Settings
from tests.conftest import (
    RunningApp,
    assert_envelope_error,
    create_api_client,
    other_app,
    token_for,
)
from tests.processes import PrivateRedis, private_redis

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def redis() -> Iterator[PrivateRedis]:
    with private_redis() as server:
        yield server


@pytest.mark.parametrize("strategy", ["fixed-window", "moving-window"])
@pytest.mark.parametrize("storage", ["memory", "redis"])
async def test_three_a_minute_then_429_with_headers(
    settings: Settings, lifespan: RunningApp, redis: PrivateRedis, storage: str, strategy: str
) -> None:
    uri = redis.url if storage == "redis" else "memory://"
    async with other_app(
        settings,
        RATE_LIMIT_STORAGE_URI=uri,
        RATE_LIMIT_STRATEGY=strategy,
        RATE_LIMIT_DEFAULT="3/minute",
    ) as http:
        creds = await create_api_client(lifespan, f"limits {storage} {strategy}")
        headers = {"Authorization": f"Bearer {(await token_for(http, creds))['access_token']}"}
        remaining = []
        # A list, an error answered after the count (404), a hand-built Response (catalog):
        # each carries the headers of the limit it was counted against, once.
        for path, status in [
            ("/api/v1/voice/orders", 200),
            ("/api/v1/voice/orders/ord_missing", 404),
            ("/api/v1/voice/catalog", 404),
        ]:
            response = await http.get(path, headers=headers)
            assert response.status_code == status, response.text
            assert response.headers.get_list("x-ratelimit-limit") == ["3"]
            assert 0 < int(response.headers["x-ratelimit-reset"]) <= 60
            remaining.append(int(response.headers["x-ratelimit-remaining"]))
        assert remaining == [2, 1, 0]
        refused = await http.get("/api/v1/voice/orders", headers=headers)
        assert_envelope_error(refused, 429, "RATE_LIMIT_EXCEEDED")
        assert refused.headers["x-ratelimit-remaining"] == "0"
        assert 0 < int(refused.headers["retry-after"]) <= 60
        # Another client has a budget of its own.
        other = await create_api_client(lifespan, f"other {storage} {strategy}")
        other_headers = {
            "Authorization": f"Bearer {(await token_for(http, other))['access_token']}"
        }
        assert (await http.get("/api/v1/voice/orders", headers=other_headers)).status_code == 200
