"""Order session turns under load: gunicorn with 2 workers, 16 connections, text turns."""

import json
import statistics
import tempfile
from pathlib import Path

import httpx

from tests.bench.http_bench import (
    WARM_UP_SECONDS,
    _login,
    _order_run,
    _prepare,
    _psql,
    _settle_postgres,
)
from tests.bench.inprocess import PG_BENCH, postgres_available
from tests.bench.report import today
from tests.bench.servers import WrkResult, app_env, gunicorn, server, wrk

SESSIONS = 64
# A cycle of edits that leaves each cart as it found it, so carts stay one size.
TURNS = ("add a croissant", "one more latte", "remove the croissant", "one less latte")

_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "{authorization}"
paths = {{{paths}}}
bodies = {{{bodies}}}
counter = 0
request = function()
  counter = counter + 1
  local path = paths[(counter % #paths) + 1]
  local body = bodies[(math.floor(counter / #paths) % #bodies) + 1]
  return wrk.format(nil, path, nil, body)
end
"""


def _turn_run(database_url: str, creds: dict[str, str], log: Path, seconds: float) -> WrkResult:
    env = app_env(database_url, WEB_CONCURRENCY="2")
    if database_url.startswith("postgresql"):
        _settle_postgres()
    with server(gunicorn(2), env, "/api/v1/healthcheck", log, cpus=None) as (base, _):
        headers = _login(base, creds)
        paths = []
        for _ in range(SESSIONS):
            started = httpx.post(base + "/api/v1/voice/sessions", json={}, headers=headers)
            session = started.json()["data"]["session_id"]
            path = f"/api/v1/voice/sessions/{session}/turns"
            httpx.post(base + path, json={"text": "a latte"}, headers=headers).raise_for_status()
            paths.append(path)
        # 16 connections over 64 sessions in turn: turns of one session rarely overlap,
        # as at a till, where one customer speaks at a time.
        lua = _LUA.format(
            authorization=headers["Authorization"],
            paths=", ".join(json.dumps(p) for p in paths),
            bodies=", ".join(json.dumps(json.dumps({"text": t})) for t in TURNS),
        )
        take_turns = {"connections": 16, "cpus": None, "lua": lua}
        wrk(base + paths[0], seconds=WARM_UP_SECONDS, **take_turns)  # type: ignore[arg-type]
        return wrk(base + paths[0], seconds=seconds, **take_turns)  # type: ignore[arg-type]


def run(quick: bool = False) -> str:
    seconds, reps = (2.0, 1) if quick else (8.0, 3)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "servers.log"
        sqlite = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        databases = {"SQLite": (sqlite, _prepare(sqlite))}
        if postgres_available():
            _psql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
            databases["PostgreSQL"] = (PG_BENCH, _prepare(PG_BENCH))
        runs: dict[str, list[WrkResult]] = {kind: [] for kind in databases}
        orders: dict[str, list[WrkResult]] = {kind: [] for kind in databases}
        for _ in range(reps):
            for kind, (url, creds) in databases.items():
                runs[kind].append(_turn_run(url, creds, log, seconds))
                # The one-shot order on the same setup, as the yardstick.
                orders[kind].append(_order_run(url, creds, log, seconds))
    rows = []
    for kind, results in runs.items():
        p99s = sorted(r.p99_ms for r in results)
        turns_per_second = statistics.median(r.requests_per_second for r in results)
        orders_per_second = statistics.median(r.requests_per_second for r in orders[kind])
        rows.append(
            f"| {kind} | {turns_per_second:,.0f} | "
            f"{statistics.median(r.p50_ms for r in results):.1f} ms | "
            f"{statistics.median(p99s):.1f} ms ({p99s[0]:.0f}–{p99s[-1]:.0f}) | "
            f"{sum(r.errors for r in results)} | {orders_per_second:,.0f} "
            f"({turns_per_second / orders_per_second:.2f}x) | "
            f"{statistics.median(r.p99_ms for r in orders[kind]):.1f} ms |"
        )
    return "\n".join(
        [
            f"## Session turns — {today()}",
            "",
            f"Command: `scripts/bench sessions`{' --quick' if quick else ''}. "
            "`POST /api/v1/voice/sessions/{id}/turns`",
            "with text, gunicorn with 2 uvicorn workers, wrk with 16 connections over "
            f"{SESSIONS} open sessions",
            "in turn (one customer speaks at a time), the turns cycling through "
            + ", ".join(f'"{t}"' for t in TURNS)
            + ";",
            f"{seconds:.0f} s after {WARM_UP_SECONDS:.0f} s of the same load that is not counted, "
            f"{reps} runs per database, each",
            "on a fresh server, interleaved; medians and the range of p99 (target p99 ≤ 50 ms",
            "on PostgreSQL). Each turn locks its session row, reads the words against the",
            "cart, prices it, writes the session and the turn, and commits.",
            "",
            "The last two columns: `POST /voice/order` with text on the same setup, in the same",
            "run (interleaved), as the yardstick: a turn against a one-shot order.",
            "",
            "| database | turns/s | p50 | p99 (range) | non-2xx | orders/s (turns/orders) | order p99 |",
            "|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
