"""Servers under test as real processes, and wrk as the load (pinned to other cores)."""

import json
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.bench.report import ROOT
from tests.processes import answers, free_port, wait_for

VENV_BIN = ROOT / ".venv" / "bin"
JWT_SECRET = "bench-secret-bench-secret-bench-secret-0123"


@dataclass
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


def app_env(database_url: str, **extra: str) -> dict[str, str]:
    """The production stack, configured for a benchmark run."""
    return {
        **os.environ,
        "ENVIRONMENT": "PRODUCTION",
        "JWT_SECRET": JWT_SECRET,
        "CORS_ORIGINS": "https://pos.example",
        "DATABASE_URL": database_url,
        "RATE_LIMIT_DEFAULT": "100000000/minute",
        "RATE_LIMIT_STORAGE_URI": "memory://",
        "LOG_FILE_PATH": "",
        "ASR_PRELOAD": "false",
        **extra,
    }


@contextmanager
def server(
    command: list[str], env: dict[str, str], ready_path: str, log: Path, cpus: str | None = "0"
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start `command` (with {port} filled in), wait for `ready_path`, stop it after."""
    port = free_port()
    argv = [part.replace("{port}", str(port)) for part in command]
    if cpus is not None:
        argv = ["taskset", "-c", cpus, *argv]
    with log.open("ab") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=out, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: answers(base + ready_path), timeout=60, interval=0.2)
        yield base, process
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def uvicorn(app: str) -> list[str]:
    return [str(VENV_BIN / "uvicorn"), app, "--port", "{port}", "--log-level", "warning",
            "--no-access-log", "--workers", "1"]  # fmt: skip


def gunicorn(workers: int) -> list[str]:
    return [str(VENV_BIN / "gunicorn"), "src.main:app", "-c", "gunicorn/gunicorn_conf.py",
            "--bind", "127.0.0.1:{port}", "--workers", str(workers)]  # fmt: skip


_LUA = """
wrk.method = "{method}"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
{headers}
"""


def wrk(
    url: str,
    *,
    seconds: float,
    connections: int,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    body: dict[str, object] | None = None,
    cpus: str | None = "1",
    lua: str | None = None,
) -> WrkResult:
    """Run wrk against `url` and parse its summary; `lua` replaces the request script."""
    script = ROOT / "var" / "bench.lua"
    script.parent.mkdir(exist_ok=True)
    header_lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in (headers or {}).items())
    script.write_text(
        lua
        or _LUA.format(
            method=method,
            body=json.dumps(json.dumps(body)) if body else "nil",
            headers=header_lines,
        )
    )
    argv = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    if cpus is not None:
        argv = ["taskset", "-c", cpus, *argv]
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:  # say why (wrk prints "unable to connect ..." and stops)
        raise RuntimeError(f"wrk failed: {done.stdout}{done.stderr}")
    out = done.stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return WrkResult(
        rate,
        _latency(out, "50%"),
        _latency(out, "99%"),
        total,
        int(errors.group(1)) if errors else 0,
    )


def _latency(out: str, label: str) -> float:
    match = re.search(rf"{re.escape(label)}\s+([\d.]+)(us|ms|s)\b", out)
    if match is None:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
