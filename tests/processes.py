"""Real processes for fault and load tests: the production server, a private Redis, and a
private PostgreSQL cluster that a test may stop, hang or restart without disturbing the
machine's own services."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from src.config import PROJECT_ROOT

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
JWT_SECRET = "reliability-secret-reliability-secret-0123"


def run_module(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`python -m ARGS` in the project; a run past `timeout` fails the test with the
    stack of every thread it had (faulthandler, on SIGABRT), to show where it hung."""
    argv = [sys.executable, "-X", "faulthandler", "-m", *args]
    with subprocess.Popen(
        argv, cwd=PROJECT_ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    ) as process:  # fmt: skip
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGABRT)
            out, err = process.communicate()
            pytest.fail(f"{' '.join(args)} hung past {timeout} s; its threads:\n{err}\n{out}")
    return subprocess.CompletedProcess(argv, process.returncode, out, err)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout: float = 20, interval: float = 0.05) -> None:
    """Poll `condition` until it holds, or fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def answers(url: str) -> bool:
    """True when `url` answers 200."""
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def missing_tool(name: str) -> None:
    """Skip, or fail under REQUIRE_SERVICES=1, when a program a test needs is absent."""
    message = f"{name} is not installed"
    if REQUIRE_SERVICES:
        pytest.fail(message + " and REQUIRE_SERVICES=1")
    pytest.skip(message)


def child_pids(pid: int) -> list[int]:
    """Direct children of `pid` (gunicorn's workers)."""
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return sorted(int(p) for p in out.split())


def rss_mib(pid: int) -> float:
    """Resident memory of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


# -- the production server ------------------------------------------------------


@dataclass
class ProdServer:
    """gunicorn with uvicorn workers, started by scripts/start-prod.sh."""

    base: str
    metrics: str
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    log: Path

    @property
    def api(self) -> str:
        return self.base + "/api/v1"

    def workers(self) -> list[int]:
        return child_pids(self.process.pid)

    def stop(self, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout)


def prod_env(tmp_path: Path, database_url: str, **overrides: str) -> dict[str, str]:
    """Production settings for a server under test (loopback only, no log file)."""
    return {
        **os.environ,
        "ENVIRONMENT": "PRODUCTION",
        "JWT_SECRET": JWT_SECRET,
        "CORS_ORIGINS": "https://pos.example",
        "DATABASE_URL": database_url,
        "HOST": "127.0.0.1",
        "PORT": str(free_port()),
        "METRICS_PORT": str(free_port()),
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"),
        "RUN_MIGRATIONS": "0",
        "ASR_PRELOAD": "false",
        "LOG_FILE_PATH": "",
        "LOG_LEVEL": "warning",
        "LOG_BATCH_SECONDS": "0.05",  # the production default (the suite itself uses 0)
        "RATE_LIMIT_DEFAULT": "100000/minute",
        **overrides,
    }


@contextmanager
def prod_server(
    tmp_path: Path, env: dict[str, str], ready_timeout: float = 90
) -> Iterator[ProdServer]:
    """Run scripts/start-prod.sh with `env`; wait until every worker answers; stop after."""
    log = tmp_path / "server.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            ["bash", "scripts/start-prod.sh"], cwd=PROJECT_ROOT, env=env,
            stdout=out, stderr=out, start_new_session=True,
        )  # fmt: skip
    server = ProdServer(
        f"http://127.0.0.1:{env['PORT']}",
        f"http://127.0.0.1:{env['METRICS_PORT']}/metrics",
        process,
        env,
        log,
    )
    try:
        wait_for(lambda: answers(server.api + "/healthcheck"), timeout=ready_timeout)
        wanted = int(env["WEB_CONCURRENCY"])
        wait_for(lambda: len(server.workers()) == wanted, timeout=ready_timeout)
        time.sleep(0.5)  # the last worker's event loop is up, not just forked
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait()


def create_credentials(env: dict[str, str], name: str = "load shop") -> dict[str, str]:
    """A new API client through the operator CLI, against the server's database."""
    out = subprocess.run(
        [sys.executable, "-m", "src.auth", "create-client", "--name", name, "--json"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    creds: dict[str, str] = json.loads(out)
    return creds


def create_api_key(env: dict[str, str], secret_id: str, name: str = "api key") -> str:
    """A new static API key (vk_...) through the operator CLI."""
    out = subprocess.run(
        [sys.executable, "-m", "src.auth", "create-api-key", secret_id, "--name", name, "--json"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    key: str = json.loads(out)["api_key"]
    return key


def bearer(api: str, creds: dict[str, str]) -> dict[str, str]:
    """An Authorization header for `creds`, from the running server."""
    response = httpx.post(
        api + "/auth/token",
        json={"secret_id": creds["secret_id"], "secret_key": creds["secret_key"]},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['data']['access_token']}"}


# -- a private Redis -----------------------------------------------------------------


@dataclass
class PrivateRedis:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def cli(self, *args: str, timeout: float = 10) -> str:
        return subprocess.run(
            ["redis-cli", "-p", str(self.port), *args],
            capture_output=True, text=True, timeout=timeout,
        ).stdout  # fmt: skip

    def stop(self) -> None:
        self.cli("shutdown", "nosave")
        self.process.wait(10)


@contextmanager
def private_redis() -> Iterator[PrivateRedis]:
    """A redis-server of our own on a free port, DEBUG allowed from loopback."""
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        missing_tool("redis-server")
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--enable-debug-command", "local", "--dir", tempfile.gettempdir()],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    redis = PrivateRedis(port, process)
    try:
        wait_for(lambda: redis.cli("ping").strip() == "PONG", timeout=10)
        yield redis
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# -- a private PostgreSQL cluster ------------------------------------------------------


@dataclass
class PrivatePostgres:
    bin_dir: Path
    data_dir: Path
    port: int
    as_user: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k {self.data_dir} -h 127.0.0.1"
        subprocess.run(
            [*self.as_user, str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir),
             "-o", options, "-l", str(self.data_dir / "server.log"), "-w", "-t", "30", *args],
            check=True, capture_output=True,
        )  # fmt: skip

    def accepting(self) -> bool:
        result = subprocess.run(
            [str(self.bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
            capture_output=True,
        )  # fmt: skip
        return result.returncode == 0


def _postgres_bin() -> Path | None:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    if candidates:
        return candidates[0].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """initdb + pg_ctl on a free port (as the postgres user when we are root)."""
    bin_dir = _postgres_bin()
    if bin_dir is None:
        missing_tool("PostgreSQL server binaries (initdb)")
    assert bin_dir is not None
    # Not under tmp_path: pytest's folders are private to us, and the server may run
    # as another user.
    data_dir = Path(tempfile.mkdtemp(prefix="voice-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(data_dir, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*as_user, str(bin_dir / "initdb"), "-D", str(data_dir), "-U", "postgres",
         "--auth=trust", "--no-sync", "-E", "UTF8"],
        check=True, capture_output=True,
    )  # fmt: skip
    cluster = PrivatePostgres(bin_dir, data_dir, free_port(), as_user)
    cluster.pg_ctl("start")
    try:
        yield cluster
    finally:
        subprocess.run(
            [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-m", "immediate", "stop"],
            capture_output=True,
        )  # fmt: skip
        shutil.rmtree(data_dir, ignore_errors=True)


# -- haproxy ---------------------------------------------------------------------------

_HAPROXY = """
global
  maxconn 2000
defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  # A connection refused by a dead instance is tried on another one; a request that
  # reached an instance is never sent twice by the balancer.
  retries 2
  option redispatch
frontend api
  bind 127.0.0.1:{port}
  default_backend instances
backend instances
  balance roundrobin
  option httpchk GET /api/v1/readiness
  http-check expect status 200
  default-server inter 300ms fall 2 rise 2
  http-response set-header X-Served-By %s
{servers}
"""


def served_by(url: str, count: int) -> set[str]:
    """The instances (X-Served-By) that answered `count` GETs of `url` through haproxy."""
    try:
        return {httpx.get(url, timeout=2).headers.get("x-served-by", "?") for _ in range(count)}
    except httpx.HTTPError:
        return set()


@contextmanager
def haproxy(tmp_path: Path, backends: dict[str, str]) -> Iterator[str]:
    """Debian's haproxy balancing round-robin over `backends` (name -> base URL), with
    health checks on /api/v1/readiness; yields its base URL once every backend is in."""
    if shutil.which("haproxy") is None:
        missing_tool("haproxy")
    port = free_port()
    servers = "\n".join(
        f"  server {name} {base.removeprefix('http://')} check" for name, base in backends.items()
    )
    config = tmp_path / f"haproxy-{port}.cfg"
    config.write_text(_HAPROXY.format(port=port, servers=servers))
    with (tmp_path / f"haproxy-{port}.log").open("wb") as log:
        process = subprocess.Popen(
            ["haproxy", "-f", str(config), "-db"], stdout=subprocess.DEVNULL, stderr=log
        )
    base = f"http://127.0.0.1:{port}"
    try:
        # Every backend in the balancer: round-robin reaches each within a few requests.
        wait_for(
            lambda: served_by(base + "/api/v1/healthcheck", len(backends) * 3) == set(backends),
            timeout=30,
        )
        yield base
    finally:
        process.terminate()
        process.wait(10)
