"""The real app in this process on a fresh database, with a client and a token."""

import asyncio
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from src.config import Settings

PG_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
PG_BENCH = "postgresql+asyncpg://postgres@127.0.0.1:5432/voice_bench"


@dataclass
class Running:
    http: httpx.AsyncClient
    headers: dict[str, str]
    client_id: str
    state: dict[str, Any]


def postgres_available() -> bool:
    """True if the local PostgreSQL answers and the bench database exists or was made."""
    probe = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-tAc",
         "SELECT 1 FROM pg_database WHERE datname = 'voice_bench'"],
        capture_output=True, text=True,
    )  # fmt: skip
    if probe.returncode != 0:
        return False
    if probe.stdout.strip() != "1":
        made = subprocess.run(
            ["createdb", "-h", "127.0.0.1", "-U", "postgres", "voice_bench"], capture_output=True
        )
        return made.returncode == 0
    return True


def sqlite_url(directory: Path) -> str:
    return f"sqlite+aiosqlite:///{directory / 'bench.db'}"


def settings_for(database_url: str, **overrides: Any) -> Settings:
    return Settings(
        ENVIRONMENT="TESTING",
        DATABASE_URL=database_url,
        RATE_LIMIT_DEFAULT="10000000/minute",
        RATE_LIMIT_AUTH="10000/minute",
        LOG_LEVEL="WARNING",
        LOG_FILE_PATH=None,
        ASR_PRELOAD=False,
        **overrides,
    )


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[Running]:
    """Migrate from scratch, start the lifespan, make a client and log it in."""
    from src.auth import service
    from src.main import create_app
    from src.platform.db.migrate import migrate_fresh

    await asyncio.to_thread(migrate_fresh, settings.DATABASE_URL)  # env.py runs its own loop
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        state = manager._state
        async with state["sessionmaker"]() as session:
            creds = (
                await service.create_client(db_session=session, name="bench", scopes=["voice"])
            ).jsonable()
        from tests.conftest import with_request_state

        asgi = with_request_state(app, state)
        transport = httpx.ASGITransport(app=asgi, client=("127.0.0.1", 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            token = await http.post(
                "/api/v1/auth/token",
                json={"secret_id": creds["secret_id"], "secret_key": creds["secret_key"]},
            )
            headers = {"Authorization": f"Bearer {token.json()['data']['access_token']}"}
            yield Running(http, headers, creds["client_id"], state)
