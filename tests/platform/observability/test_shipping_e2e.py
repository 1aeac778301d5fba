"""A real server process shipping its access log through an Elasticsearch outage."""

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx

from src.config import PROJECT_ROOT
from src.platform.db.migrate import upgrade
from tests.platform.observability.fake_es import FakeElasticsearch
from tests.processes import free_port, wait_for

OUTAGE_SECONDS = 3 if os.environ.get("CI") else 30


def test_every_access_log_line_arrives_once_after_an_outage(
    es: FakeElasticsearch, tmp_path: Path
) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    upgrade(database)
    port = free_port()
    env = {
        **os.environ,
        "ENVIRONMENT": "TESTING",
        "DATABASE_URL": database,
        "ELASTICSEARCH_HOST": es.url,
        "LOG_SPOOL_PATH": str(tmp_path / "spool"),
        "LOG_SHIP_INTERVAL": "0.2",
        "LOG_SHIP_MAX_BACKOFF": "1",
        "LOG_FILE_PATH": "",
        "ASR_PRELOAD": "false",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "src.main:app", "--port", str(port)],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    sent: list[str] = []
    try:
        wait_for(lambda: _up(base), timeout=60)
        # Request latency with Elasticsearch answering, then hung (requests never wait).
        normal = _latencies(base, sent, "normal", 150)
        es.mode = "hang"
        hung = _latencies(base, sent, "hung", 150)
        es.mode = "ok"
        es.stop()
        deadline = time.monotonic() + OUTAGE_SECONDS
        while time.monotonic() < deadline:  # steady traffic through the outage
            rid = f"outage-{len(sent)}"
            assert (
                httpx.get(base + "/api/v1/healthcheck", headers={"X-Request-ID": rid}).status_code
                == 200
            )
            sent.append(rid)
            time.sleep(0.01)
        es.start()
        for n in range(20):
            rid = f"after-{n}"
            httpx.get(base + "/api/v1/healthcheck", headers={"X-Request-ID": rid})
            sent.append(rid)
        wait_for(lambda: set(sent) <= _shipped_ids(es), timeout=60)
    finally:
        server.terminate()
        server.wait(30)
    counts = Counter(
        d.get("request_id") for d in es.documents.values() if d.get("logger") == "voice_api.access"
    )
    assert all(counts[rid] == 1 for rid in sent), [r for r in sent if counts[r] != 1][:5]
    assert len(es.creates) == len(set(es.creates))
    p99_normal, p99_hung = _p99(normal), _p99(hung)
    print(
        f"healthcheck p99: {p99_normal * 1000:.1f} ms with ES answering, {p99_hung * 1000:.1f} ms hung"
    )
    assert p99_hung < 3 * p99_normal + 0.05, (p99_normal, p99_hung)


def _latencies(base: str, sent: list[str], label: str, count: int) -> list[float]:
    timings = []
    with httpx.Client() as http:
        for n in range(count):
            rid = f"{label}-{n}"
            started = time.perf_counter()
            assert (
                http.get(base + "/api/v1/healthcheck", headers={"X-Request-ID": rid}).status_code
                == 200
            )
            timings.append(time.perf_counter() - started)
            sent.append(rid)
    return timings


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _up(base: str) -> bool:
    try:
        return httpx.get(base + "/api/v1/healthcheck").status_code == 200
    except httpx.HTTPError:
        return False


def _shipped_ids(es: FakeElasticsearch) -> set[str]:
    return {str(d.get("request_id")) for d in list(es.documents.values())}
