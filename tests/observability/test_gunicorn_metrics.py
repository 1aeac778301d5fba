"""gunicorn with two uvicorn workers: one exporter, counters summed across workers."""

import os
import re
import subprocess
import time
from pathlib import Path

import httpx

from src.config import PROJECT_ROOT
from src.migrate import upgrade
from tests.observability.test_log_shipping import wait_for
from tests.observability.test_shipping_e2e import free_port


def _total(metrics: str, handler: str) -> float:
    pattern = rf'^http_requests_total{{[^}}]*handler="{re.escape(handler)}"[^}}]*}} ([0-9.e+]+)$'
    return sum(float(m.group(1)) for m in re.finditer(pattern, metrics, re.M))


def test_two_workers_one_exporter_exact_counts(tmp_path: Path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    upgrade(database)
    port, metrics_port = free_port(), free_port()
    env = {
        **os.environ,
        "ENVIRONMENT": "PRODUCTION",
        "JWT_SECRET": "x" * 40,
        "CORS_ORIGINS": "https://pos.example",
        "DATABASE_URL": database,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "METRICS_PORT": str(metrics_port),
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"),
        "RUN_MIGRATIONS": "0",
        "ASR_PRELOAD": "false",
        "LOG_FILE_PATH": "",
        "RATE_LIMIT_DEFAULT": "100000/minute",
    }
    server = subprocess.Popen(
        ["bash", "scripts/start-prod.sh"], cwd=PROJECT_ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(base + "/api/v1/healthcheck"), timeout=90)
        time.sleep(1)  # both workers up
        exporter = f"http://127.0.0.1:{metrics_port}/metrics"
        before = _total(httpx.get(exporter).text, "/api/v1/healthcheck")
        sent = 200
        for _ in range(sent):
            with httpx.Client() as fresh:  # a new connection each: spread over workers
                assert fresh.get(base + "/api/v1/healthcheck").status_code == 200
        # The public port serves no /metrics in production; the exporter does.
        assert httpx.get(base + "/metrics").status_code == 404
        after = _total(httpx.get(exporter).text, "/api/v1/healthcheck")
        pids = {p.stem.split("_")[-1] for p in (tmp_path / "prom").glob("counter_*.db")}
    finally:
        server.terminate()
        server.wait(60)
    assert after - before == sent  # every request counted once, whichever worker took it
    assert len(pids) >= 2, pids  # and both workers did take some


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
