"""HTTP cost of the platform: ratios against bare FastAPI, order writes, worker memory."""

import json
import statistics
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

import httpx

from src.platform.db.migrate import upgrade
from tests.bench.inprocess import PG_BENCH, postgres_available
from tests.bench.report import ROOT, today
from tests.bench.servers import (
    WrkResult,
    app_env,
    gunicorn,
    server,
    uvicorn,
    wrk,
)
from tests.processes import child_pids, rss_mib

DATA = ROOT / "tests" / "data"
# Load before each measured order run that is not counted. A fresh server's first
# seconds are slower (each worker opens its pool's connections, PostgreSQL starts a
# backend for each, statements are prepared per connection): at 1 s resolution, p99
# was 90-200 ms in the first 2-3 s here, 25-35 ms after.
WARM_UP_SECONDS = 5.0


def _prepare(database_url: str) -> dict[str, str]:
    """Migrate and create an API client; returns its credentials."""
    upgrade(database_url)
    done = subprocess.run(
        [sys.executable, "-m", "src.auth", "create-client", "--name", "bench", "--json"],
        env=app_env(database_url), cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    creds: dict[str, str] = json.loads(done.stdout)
    return creds


def _login(base: str, creds: dict[str, str]) -> dict[str, str]:
    token = httpx.post(
        base + "/api/v1/auth/token",
        json={"secret_id": creds["secret_id"], "secret_key": creds["secret_key"]},
    ).json()["data"]["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    catalog = json.loads((DATA / "cafe_catalog.json").read_text())
    assert (
        httpx.put(base + "/api/v1/voice/catalog", json=catalog, headers=headers).status_code == 200
    )
    return headers


def _ratios(
    database_url: str, creds: dict[str, str], log: Path, seconds: float, reps: int
) -> list[str]:
    env = app_env(database_url)
    redis_env = app_env(database_url, RATE_LIMIT_STORAGE_URI="redis://127.0.0.1:6379/15")
    results: dict[str, list[WrkResult]] = {}
    with (
        server(uvicorn("tests.bench.bare_app:app"), env, "/healthcheck", log) as (bare, _),
        server(uvicorn("src.main:app"), env, "/api/v1/healthcheck", log) as (full, _),
        server(uvicorn("src.main:app"), redis_env, "/api/v1/healthcheck", log) as (redis, _),
    ):
        headers = _login(full, creds)
        targets = {
            "bare FastAPI `GET /healthcheck`": (bare + "/healthcheck", None),
            "`GET /api/v1/healthcheck`, full stack": (full + "/api/v1/healthcheck", None),
            "`GET /api/v1/voice/catalog`, token + limit in memory": (
                full + "/api/v1/voice/catalog",
                headers,
            ),
            "`GET /api/v1/voice/catalog`, token + limit in Redis": (
                redis + "/api/v1/voice/catalog",
                headers,
            ),
        }
        for _ in range(reps):  # interleaved, so drift hits every target alike
            for label, (url, extra) in targets.items():
                results.setdefault(label, []).append(
                    wrk(url, seconds=seconds, connections=32, headers=extra)
                )
    bare_rate = statistics.median(r.requests_per_second for r in next(iter(results.values())))
    targets_ratio = {1: "≥ 0.60x", 2: "≥ 0.40x", 3: "≥ 0.30x"}
    rows = []
    for n, (label, runs) in enumerate(results.items()):
        rate = statistics.median(r.requests_per_second for r in runs)
        p99 = statistics.median(r.p99_ms for r in runs)
        errors = sum(r.errors for r in runs)
        rows.append(
            f"| {label} | {rate:,.0f} | {rate / bare_rate:.2f}x | {targets_ratio.get(n, '—')} | "
            f"{p99:.1f} ms | {errors} |"
        )
    return rows


def _psql(command: str) -> str:
    done = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "voice_bench", "-tAqc", command],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return done.stdout.strip()


def _settle_postgres() -> None:
    """Before a PostgreSQL run, what a server left to itself would have done by then.

    VACUUM ANALYZE once orders exist, as autovacuum would (it is off on this machine's
    server): every order queues a row that a fold deletes, so each run left ~13,000
    dead rows for the next run's folds to read through. Not on the empty tables of the
    first run: statistics that say "empty" while a run fills the tables made the
    planner scan them, and PostgreSQL's CPU per order tripled (0.37 -> 1.35 ms).
    Then CHECKPOINT (as pgbench users do between runs), so that the server has recycled
    WAL segments ready. Without it, a run that writes past the segments the last
    checkpoint set aside makes the server create and zero-fill a 16 MB segment under
    its WAL write lock: every commit waits 100-300 ms (seen as WALInitWrite / WALWrite
    waits in pg_stat_activity), about once per 8 s of orders here."""
    if _psql("SELECT EXISTS (SELECT 1 FROM orders)") == "t":
        _psql("VACUUM ANALYZE")
    _psql("CHECKPOINT")


def _order_run(database_url: str, creds: dict[str, str], log: Path, seconds: float) -> WrkResult:
    env = app_env(database_url, WEB_CONCURRENCY="2")
    if database_url.startswith("postgresql"):
        _settle_postgres()
    with server(gunicorn(2), env, "/api/v1/healthcheck", log, cpus=None) as (base, _):
        headers = _login(base, creds)
        place_orders = partial(
            wrk, base + "/api/v1/voice/order", connections=16, headers=headers,
            method="POST", body={"text": "two large lattes and a croissant, please"}, cpus=None,
        )  # fmt: skip
        # Not measured: the first seconds of a fresh server (each worker opens its pool,
        # prepares its statements and its catalog), which a server meets once.
        place_orders(seconds=WARM_UP_SECONDS)
        return place_orders(seconds=seconds)


def _orders(
    databases: dict[str, tuple[str, dict[str, str]]], log: Path, seconds: float, reps: int
) -> list[str]:
    """One row per database: medians of `reps` runs, the databases interleaved."""
    runs: dict[str, list[WrkResult]] = {kind: [] for kind in databases}
    for _ in range(reps):
        for kind, (database_url, creds) in databases.items():
            runs[kind].append(_order_run(database_url, creds, log, seconds))
    rows = []
    for kind, results in runs.items():
        rate = statistics.median(r.requests_per_second for r in results)
        p50 = statistics.median(r.p50_ms for r in results)
        p99s = sorted(r.p99_ms for r in results)
        errors = sum(r.errors for r in results)
        rows.append(
            f"| {kind} | {rate:,.0f} | {p50:.1f} ms | {statistics.median(p99s):.1f} ms "
            f"({p99s[0]:.0f}–{p99s[-1]:.0f}) | {errors} |"
        )
    return rows


def _memory(database_url: str, creds: dict[str, str], log: Path, requests: int) -> str:
    env = app_env(database_url, ASR_PRELOAD="true")
    with server(uvicorn("src.main:app"), env, "/api/v1/readiness", log) as (base, process):
        headers = _login(base, creds)
        pid = (child_pids(process.pid) or [process.pid])[0]  # taskset execs; uvicorn is the pid
        pid = process.pid if not child_pids(process.pid) else pid
        for _ in range(3):
            wrk(base + "/api/v1/voice/catalog", seconds=1, connections=16, headers=headers)
        started = rss_mib(pid)
        sent = {"health": 0, "catalog": 0}
        while sum(sent.values()) < requests:
            # Alternate: cheap requests for volume, authenticated reads for the DB paths.
            sent["health"] += wrk(base + "/api/v1/healthcheck", seconds=5, connections=16).requests
            sent["catalog"] += wrk(
                base + "/api/v1/voice/catalog", seconds=2, connections=16, headers=headers
            ).requests
        after = rss_mib(pid)
    return (
        f"Memory of one uvicorn worker with the speech model loaded: {started:.0f} MiB after "
        f"startup and warm-up, {after:.0f} MiB after {sum(sent.values()):,} more requests "
        f"({sent['health']:,} healthchecks, {sent['catalog']:,} authenticated catalog reads): "
        f"{(after - started) / started * 100:+.1f} % (target ≤ +10 %)."
    )


def run(quick: bool = False) -> str:
    seconds, reps = (2.0, 1) if quick else (4.0, 5)
    order_reps = 1 if quick else 5  # each a gunicorn start, warm-up, 2 x `seconds` of load
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "servers.log"
        sqlite = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        creds = _prepare(sqlite)
        ratio_rows = _ratios(sqlite, creds, log, seconds, reps)
        databases = {"SQLite": (sqlite, creds)}
        if postgres_available():
            _psql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
            databases["PostgreSQL"] = (PG_BENCH, _prepare(PG_BENCH))
        order_rows = _orders(databases, log, seconds * 2, order_reps)
        memory = _memory(sqlite, creds, log, 5_000 if quick else 100_000)
    return "\n".join(
        [
            f"## HTTP — {today()}",
            "",
            f"Command: `scripts/bench http`{' --quick' if quick else ''}. uvicorn, 1 worker pinned to",
            "core 0 (`taskset -c 0`), wrk pinned to core 1, 32 connections, "
            f"{seconds:.0f} s per run, {reps} interleaved repetitions, medians. The app runs as",
            "in production (ENVIRONMENT=PRODUCTION: request id, JSON access log to stdout,",
            "security headers, body limit, CORS, metrics), SQLite, the cafe catalog.",
            "",
            "| route | req/s | vs bare | target | p99 | non-2xx |",
            "|---|---|---|---|---|---|",
            *ratio_rows,
            "",
            "`POST /api/v1/voice/order` with text (parse, price, store, respond), gunicorn with",
            f"2 uvicorn workers, wrk with 16 connections for {seconds * 2:.0f} s on the same 2 cores",
            f"after {WARM_UP_SECONDS:.0f} s of the same load that is not counted (a fresh server's",
            "first seconds open its connections and prepare its statements), "
            f"{order_reps} runs per database,",
            "each on a fresh server, interleaved; medians, and the range of p99 (target p99 ≤",
            "50 ms). Before each PostgreSQL run the bench runs VACUUM ANALYZE once there are",
            "orders (autovacuum is off on this machine's server) and CHECKPOINT, so that the",
            "server has recycled WAL segments ready: otherwise, about once per 16 MB of WAL",
            "(~2 KB an order), it creates and zero-fills a segment while every commit waits",
            "(100-300 ms; see README, PostgreSQL settings for order traffic). Default pool:",
            "4 connections a worker.",
            "",
            "| database | orders/s | p50 | p99 (range) | non-2xx |",
            "|---|---|---|---|---|",
            *order_rows,
            "",
            memory,
        ]
    )


if __name__ == "__main__":
    print(run(quick=True))
