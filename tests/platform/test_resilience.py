"""Dependencies down, unexpected errors, metrics labels: what an operator relies on."""

import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest
from fastapi import APIRouter
from prometheus_client import Histogram, generate_latest
from sqlalchemy import text

from src.config import Settings
from src.constants import Environment
from src.main import create_app
from src.platform.observability.logging import configure_logging
from src.platform.observability.metrics import (
    _HTTP_METRICS,
    _RECORDERS,
    DEPENDENCY_UNAVAILABLE,
    record_request,
)
from tests.conftest import (
    RunningApp,
    assert_envelope_error,
    checked_client,
    create_api_client,
    other_app,
    running,
)

pytestmark = pytest.mark.anyio


def closed_port() -> int:
    """A local port nothing listens on (connection refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_redis_down_keeps_serving_and_readiness_says_so(
    settings: Settings, lifespan: RunningApp
) -> None:
    creds = await create_api_client(lifespan, "redis down")
    async with other_app(
        settings,
        RATE_LIMIT_STORAGE_URI=f"redis://127.0.0.1:{closed_port()}/0",
        ASR_PRELOAD=False,
    ) as http:
        # Rate-limited routes keep answering, counted in memory meanwhile.
        for _ in range(3):
            response = await http.post(
                "/api/v1/auth/token",
                json={"secret_id": creds["secret_id"], "secret_key": creds["secret_key"]},
            )
            assert response.status_code == 200, response.text
            assert "x-ratelimit-limit" in response.headers
        token = response.json()["data"]["access_token"]
        orders = await http.get(
            "/api/v1/voice/orders", headers={"Authorization": f"Bearer {token}"}
        )
        assert orders.status_code == 200
        readiness = await http.get("/api/v1/readiness")
        data = assert_envelope_error(readiness, 503, "SERVICE_UNAVAILABLE")
        assert data["checks"]["ratelimit"] == "down"
        assert data["checks"]["database"] == "ok"


async def test_database_down_is_503_and_readiness_names_it(settings: Settings) -> None:
    async with other_app(
        settings,
        DATABASE_URL=f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/none",
        ASR_PRELOAD=False,
    ) as http:
        assert (await http.get("/api/v1/healthcheck")).status_code == 200  # liveness holds
        readiness = await http.get("/api/v1/readiness")
        data = assert_envelope_error(readiness, 503, "SERVICE_UNAVAILABLE")
        assert data["checks"]["database"] == "down"
        token = await http.post(
            "/api/v1/auth/token",
            json={"secret_id": "sid_" + "a" * 24, "secret_key": "sk_" + "b" * 43},
        )
        assert_envelope_error(token, 503, "SERVICE_UNAVAILABLE")
        assert token.headers["retry-after"]


def _failing_router() -> APIRouter:
    router = APIRouter()

    @router.get("/boom")
    async def boom() -> dict[str, Any]:
        raise RuntimeError("connection string postgres://admin:hunter2@db failed")

    return router


@pytest.mark.parametrize("environment", ["PRODUCTION", "LOCAL"])
async def test_unexpected_errors_are_500_envelopes(settings: Settings, environment: str) -> None:
    from src.main import create_app
    from tests.conftest import check_error_envelope, with_request_state

    production = settings.model_copy(
        update={
            "ENVIRONMENT": Environment(environment),
            "JWT_SECRET": settings.JWT_SECRET,
            "CORS_ORIGINS": ["https://pos.example"],
        }
    )
    app = create_app(production)
    api = next(route.app for route in app.routes if getattr(route, "path", "") == "/api/v1")
    api.include_router(_failing_router())
    transport = httpx.ASGITransport(app=with_request_state(app, {}), raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://test",
        event_hooks={"response": [check_error_envelope]},
    ) as http:
        response = await http.get("/api/v1/boom", headers={"X-Request-ID": "boom-1"})
    data = assert_envelope_error(response, 500, "INTERNAL_ERROR")
    assert data["request_id"] == "boom-1"
    if environment == "PRODUCTION":
        assert data == {"request_id": "boom-1"}
        assert "hunter2" not in response.text and "RuntimeError" not in response.text


def _count(metrics: str, handler: str, status: str, metric: str = "http_requests_total") -> float:
    pattern = (
        rf'^{metric}{{handler="{re.escape(handler)}",method="GET",'
        rf'status="{status}"}} ([0-9.e+]+)$'
    )
    found = re.search(pattern, metrics, re.M)
    return float(found.group(1)) if found else 0.0


async def test_metrics_use_route_templates(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    route = "/api/v1/voice/orders/{order_id}"
    before = (await client.get("/metrics")).text
    for n in range(3):
        await client.get(f"/api/v1/voice/orders/ord_{n}abc", headers=merchant["headers"])
        await client.get(f"/api/v1/no/such/path/{n}")
    metrics = (await client.get("/metrics")).text
    assert _count(metrics, route, "4xx") - _count(before, route, "4xx") == 3  # each once
    assert _count(metrics, "none", "4xx") - _count(before, "none", "4xx") == 3
    timed = "http_request_duration_seconds_count"
    assert _count(metrics, route, "4xx", timed) - _count(before, route, "4xx", timed) == 3
    assert "ord_0abc" not in metrics and "/no/such/path" not in metrics
    assert 'handler="none"' in metrics  # unknown paths share one series
    assert "http_requests_inprogress" in metrics


def test_a_request_records_into_pfi_series_bound_once() -> None:
    # pfi's instrumentations are bound to their labelled series on first use, so a
    # request does not pay prometheus_client's labels() again; if pfi changes shape,
    # its instrumentation is called as before, and this test says the binding is gone.
    route = "/api/v1/test/bound"
    timed = "http_request_duration_seconds_count"
    before = generate_latest().decode()
    for _ in range(2):
        record_request("GET", route, 201, 0.02)
    after = generate_latest().decode()
    assert _count(after, route, "2xx") - _count(before, route, "2xx") == 2
    assert _count(after, route, "2xx", timed) - _count(before, route, "2xx", timed) == 2
    counted, timed_series = _RECORDERS[("GET", route, "2xx")]
    assert isinstance(getattr(timed_series, "__self__", None), Histogram)
    assert counted.__closure__ is not None and not any(
        callable(cell.cell_contents) and cell.cell_contents in _HTTP_METRICS
        for cell in counted.__closure__
    )


@asynccontextmanager
async def one_connection_app(
    settings: Settings, lifespan: RunningApp, pool_timeout: float
) -> AsyncIterator[tuple[RunningApp, httpx.AsyncClient, dict[str, str]]]:
    """The app with a database pool of one connection (and no speech model), a client
    of it and that API client's login body."""
    creds = await create_api_client(lifespan, "one connection")
    login = {"secret_id": creds["secret_id"], "secret_key": creds["secret_key"]}
    application = create_app(
        settings.model_copy(
            update={
                "DATABASE_POOL_SIZE": 1,
                "DATABASE_MAX_OVERFLOW": 0,
                "DATABASE_POOL_TIMEOUT": pool_timeout,
                "ASR_PRELOAD": False,
            }
        )
    )
    try:
        async with (
            running(application) as started,
            checked_client(started.asgi, "10.9.9.7") as http,
        ):
            yield started, http, login
    finally:
        configure_logging(settings)


