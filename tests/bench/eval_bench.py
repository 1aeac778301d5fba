"""The shared dev set scored through a running server with the shared scorer."""

import subprocess
import sys
import tempfile
from pathlib import Path

from tests.bench.http_bench import _prepare
from tests.bench.report import ROOT, SHARED, shown, today
from tests.bench.servers import app_env, server, uvicorn

DEFAULT_EVAL = SHARED / "eval"


def _score(base: str, creds: dict[str, str], eval_dir: Path, mode: str, quick: bool) -> str:
    argv = [
        sys.executable, str(eval_dir / "score_orders.py"), "--base-url", base,
        "--secret-id", creds["secret_id"], "--secret-key", creds["secret_key"],
        "--cases", str(eval_dir / "dev.jsonl"), "--catalogs", str(eval_dir / "catalogs"),
        "--mode", mode,
        # One decode at a time is what ASR_MAX_CONCURRENCY=1 serves; more would only queue.
        "--concurrency", "1" if mode == "audio" else "4",
    ]  # fmt: skip
    if mode == "audio":
        argv += ["--audio-dir", str(eval_dir / "audio" / "dev")]
    if quick:
        argv += ["--limit", "10"]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=1800)
    return done.stdout.strip() or done.stderr.strip()


def run(eval_dir: Path = DEFAULT_EVAL, quick: bool = False) -> str:
    if not (eval_dir / "score_orders.py").exists():
        return f"## Dev set\n\nSkipped: {eval_dir}/score_orders.py not found (pass --eval DIR)."
    with tempfile.TemporaryDirectory() as tmp:
        database = f"sqlite+aiosqlite:///{Path(tmp) / 'eval.db'}"
        creds = _prepare(database)
        env = app_env(database, ASR_PRELOAD="true")
        with server(
            uvicorn("src.main:app"), env, "/api/v1/readiness", Path(tmp) / "log", cpus=None
        ) as (base, _):
            text = _score(base, creds, eval_dir, "text", quick)
            audio = _score(base, creds, eval_dir, "audio", quick)
    return "\n".join(
        [
            f"## Dev set through the API — {today()}",
            "",
            f"Command: `scripts/bench eval --eval {shown(eval_dir)}`{' --quick' if quick else ''}: a uvicorn",
            "server as in production (SQLite), a client of its own, then the shared scorer",
            "`score_orders.py` in text mode (concurrency 4) and audio mode (concurrency 1;",
            "the bundled tiny.en on CPU). Targets: audio exact ≥ 0.85.",
            "",
            "Text mode:",
            "",
            "```",
            text,
            "```",
            "",
            "Audio mode:",
            "",
            "```",
            audio,
            "```",
        ]
    )
