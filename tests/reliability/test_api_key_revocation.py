"""A revoked API key is refused by every worker within AUTH_CACHE_SECONDS: gunicorn with
two workers, each having cached the key as good, then `revoke-api-key` from the CLI."""

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from src.config import PROJECT_ROOT
from src.platform.db.migrate import upgrade
from tests.processes import create_api_key, create_credentials, prod_env, prod_server

CACHE_SECONDS = 2.0


def _statuses(api: str, key: str, count: int = 24) -> list[int]:
    """`count` requests, each on a new connection, so that both workers answer some."""
    return [
        httpx.get(
            api + "/voice/orders", headers={"Authorization": f"Bearer {key}"}, timeout=10
        ).status_code
        for _ in range(count)
    ]


def test_a_revoked_key_is_refused_by_every_worker_within_the_cache_time(tmp_path: Path) -> None:
    # The suite's PostgreSQL when it runs on one (migrated by conftest), else SQLite.
    database = os.environ["DATABASE_URL"]
    if not database.startswith("postgresql"):
        database = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
        upgrade(database)
    env = prod_env(tmp_path, database, WEB_CONCURRENCY="2", AUTH_CACHE_SECONDS=str(CACHE_SECONDS))
    with prod_server(tmp_path, env) as server:
        assert len(server.workers()) == 2
        creds = create_credentials(env, "revocation shop")
        key = create_api_key(env, creds["secret_id"])
        kept = create_api_key(env, creds["secret_id"], "kept")
        # Both workers have seen the key as good (and cached it so).
        assert _statuses(server.api, key) == [200] * 24
        revoke = subprocess.run(
            [sys.executable, "-m", "src.auth", "revoke-api-key", key],
            cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert revoke.returncode == 0, revoke.stderr
        revoked_at = time.monotonic()
        # Within the cache time (and a grace second for a refresh in flight) every
        # worker refuses it; from then on, on every connection.
        while _statuses(server.api, key, 4) != [401] * 4:
            assert time.monotonic() - revoked_at < CACHE_SECONDS + 2, "still accepted"
            time.sleep(0.1)
        assert _statuses(server.api, key) == [401] * 24
        # The client's other key is untouched.
        assert _statuses(server.api, kept, 8) == [200] * 8