async def test_no_free_database_connection_in_time_is_503_and_retryable(
    settings: Settings, lifespan: RunningApp
) -> None:
    async with one_connection_app(settings, lifespan, 0.3) as (started, http, login):
        # The pool's one connection, busy elsewhere for longer than the timeout.
        timeouts = DEPENDENCY_UNAVAILABLE.labels(dependency="database_pool")
        before = timeouts._value.get()
        async with started.state["engine"].connect() as busy:
            await busy.execute(text("SELECT 1"))
            waited = await http.post("/api/v1/auth/token", json=login)
        assert_envelope_error(waited, 503, "SERVICE_UNAVAILABLE")
        assert timeouts._value.get() == before + 1  # what the pool-timeout alert watches
        assert waited.headers["retry-after"] == "1"
        # Once it is free again, the same request goes through.
        again = await http.post("/api/v1/auth/token", json=login)
        assert again.status_code == 200, again.text


async def test_a_slow_speech_upload_holds_no_database_connection(
    settings: Settings, lifespan: RunningApp
) -> None:
    async with one_connection_app(settings, lifespan, 0.5) as (_started, http, login):
        token = (await http.post("/api/v1/auth/token", json=login)).json()["data"]
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        body_may_finish = anyio.Event()

        async def trickle() -> AsyncIterator[bytes]:
            yield b'{"audio": "'
            await body_may_finish.wait()
            yield b'AAAA"}'

        results: dict[str, httpx.Response] = {}

        async def send_speech() -> None:
            results["speech"] = await http.post(
                "/api/v1/voice/speech",
                content=trickle(),
                headers={**headers, "Content-Type": "application/json"},
            )

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(send_speech)
            await anyio.sleep(0.2)  # its catalog is read; its body is still arriving
            # The pool's only connection must be free for this one meanwhile.
            results["refresh"] = await http.post(
                "/api/v1/auth/refresh", json={"refresh_token": token["refresh_token"]}
            )
            body_may_finish.set()
        assert results["refresh"].status_code == 200, results["refresh"].text
        # The model is not loaded here (ASR_PRELOAD off): 503 naming the model.
        assert_envelope_error(results["speech"], 503, "SERVICE_UNAVAILABLE")
        assert "speech_model" in results["speech"].json()["data"]["checks"]
