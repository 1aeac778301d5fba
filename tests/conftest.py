"""Test configuration: real databases, real Redis, the real app through httpx.

The environment is set before `src` is imported. DATABASE_URL and
RATE_LIMIT_STORAGE_URI select the backends (SQLite and memory by default; CI runs the
suite again on PostgreSQL and Redis). With REQUIRE_SERVICES=1 a test that needs
PostgreSQL or Redis fails instead of skipping.
"""

import contextlib
import json
import os
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

_TMP = Path(tempfile.mkdtemp(prefix="voice-api-tests-"))
os.environ.setdefault("ENVIRONMENT", "TESTING")
os.environ.setdefault("DATABASE_URL", f"sqlite+aiosqlite:///{_TMP / 'test.db'}")
os.environ.setdefault("RATE_LIMIT_STORAGE_URI", "memory://")
os.environ.setdefault("LOG_FILE_PATH", str(_TMP / "app.log"))
os.environ.setdefault("LOG_SPOOL_PATH", str(_TMP / "spool"))
# Each record handled at once, so it lands in the output of the test that logged it.
os.environ.setdefault("LOG_BATCH_SECONDS", "0")

import httpx  # noqa: E402
from asgi_lifespan import LifespanManager  # noqa: E402
from fastapi import FastAPI  # noqa: E402

from src.config import Settings, get_settings  # noqa: E402
from src.platform.db.migrate import migrate_fresh  # noqa: E402
from src.rate_limiter import reset_limits  # noqa: E402
from src.voice.catalog.index import CatalogIndex  # noqa: E402

