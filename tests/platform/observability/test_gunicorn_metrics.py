"""gunicorn with two uvicorn workers: one exporter, counters summed across workers."""

import re
from pathlib import Path

import httpx

from src.platform.db.migrate import upgrade
from tests.processes import prod_env, prod_server


def _total(metrics: str, handler: str) -> float:
    pattern = rf'^http_requests_total{{[^}}]*handler="{re.escape(handler)}"[^}}]*}} ([0-9.e+]+)$'
    return sum(float(m.group(1)) for m in re.finditer(pattern, metrics, re.M))


def test_two_workers_one_exporter_exact_counts(tmp_path: Path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    upgrade(database)
    with prod_server(tmp_path, prod_env(tmp_path, database, WEB_CONCURRENCY="2")) as server:
        before = _total(httpx.get(server.metrics).text, "/api/v1/healthcheck")
        sent = 200
        for _ in range(sent):
            with httpx.Client() as fresh:  # a new connection each: spread over workers
                assert fresh.get(server.api + "/healthcheck").status_code == 200
        # The public port serves no /metrics in production; the exporter does.
        assert httpx.get(server.base + "/metrics").status_code == 404
        after = _total(httpx.get(server.metrics).text, "/api/v1/healthcheck")
        pids = {p.stem.split("_")[-1] for p in (tmp_path / "prom").glob("counter_*.db")}
    assert after - before == sent  # every request counted once, whichever worker took it
    assert len(pids) >= 2, pids  # and both workers did take some
