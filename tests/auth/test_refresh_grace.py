"""Refresh rotation for clients that retry: a grace period for the just-rotated token,
theft detection after it, and a clear 401 for the wrong kind of token."""

import asyncio

import httpx
import pytest

from src.config import Settings
from tests.conftest import (
    RunningApp,
    assert_envelope_error,
    create_api_client,
    other_app,
    token_for,
)

pytestmark = pytest.mark.anyio
REFRESH = "/api/v1/auth/refresh"
PROTECTED = "/api/v1/voice/orders"


async def test_concurrent_refreshes_of_one_token_all_get_the_same_new_pair(
    lifespan: RunningApp, settings: Settings
) -> None:
    async with other_app(settings, RATE_LIMIT_AUTH="100/minute") as client:
        await _ten_concurrent_refreshes(lifespan, client)


async def _ten_concurrent_refreshes(lifespan: RunningApp, client: httpx.AsyncClient) -> None:
    tokens = await token_for(client, await create_api_client(lifespan))
    body = {"refresh_token": tokens["refresh_token"]}
    answers = await asyncio.gather(*(client.post(REFRESH, json=body) for _ in range(10)))
    assert [a.status_code for a in answers] == [200] * 10
    pairs = {a.json()["data"]["refresh_token"] for a in answers}
    assert len(pairs) == 1  # one rotation, replayed to the other nine
    pair = answers[0].json()["data"]
    assert all(a.json()["data"] == pair for a in answers)
    # The winner's pair is alive: the family was not revoked as stolen.
    ok = await client.get(PROTECTED, headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert ok.status_code == 200
    again = await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
    assert again.status_code == 200


async def test_reuse_after_the_grace_period_revokes_the_family(
    lifespan: RunningApp, settings: Settings
) -> None:
    async with other_app(settings, REFRESH_REUSE_GRACE_SECONDS=1) as http:
        tokens = await token_for(http, await create_api_client(lifespan))
        first = await http.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
        assert first.status_code == 200
        new = first.json()["data"]
        await asyncio.sleep(1.2)
        stolen = await http.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
        assert_envelope_error(stolen, 401, "REFRESH_TOKEN_NOT_VALID")
        # The whole family went: the legitimate holder's newer token too.
        newer = await http.post(REFRESH, json={"refresh_token": new["refresh_token"]})
        assert_envelope_error(newer, 401, "REFRESH_TOKEN_NOT_VALID")


async def test_no_grace_when_it_is_zero(lifespan: RunningApp, settings: Settings) -> None:
    async with other_app(settings, REFRESH_REUSE_GRACE_SECONDS=0) as http:
        tokens = await token_for(http, await create_api_client(lifespan))
        body = {"refresh_token": tokens["refresh_token"]}
        assert (await http.post(REFRESH, json=body)).status_code == 200
        assert_envelope_error(await http.post(REFRESH, json=body), 401, "REFRESH_TOKEN_NOT_VALID")


async def test_a_revoked_family_is_not_replayed(
    lifespan: RunningApp, client: httpx.AsyncClient
) -> None:
    tokens = await token_for(client, await create_api_client(lifespan))
    body = {"refresh_token": tokens["refresh_token"]}
    assert (await client.post(REFRESH, json=body)).status_code == 200
    assert (await client.post("/api/v1/auth/revoke", json=body)).status_code == 200
    assert_envelope_error(await client.post(REFRESH, json=body), 401, "REFRESH_TOKEN_NOT_VALID")


async def test_an_access_token_sent_to_refresh_is_401(
    lifespan: RunningApp, client: httpx.AsyncClient
) -> None:
    tokens = await token_for(client, await create_api_client(lifespan))
    response = await client.post(REFRESH, json={"refresh_token": tokens["access_token"]})
    assert_envelope_error(response, 401, "REFRESH_TOKEN_NOT_VALID")