DATA = Path(__file__).parent / "data"
POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def require_service(name: str, host: str, port: int) -> None:
    """Skip (or fail under REQUIRE_SERVICES=1) when a real service is not reachable."""
    if _port_open(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if REQUIRE_SERVICES:
        pytest.fail(message + " and REQUIRE_SERVICES=1")
    pytest.skip(message)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session", autouse=True)
def _migrated_database(settings: Settings) -> None:
    if settings.DATABASE_URL.startswith("postgresql"):
        require_service("PostgreSQL", "127.0.0.1", 5432)
    if settings.RATE_LIMIT_STORAGE_URI.startswith("redis"):
        require_service("Redis", "127.0.0.1", 6379)
    migrate_fresh(settings.DATABASE_URL)


@dataclass
class RunningApp:
    """The app with its lifespan running; `asgi` hands lifespan state to each request."""

    app: FastAPI
    asgi: Any
    state: dict[str, Any]


def with_request_state(application: Any, state: dict[str, Any]) -> Any:
    """Hand each request a shallow copy of the lifespan state, as uvicorn does.

    asgi_lifespan passes the one dict itself, so `request.state` would leak from
    one request into the next.
    """

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["state"] = dict(state)
        await application(scope, receive, send)

    return asgi


@asynccontextmanager
async def running(application: FastAPI) -> AsyncIterator[RunningApp]:
    async with LifespanManager(application) as manager:
        yield RunningApp(
            application, with_request_state(application, manager._state), manager._state
        )


@pytest.fixture(scope="session")
async def lifespan(settings: Settings) -> AsyncIterator[RunningApp]:
    """The real app (engine, logging, limiter) for the whole session."""
    from src.main import create_app

    async with running(create_app(settings)) as started:
        # The real speech model loads in the background (about a second).
        assert started.state["speech"].wait_loaded(120), "speech model did not load"
        assert started.state["speech"].ready, started.state["speech"].state
        yield started


@pytest.fixture(scope="session")
def app(lifespan: RunningApp) -> FastAPI:
    return lifespan.app


@pytest.fixture(autouse=True)
def _reset_limits(request: pytest.FixtureRequest) -> None:
    # Counters are per storage, not per test: start every test with a clean budget.
    if {"app", "lifespan", "client"} & set(request.fixturenames):
        app: FastAPI = request.getfixturevalue("app")
        reset_limits(app.state)


# API.md's error table: status -> the codes allowed as `msg`.
DOCUMENTED_ERRORS: dict[int, set[str]] = {
    400: {"SECRET_ID_INVALID", "SECRET_KEY_INVALID", "INVALID_CREDENTIALS", "BAD_REQUEST"},
    401: {"AUTHENTICATION_REQUIRED", "INVALID_TOKEN", "REFRESH_TOKEN_NOT_VALID"},
    403: {"AUTHORIZATION_FAILED"},
    404: {"NOT_FOUND", "MODEL_NOT_FOUND"},
    405: {"METHOD_NOT_ALLOWED"},
    409: {"IDEMPOTENCY_KEY_REUSED", "IDEMPOTENCY_KEY_IN_USE", "SESSION_CLOSED", "ITEM_UNAVAILABLE"},
    412: {"SESSION_VERSION_MISMATCH"},
    408: {"REQUEST_TIMEOUT"},
    413: {"PAYLOAD_TOO_LARGE"},
    415: {"UNSUPPORTED_MEDIA_TYPE"},
    422: {"VALIDATION_ERROR", "AUDIO_INVALID", "CART_EMPTY", "NOTHING_ORDERED"},
    429: {"RATE_LIMIT_EXCEEDED"},
    500: {"INTERNAL_ERROR"},
    503: {"SERVICE_BUSY", "SERVICE_UNAVAILABLE"},
}
ENVELOPE_CHECKS = {"errors": 0}
# The OpenAI-compatible paths: their errors are OpenAI's error object, not the envelope.
OPENAI_PATHS = ("/api/v1/audio/", "/api/v1/models")


def assert_openai_error(
    response: httpx.Response, status: int, code: str | None = None
) -> dict[str, Any]:
    """OpenAI's error object: a message, a type, a param, and our documented error code
    in lower case; the request id in X-Request-ID; whether to retry in x-should-retry."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert error["message"] and isinstance(error["message"], str)
    assert error["code"].upper() in DOCUMENTED_ERRORS[status], error
    if code is not None:
        assert error["code"] == code, error
    assert response.headers["x-request-id"]
    assert response.headers["x-should-retry"] == ("true" if status in (429, 503) else "false")
    return error


# Canaries: every secret key, token and base64 audio the suite sends. None may appear
# in an error body, the log file or the metrics (checked at the end of the session).
SECRETS_SENT: set[str] = set()


def remember_secrets(*values: str) -> None:
    SECRETS_SENT.update(v for v in values if v and len(v) >= 16)


async def remember_sent_audio(request: httpx.Request) -> None:
    """A 48-character piece of any base64 audio in a JSON body, as a canary."""
    if "json" not in request.headers.get("content-type", ""):
        return
    try:
        content = request.content
    except httpx.RequestNotRead:  # a streamed body: nothing to remember
        return
    if b'"audio"' not in content[:100_000]:
        return
    with contextlib.suppress(ValueError, AttributeError):
        audio = json.loads(content).get("audio")
        if isinstance(audio, str) and len(audio) >= 200:
            middle = len(audio) // 2
            remember_secrets(audio[middle : middle + 48])


async def check_error_envelope(response: httpx.Response) -> None:
    """Every non-2xx anywhere in the suite: code == status, a documented msg, request_id,
    and none of the secrets the suite has sent."""
    if response.status_code == 200 and response.request.url.path.endswith(
        ("/auth/token", "/auth/refresh")
    ):
        await response.aread()
        data = response.json()["data"]
        remember_secrets(data["access_token"], data["refresh_token"])
    if response.status_code < 400:
        return
    await response.aread()
    body = response.json()
    where = f"{response.request.method} {response.request.url.path} -> {response.status_code}"
    assert not [s for s in SECRETS_SENT if s in response.text], f"{where}: a secret in the body"
    if response.request.url.path.startswith(OPENAI_PATHS):
        assert_openai_error(response, response.status_code)
        ENVELOPE_CHECKS["errors"] += 1
        return
    assert body["code"] == response.status_code, where
    assert body["msg"] in DOCUMENTED_ERRORS[response.status_code], f"{where}: {body['msg']}"
    assert body["data"]["request_id"] == response.headers["x-request-id"], where
    ENVELOPE_CHECKS["errors"] += 1


def checked_client(asgi: Any, client_ip: str) -> httpx.AsyncClient:
    """An httpx client on an ASGI app whose every error response is envelope-checked."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=asgi, client=(client_ip, 1234)),
        base_url="http://test",
        event_hooks={"request": [remember_sent_audio], "response": [check_error_envelope]},
    )


