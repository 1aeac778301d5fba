"""A burst of credential guesses waits for argon2 in turn: the worker's memory stays
bounded (each verification takes 64 MiB while it runs)."""

import asyncio
from pathlib import Path

import httpx

from src.platform.db.migrate import upgrade
from tests.processes import prod_env, prod_server, rss_mib

GUESSES = 40


async def _guess_at_once(api: str) -> list[int]:
    body = {"secret_id": "sid_" + "a" * 24, "secret_key": "sk_" + "b" * 43}
    async with httpx.AsyncClient(timeout=60) as http:
        answers = await asyncio.gather(
            *(http.post(api + "/auth/token", json=body) for _ in range(GUESSES))
        )
    return [answer.status_code for answer in answers]


def test_a_burst_of_guesses_keeps_the_worker_small(tmp_path: Path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    upgrade(database)
    env = prod_env(tmp_path, database, WEB_CONCURRENCY="1", RATE_LIMIT_AUTH="1000/minute")
    with prod_server(tmp_path, env) as server:
        (worker,) = server.workers()
        before = rss_mib(worker)
        statuses = asyncio.run(_guess_at_once(server.api))
        after = rss_mib(worker)
    assert statuses == [400] * GUESSES
    grew = after - before
    print(
        f"\nFIGURE {GUESSES} concurrent wrong guesses, AUTH_HASHING_CONCURRENCY=2: worker RSS "
        f"{before:.0f} -> {after:.0f} MiB (+{grew:.0f})"
    )
    # Two verifications at a time: 2 x 64 MiB at most, whatever the burst.
    assert grew < 150
