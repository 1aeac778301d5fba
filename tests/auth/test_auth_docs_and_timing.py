"""The auth contract as a client developer meets it: OpenAPI, and no id enumeration."""

import statistics
import time
from typing import Any

import httpx
import pytest

from src.rate_limiter import reset_limits
from tests.conftest import RunningApp, create_api_client

pytestmark = pytest.mark.anyio


async def test_openapi_documents_bearer_auth_and_token_examples(client: httpx.AsyncClient) -> None:
    schema: dict[str, Any] = (await client.get("/api/v1/docs/openapi.json")).json()
    assert schema["components"]["securitySchemes"]["BearerToken"]["scheme"] == "bearer"
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            declared = any("BearerToken" in r for r in operation.get("security", []))
            if path.startswith("/voice"):
                assert declared, (method, path)
            elif path in ("/healthcheck", "/readiness", "/auth/token"):
                assert not declared, (method, path)
    token_body = schema["paths"]["/auth/token"]["post"]["requestBody"]["content"][
        "application/json"
    ]
    ref = token_body["schema"]["$ref"].split("/")[-1]
    properties = schema["components"]["schemas"][ref]["properties"]
    assert properties["secret_id"]["examples"][0].startswith("sid_")
    assert properties["secret_key"]["examples"][0].startswith("sk_")


async def test_unknown_id_and_wrong_key_look_the_same(
    lifespan: RunningApp, client: httpx.AsyncClient
) -> None:
    creds = await create_api_client(lifespan, "timing")
    unknown = {"secret_id": "sid_" + "q" * 24, "secret_key": "sk_" + "b" * 43}
    wrong = {"secret_id": creds["secret_id"], "secret_key": "sk_" + "b" * 43}
    timings: dict[str, list[float]] = {"unknown": [], "wrong": []}
    bodies = set()
    for _ in range(4):  # interleaved; the per-IP limit allows 10 a minute
        for name, body in (("unknown", unknown), ("wrong", wrong)):
            reset_limits(lifespan.app.state)
            started = time.perf_counter()
            response = await client.post("/api/v1/auth/token", json=body)
            timings[name].append(time.perf_counter() - started)
            assert response.status_code == 400
            data = response.json()
            bodies.add((data["code"], data["msg"], tuple(sorted(data["data"]))))
    assert len(bodies) == 1  # same status, code and fields
    # Both run one argon2 verification (a dummy hash for unknown ids): same order of time.
    ratio = statistics.median(timings["unknown"]) / statistics.median(timings["wrong"])
    assert 0.5 < ratio < 2.0, timings