@pytest.fixture
async def client(lifespan: RunningApp) -> AsyncIterator[httpx.AsyncClient]:
    # Each request gets its own copy of the lifespan state (engine, sessions, speech).
    async with checked_client(lifespan.asgi, "10.1.2.3") as http:
        yield http


def _secrets_leaked() -> list[str]:
    """Where any canary shows up: the session's log files and the metrics."""
    from prometheus_client import REGISTRY, generate_latest

    places = {"metrics": generate_latest(REGISTRY).decode()}
    log_path = get_settings().LOG_FILE_PATH
    if log_path:
        for path in Path(log_path).parent.glob(Path(log_path).name + "*"):
            places[str(path)] = path.read_text(errors="replace")
    return [where for where, text in places.items() if any(s in text for s in SECRETS_SENT)]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    leaks = _secrets_leaked() if SECRETS_SENT else []
    ENVELOPE_CHECKS["leaks"] = len(leaks)
    if leaks:
        print(f"\nSECRETS LEAKED into: {', '.join(leaks)}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if ENVELOPE_CHECKS["errors"]:
        terminalreporter.write_line(
            f"error envelopes checked: {ENVELOPE_CHECKS['errors']} non-2xx responses, "
            "all with code == status, a documented msg and the request id"
        )
    if SECRETS_SENT:
        terminalreporter.write_line(
            f"secret canaries: {len(SECRETS_SENT)} keys, tokens and audio pieces sent; found in "
            f"{ENVELOPE_CHECKS.get('leaks', 0)} places (error bodies, log files, metrics)"
        )


@asynccontextmanager
async def other_app(
    settings: Settings, app_settings: Settings | None = None, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """A second app for one test, on `app_settings` or the session's settings with
    `overrides`; afterwards the session's logging pipeline is back (a lifespan
    configures the process's logging)."""
    from src.main import create_app
    from src.platform.observability.logging import configure_logging

    application = create_app(app_settings or settings.model_copy(update=overrides))
    try:
        async with (
            running(application) as started,
            checked_client(started.asgi, "10.9.9.9") as http,
        ):
            yield http
    finally:
        configure_logging(settings)


async def create_api_client(lifespan: RunningApp, name: str = "test shop") -> dict[str, str]:
    """A real API client through the service (as the CLI does)."""
    from src.auth import service

    async with lifespan.state["sessionmaker"]() as session:
        creds = await service.create_client(db_session=session, name=name, scopes=["voice"])
    remember_secrets(creds.secret_key)
    return creds.jsonable()


async def token_for(http: httpx.AsyncClient, creds: dict[str, str]) -> dict[str, Any]:
    response = await http.post(
        "/api/v1/auth/token",
        json={"secret_id": creds["secret_id"], "secret_key": creds["secret_key"]},
    )
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    remember_secrets(data["access_token"], data["refresh_token"])
    return data


@pytest.fixture
async def merchant(lifespan: RunningApp, client: httpx.AsyncClient) -> dict[str, Any]:
    """A fresh API client with a token and the cafe catalog."""
    creds = await create_api_client(lifespan)
    tokens = await token_for(client, creds)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    response = await client.put("/api/v1/voice/catalog", json=cafe_catalog(), headers=headers)
    assert response.status_code == 200, response.text
    return {**creds, **tokens, "headers": headers}


def cafe_catalog() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / "cafe_catalog.json").read_text())
    return data


def catalog_index_of(name: str) -> CatalogIndex:
    """The index the service builds for `tests/data/<name>_catalog.json`."""
    from tests.eval.score_parser import catalog_index

    return catalog_index(DATA / f"{name}_catalog.json")


def load_catalog(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / f"{name}_catalog.json").read_text())
    return data


def assert_envelope_error(response: httpx.Response, status: int, msg: str) -> dict[str, Any]:
    """The error envelope: code repeats the status, msg is the code, request_id present."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == status
    assert body["msg"] == msg
    assert body["data"]["request_id"] == response.headers["x-request-id"]
    data: dict[str, Any] = body["data"]
    return data


@pytest.fixture
def log_file(settings: Settings) -> Iterator[Path]:
    assert settings.LOG_FILE_PATH
    yield Path(settings.LOG_FILE_PATH)
