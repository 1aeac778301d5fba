"""Auth: the token lifecycle and every auth error, against the real database."""

import time

import httpx
import jwt
import pytest
from starlette.requests import Request

from src.auth import service
from src.auth.dependencies import guarded_client
from src.auth.exceptions import AuthenticationRequired
from tests.conftest import RunningApp, assert_envelope_error, create_api_client, token_for

pytestmark = pytest.mark.anyio

PROTECTED = "/api/v1/voice/orders"


async def test_full_token_lifecycle(lifespan: RunningApp, client: httpx.AsyncClient) -> None:
    creds = await create_api_client(lifespan)
    response = await client.post(
        "/api/v1/auth/token",
        json={"secret_id": creds["secret_id"], "secret_key": creds["secret_key"]},
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    tokens = response.json()["data"]
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 900
    ok = await client.get(PROTECTED, headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert ok.status_code == 200

    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 200
    new = refreshed.json()["data"]
    assert new["refresh_token"] != tokens["refresh_token"]

    # Presented again at once (a retry of a lost answer): the same new pair.
    retried = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert retried.status_code == 200 and retried.json()["data"] == new
    # Rotation goes on from the new token (reuse after the grace period:
    # tests/auth/test_refresh_grace.py).
    newest = await client.post("/api/v1/auth/refresh", json={"refresh_token": new["refresh_token"]})
    assert newest.status_code == 200


async def test_revoke_is_idempotent(lifespan: RunningApp, client: httpx.AsyncClient) -> None:
    tokens = await token_for(client, await create_api_client(lifespan))
    body = {"refresh_token": tokens["refresh_token"]}
    for _ in range(2):
        response = await client.post("/api/v1/auth/revoke", json=body)
        assert response.status_code == 200
        assert response.json()["data"] == {"revoked": True}
    assert_envelope_error(
        await client.post("/api/v1/auth/refresh", json=body), 401, "REFRESH_TOKEN_NOT_VALID"
    )


@pytest.mark.parametrize(
    ("secret_id", "secret_key", "code"),
    [
        ("not-an-id", "sk_" + "a" * 43, "SECRET_ID_INVALID"),
        ("sid_" + "a" * 24, "short", "SECRET_KEY_INVALID"),
        ("sid_" + "a" * 24, "sk_" + "a" * 43, "INVALID_CREDENTIALS"),
    ],
)
async def test_credential_errors(
    client: httpx.AsyncClient, secret_id: str, secret_key: str, code: str
) -> None:
    response = await client.post(
        "/api/v1/auth/token", json={"secret_id": secret_id, "secret_key": secret_key}
    )
    assert_envelope_error(response, 400, code)


async def test_wrong_key_of_a_real_client(lifespan: RunningApp, client: httpx.AsyncClient) -> None:
    creds = await create_api_client(lifespan)
    response = await client.post(
        "/api/v1/auth/token", json={"secret_id": creds["secret_id"], "secret_key": "sk_" + "b" * 43}
    )
    assert_envelope_error(response, 400, "INVALID_CREDENTIALS")


async def test_missing_token_is_401_with_challenge(client: httpx.AsyncClient) -> None:
    response = await client.get(PROTECTED)
    assert_envelope_error(response, 401, "AUTHENTICATION_REQUIRED")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_token_in_query_string_is_not_accepted(
    lifespan: RunningApp, client: httpx.AsyncClient
) -> None:
    tokens = await token_for(client, await create_api_client(lifespan))
    response = await client.get(PROTECTED, params={"access_token": tokens["access_token"]})
    assert_envelope_error(response, 401, "AUTHENTICATION_REQUIRED")


def _forge(claims: dict, key: str = "x" * 48, algorithm: str = "HS256") -> str:  # type: ignore[type-arg]
    return jwt.encode(claims, key, algorithm=algorithm)


async def test_forged_tokens_are_rejected(lifespan: RunningApp, client: httpx.AsyncClient) -> None:
    settings = lifespan.app.state.settings
    secret = settings.JWT_SECRET.get_secret_value()
    tokens = await token_for(client, await create_api_client(lifespan))
    real = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    now = int(time.time())
    header, _payload, signature = tokens["access_token"].split(".")
    tampered_payload = jwt.utils.base64url_encode(
        jwt.api_jws.json.dumps({**real, "scope": "voice admin"}).encode()
    ).decode()
    # Each refused with INVALID_TOKEN, and `data.reason` saying why.
    forged = {
        "wrong key": (_forge(real, key="another-key-" + "y" * 40), "bad_signature"),
        "alg none": (jwt.encode(real, None, algorithm="none"), "bad_signature"),
        "expired": (
            _forge({**real, "iat": now - 3600, "exp": now - 1800}, key=secret),
            "expired",
        ),
        "no exp": (_forge({k: v for k, v in real.items() if k != "exp"}, key=secret), "malformed"),
        "refresh as access": (tokens["refresh_token"], "malformed"),
        "garbage": ("not-a-token", "malformed"),
        "wrong typ": (_forge({**real, "typ": "refresh"}, key=secret), "wrong_type"),
        "tampered": (f"{header}.{tampered_payload}.{signature}", "bad_signature"),
        "HS512 confusion": (_forge(real, key=secret, algorithm="HS512"), "bad_signature"),
    }
    for name, (token, reason) in forged.items():
        response = await client.get(PROTECTED, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, name
        assert response.json()["msg"] == "INVALID_TOKEN", name
        assert response.json()["data"]["reason"] == reason, name


async def test_missing_scope_is_403(lifespan: RunningApp, client: httpx.AsyncClient) -> None:
    settings = lifespan.app.state.settings
    tokens = await token_for(client, await create_api_client(lifespan))
    real = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    token = _forge({**real, "scope": ""}, key=settings.JWT_SECRET.get_secret_value())
    response = await client.get(PROTECTED, headers={"Authorization": f"Bearer {token}"})
    assert_envelope_error(response, 403, "AUTHORIZATION_FAILED")


async def test_disabled_client_loses_access_at_once(
    lifespan: RunningApp, client: httpx.AsyncClient
) -> None:
    creds = await create_api_client(lifespan)
    tokens = await token_for(client, creds)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await client.get(PROTECTED, headers=headers)).status_code == 200
    async with lifespan.state["sessionmaker"]() as session:
        await service.disable_client(
            db_session=session,
            secret_id=creds["secret_id"],
            caches=lifespan.state["auth_caches"],
        )
    refused = assert_envelope_error(
        await client.get(PROTECTED, headers=headers), 401, "INVALID_TOKEN"
    )
    assert refused["reason"] == "revoked"
    body = {"secret_id": creds["secret_id"], "secret_key": creds["secret_key"]}
    assert_envelope_error(
        await client.post("/api/v1/auth/token", json=body), 400, "INVALID_CREDENTIALS"
    )


async def test_rotate_secret_invalidates_old_key_and_tokens(
    lifespan: RunningApp, client: httpx.AsyncClient
) -> None:
    creds = await create_api_client(lifespan)
    tokens = await token_for(client, creds)
    async with lifespan.state["sessionmaker"]() as session:
        rotated = await service.rotate_secret(
            db_session=session,
            secret_id=creds["secret_id"],
            caches=lifespan.state["auth_caches"],
        )
    assert rotated is not None and rotated.secret_key != creds["secret_key"]
    old = {"secret_id": creds["secret_id"], "secret_key": creds["secret_key"]}
    assert_envelope_error(
        await client.post("/api/v1/auth/token", json=old), 400, "INVALID_CREDENTIALS"
    )
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert_envelope_error(await client.get(PROTECTED, headers=headers), 401, "INVALID_TOKEN")
    await token_for(client, {**old, "secret_key": rotated.secret_key})


async def test_client_cannot_redeem_another_clients_refresh_token(
    lifespan: RunningApp, client: httpx.AsyncClient
) -> None:
    alice = await token_for(client, await create_api_client(lifespan, "alice"))
    bob = await token_for(client, await create_api_client(lifespan, "bob"))
    response = await client.post(
        "/api/v1/auth/refresh",
        json={"refresh_token": alice["refresh_token"]},
        headers={"Authorization": f"Bearer {bob['access_token']}"},
    )
    assert_envelope_error(response, 401, "REFRESH_TOKEN_NOT_VALID")


async def test_brute_force_gets_429_with_headers(client: httpx.AsyncClient, app) -> None:  # type: ignore[no-untyped-def]
    limit = int(app.state.settings.RATE_LIMIT_AUTH.split("/")[0])
    body = {"secret_id": "sid_" + "c" * 24, "secret_key": "sk_" + "c" * 43}
    statuses = [
        (await client.post("/api/v1/auth/token", json=body)).status_code for _ in range(limit)
    ]
    assert statuses == [400] * limit
    response = await client.post("/api/v1/auth/token", json=body)
    assert_envelope_error(response, 429, "RATE_LIMIT_EXCEEDED")
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert response.headers["x-ratelimit-limit"] == str(limit)
    assert response.headers["x-ratelimit-remaining"] == "0"


async def test_secrets_never_reach_the_logs(
    lifespan: RunningApp, client: httpx.AsyncClient, log_file
) -> None:  # type: ignore[no-untyped-def]
    import logging

    creds = await create_api_client(lifespan)
    tokens = await token_for(client, creds)
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    await client.get(PROTECTED, headers=headers)
    logging.getLogger("test").warning("careless %s", {"secret_key": creds["secret_key"]})
    logging.getLogger("test").warning("header Authorization: Bearer %s", tokens["access_token"])
    from src.platform.observability.logging import _runtime

    assert _runtime is not None
    _runtime.listener.stop()  # flush the queue to the file
    _runtime.listener.start()
    text = log_file.read_text()
    assert "careless" in text
    secrets = [
        creds["secret_key"],
        tokens["access_token"],
        tokens["refresh_token"],
        refreshed.json()["data"]["access_token"],
        refreshed.json()["data"]["refresh_token"],
    ]
    for secret in secrets:
        assert secret not in text


def test_a_route_reading_the_guarded_client_without_a_guard_fails_closed() -> None:
    unguarded = Request({"type": "http", "method": "GET", "headers": [], "state": {}})
    with pytest.raises(AuthenticationRequired):
        guarded_client(unguarded)
