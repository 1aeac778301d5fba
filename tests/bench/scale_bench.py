"""Order throughput through haproxy with 1, 2 and 3 instances (gunicorn, 2 workers each)
on one PostgreSQL and one Redis, and one instance without the balancer as the yardstick.

On this 2-core machine the point is that nothing serialises on one instance (no shared
lock, no single writer), not speed-up: every instance competes for the same two cores.
"""

import json
import statistics
import tempfile
from contextlib import ExitStack
from pathlib import Path

import httpx

from src.platform.db.migrate import upgrade
from tests.bench.http_bench import WARM_UP_SECONDS, _psql, _settle_postgres
from tests.bench.inprocess import PG_BENCH, postgres_available
from tests.bench.report import ROOT, today
from tests.bench.servers import WrkResult, wrk
from tests.processes import (
    create_api_key,
    create_credentials,
    haproxy,
    private_redis,
    prod_env,
    prod_server,
)

BODY = {"text": "two large lattes and a croissant, please"}


def run(quick: bool = False) -> str:
    """Measure and return the section for docs/BENCHMARKS.md."""
    if not postgres_available():
        return "## Scale-out\n\nNot measured: no PostgreSQL on 127.0.0.1:5432."
    seconds, reps = (2.0, 1) if quick else (8.0, 3)
    _psql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    upgrade(PG_BENCH)
    runs: dict[str, list[WrkResult]] = {}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        root = Path(tmp)
        redis = stack.enter_context(private_redis())
        bases = {}
        for name in ("a", "b", "c"):
            (root / name).mkdir()
            env = prod_env(
                root / name, PG_BENCH, RATE_LIMIT_STORAGE_URI=redis.url,
                RATE_LIMIT_DEFAULT="100000000/minute", LOG_LEVEL="warning",
            )  # fmt: skip
            bases[name] = stack.enter_context(prod_server(root / name, env)).base
        key = create_api_key(env, create_credentials(env, "scale bench")["secret_id"])
        headers = {"Authorization": f"Bearer {key}"}
        catalog = json.loads((ROOT / "tests" / "data" / "cafe_catalog.json").read_text())
        httpx.put(
            bases["a"] + "/api/v1/voice/catalog", json=catalog, headers=headers, timeout=30
        ).raise_for_status()

        def load(base: str, measured: float) -> WrkResult:
            return wrk(
                base + "/api/v1/voice/order", seconds=measured, connections=16,
                headers=headers, method="POST", body=BODY, cpus=None,
            )  # fmt: skip

        setups = {
            "1 instance, no balancer": None,
            "1 instance": ["a"],
            "2 instances": ["a", "b"],
            "3 instances": ["a", "b", "c"],
        }
        for _ in range(reps):
            for label, names in setups.items():
                _settle_postgres()
                with ExitStack() as balanced:
                    base = (
                        bases["a"]
                        if names is None
                        else balanced.enter_context(haproxy(root, {n: bases[n] for n in names}))
                    )
                    load(base, WARM_UP_SECONDS)
                    runs.setdefault(label, []).append(load(base, seconds))

    def ratio(label: str) -> float:
        rate = statistics.median(r.requests_per_second for r in runs[label])
        return rate / statistics.median(r.requests_per_second for r in runs["1 instance"])

    rows = []
    for label, results in runs.items():
        p99s = sorted(r.p99_ms for r in results)
        rows.append(
            f"| {label} | {statistics.median(r.requests_per_second for r in results):,.0f} | "
            f"{statistics.median(r.p50_ms for r in results):.1f} ms | "
            f"{statistics.median(p99s):.1f} ms ({p99s[0]:.0f}–{p99s[-1]:.0f}) | "
            f"{sum(r.errors for r in results)} |"
        )
    return "\n".join(
        [
            f"## Scale-out — {today()}",
            "",
            f"Command: `scripts/bench scale`{' --quick' if quick else ''}. Typed orders "
            "(`POST /api/v1/voice/order`, an API key) from wrk with 16 connections through "
            "Debian's haproxy (round-robin, readiness health checks) to gunicorn instances "
            "of 2 workers each, on one PostgreSQL and one Redis, all on this machine's two "
            f"cores; {seconds:.0f} s after {WARM_UP_SECONDS:.0f} s not counted, medians of "
            f"{reps} interleaved runs.",
            "",
            "| setup | orders/s | p50 | p99 (range) | non-2xx |",
            "|---|---|---|---|---|",
            *rows,
            "",
            f"Through the balancer, 2 and 3 instances serve {ratio('2 instances'):.2f}x and "
            f"{ratio('3 instances'):.2f}x of one instance's orders: 4 and 6 workers and "
            "their masters share two cores, so here more instances add context switches, "
            "not capacity. What this shows is that orders spread over every instance with "
            "no lock or single writer that one of them owns, and that none fails; the "
            "speed-up needs cores of its own per instance.",
        ]
    )
