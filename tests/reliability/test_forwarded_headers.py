"""X-Forwarded-For is believed only from TRUSTED_PROXIES, in the real servers too.

uvicorn and gunicorn trust forwarded headers from loopback unless told otherwise;
a local caller rotating X-Forwarded-For would then get a fresh per-IP budget on
/auth/token every guess.
"""

from pathlib import Path

import httpx

from src.platform.db.migrate import upgrade
from tests.processes import prod_env, prod_server

GUESSES = 14  # RATE_LIMIT_AUTH below is 10 an hour
# Counted in the server's own memory, in an hour-long window: a minute's window could
# end mid-test, and a shared Redis keeps counts from earlier runs.
LIMITS = {"RATE_LIMIT_AUTH": "10/hour", "RATE_LIMIT_STORAGE_URI": "memory://"}


def _guesses(api: str) -> list[int]:
    statuses = []
    with httpx.Client() as http:
        for n in range(GUESSES):
            response = http.post(
                api + "/auth/token",
                json={"secret_id": "sid_" + "a" * 24, "secret_key": "sk_" + "b" * 43},
                headers={"X-Forwarded-For": f"203.0.113.{n + 1}"},
            )
            statuses.append(response.status_code)
    return statuses


def test_gunicorn_ignores_forwarded_for_from_an_untrusted_peer(tmp_path: Path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    upgrade(database)
    env = prod_env(tmp_path, database, WEB_CONCURRENCY="1", **LIMITS)
    env.pop("TRUSTED_PROXIES", None)
    env.pop("FORWARDED_ALLOW_IPS", None)
    with prod_server(tmp_path, env) as server:
        statuses = _guesses(server.api)
    assert statuses[:10] == [400] * 10
    assert statuses[10:] == [429] * (GUESSES - 10)


def test_gunicorn_believes_a_trusted_proxy(tmp_path: Path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    upgrade(database)
    env = prod_env(tmp_path, database, WEB_CONCURRENCY="1", TRUSTED_PROXIES="127.0.0.1", **LIMITS)
    with prod_server(tmp_path, env) as server:
        statuses = _guesses(server.api)
    # Each guess came through the proxy from another client: each its own budget.
    assert statuses == [400] * GUESSES
