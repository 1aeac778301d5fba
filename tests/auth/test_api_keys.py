"""Static API keys: made once, stored as a hash, accepted as a bearer on protected
routes with the client's scopes and budget, refused once revoked or disabled."""

import subprocess
from typing import Any

import anyio.to_thread
import httpx
import pytest
from sqlalchemy import select

from src.auth import api_keys, service
from src.auth.models import ApiKey
from tests.conftest import (
    RunningApp,
    assert_envelope_error,
    cafe_catalog,
    create_api_client,
    other_app,
    remember_secrets,
    token_for,
)
from tests.processes import run_module

pytestmark = pytest.mark.anyio


async def _new_key(lifespan: RunningApp, secret_id: str, name: str = "pos tool") -> str:
    async with lifespan.state["sessionmaker"]() as session:
        issued = await api_keys.create_api_key(db_session=session, secret_id=secret_id, name=name)
    remember_secrets(issued.api_key)
    return issued.api_key


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_a_key_works_like_a_token_and_only_its_hash_is_stored(
    lifespan: RunningApp, client: httpx.AsyncClient
) -> None:
    creds = await create_api_client(lifespan)
    key = await _new_key(lifespan, creds["secret_id"])
    assert key.startswith("vk_") and len(key) == 46
    put = await client.put("/api/v1/voice/catalog", json=cafe_catalog(), headers=_bearer(key))
    assert put.status_code == 200, put.text
    order = await client.post(
        "/api/v1/voice/order", json={"text": "two lattes"}, headers=_bearer(key)
    )
    assert order.status_code == 201, order.text
    # The same client through a token sees what the key did: one tenant, two credentials.
    tokens = await token_for(client, creds)
    listed = await client.get("/api/v1/voice/orders", headers=_bearer(tokens["access_token"]))
    assert [o["order_id"] for o in listed.json()["data"]["orders"]] == [
        order.json()["data"]["order_id"]
    ]
    async with lifespan.state["sessionmaker"]() as session:
        stored = (await session.execute(select(ApiKey))).scalars().all()
    assert stored and all(key not in (k.key_hash, k.shown, k.name) for k in stored)
    assert any(k.shown == key[:10] for k in stored)


async def test_a_key_of_another_client_sees_nothing_of_this_one(
    lifespan: RunningApp, client: httpx.AsyncClient
) -> None:
    first = await _new_key(lifespan, (await create_api_client(lifespan))["secret_id"])
    second = await _new_key(lifespan, (await create_api_client(lifespan))["secret_id"])
    await client.put("/api/v1/voice/catalog", json=cafe_catalog(), headers=_bearer(first))
    order = await client.post(
        "/api/v1/voice/order", json={"text": "a scone"}, headers=_bearer(first)
    )
    order_id = order.json()["data"]["order_id"]
    theirs = await client.get(f"/api/v1/voice/orders/{order_id}", headers=_bearer(second))
    assert_envelope_error(theirs, 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("key", "reason"),
    [("vk_short", "malformed"), ("vk_" + "A" * 43, "unknown")],
)
async def test_a_malformed_or_unknown_key_is_refused(
    client: httpx.AsyncClient, key: str, reason: str
) -> None:
    response = await client.get("/api/v1/voice/orders", headers=_bearer(key))
    data = assert_envelope_error(response, 401, "INVALID_TOKEN")
    assert data["reason"] == reason
    assert response.headers["www-authenticate"] == "Bearer"


async def test_revoked_keys_and_disabled_clients_are_refused(
    settings: Any, lifespan: RunningApp
) -> None:
    # A fresh app with the key cache off: the refusal is the database's word at once.
    async with other_app(settings, AUTH_CACHE_SECONDS=0) as http:
        creds = await create_api_client(lifespan)
        kept = await _new_key(lifespan, creds["secret_id"], "kept")
        revoked = await _new_key(lifespan, creds["secret_id"], "revoked")
        for key in (kept, revoked):
            assert (await http.get("/api/v1/voice/orders", headers=_bearer(key))).status_code == 200
        async with lifespan.state["sessionmaker"]() as session:
            summary = await api_keys.revoke_api_key(db_session=session, key=revoked)
            assert summary is not None and summary.revoked_at is not None
            # Again, by id: idempotent, still revoked.
            again = await api_keys.revoke_api_key(db_session=session, key=summary.key_id)
            assert again is not None and again.revoked_at == summary.revoked_at
        refused = await http.get("/api/v1/voice/orders", headers=_bearer(revoked))
        assert assert_envelope_error(refused, 401, "INVALID_TOKEN")["reason"] == "revoked"
        assert (await http.get("/api/v1/voice/orders", headers=_bearer(kept))).status_code == 200
        async with lifespan.state["sessionmaker"]() as session:
            await service.disable_client(db_session=session, secret_id=creds["secret_id"])
        refused = await http.get("/api/v1/voice/orders", headers=_bearer(kept))
        assert assert_envelope_error(refused, 401, "INVALID_TOKEN")["reason"] == "revoked"


async def test_a_key_and_a_token_of_one_client_share_its_budget(
    settings: Any, lifespan: RunningApp
) -> None:
    async with other_app(settings, RATE_LIMIT_DEFAULT="4/minute") as http:
        creds = await create_api_client(lifespan)
        key = await _new_key(lifespan, creds["secret_id"])
        token = (await token_for(http, creds))["access_token"]
        statuses = []
        for bearer in (key, token, key, token, key):
            response = await http.get("/api/v1/voice/orders", headers=_bearer(bearer))
            statuses.append(response.status_code)
        assert statuses == [200, 200, 200, 200, 429]
        assert response.headers["retry-after"]


async def test_the_cli_prints_a_key_once_lists_it_without_the_key_and_revokes_it(
    lifespan: RunningApp,
) -> None:
    async def cli(*args: str) -> subprocess.CompletedProcess[str]:
        # In a thread: the app's loop (its recommendation folds write every second)
        # must go on running, or a fold caught mid-write keeps the database locked.
        return await anyio.to_thread.run_sync(lambda: run_module("src.auth", *args))

    import json

    created = json.loads((await cli("create-client", "--name", "cli keys", "--json")).stdout)
    made = await cli("create-api-key", created["secret_id"], "--name", "kiosk", "--json")
    assert made.returncode == 0, made.stderr
    issued = json.loads(made.stdout)
    remember_secrets(issued["api_key"])
    assert issued["name"] == "kiosk" and issued["api_key"].startswith("vk_")
    listed = await cli("list-api-keys", created["secret_id"], "--json")
    rows = json.loads(listed.stdout)
    assert [(r["key_id"], r["name"], r["revoked_at"]) for r in rows] == [
        (issued["key_id"], "kiosk", None)
    ]
    assert issued["api_key"] not in listed.stdout
    assert (await cli("revoke-api-key", issued["api_key"])).returncode == 0
    rows = json.loads((await cli("list-api-keys", created["secret_id"], "--json")).stdout)
    assert rows[0]["revoked_at"] is not None
    assert (await cli("revoke-api-key", "key_" + "0" * 24)).returncode == 1
    assert (await cli("create-api-key", "sid_" + "0" * 24)).returncode == 1
