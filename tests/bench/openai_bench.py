"""The OpenAI-compatible route's overhead over the recogniser it wraps, and what word
timestamps cost.

The route runs on uvicorn (one worker, LOCAL so that its metrics are on the app); each
request is timed by the client, and the server's own `speech_decode_seconds` says how
long the recogniser worked on it (audio decoding, faster-whisper's decode, the
segments). Their difference, request by request, is the route's overhead: HTTP, the
API-key check, the multipart form, the checks, the decode slot, the response format.

Why not a bare recogniser in another process: there the very same decode runs 1.3-1.6x
slower than inside the server (measured; CTranslate2's threads, not the route), which
would flatter the route by a hundred milliseconds.
"""

import re
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from src.platform.db.migrate import upgrade
from tests.bench.report import ROOT, today
from tests.bench.servers import app_env, server, uvicorn
from tests.processes import create_api_key, create_credentials

CLIPS = sorted((ROOT / "tests" / "data" / "audio").glob("*.flac"))
_DECODE_SUM = re.compile(r"^speech_decode_seconds_sum\S* (\S+)$", re.M)


def _median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def run(quick: bool = False) -> str:
    """Measure and return the section for docs/BENCHMARKS.md."""
    rounds = 2 if quick else 12
    tmp = Path(tempfile.mkdtemp(prefix="openai-bench-"))
    database = f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    upgrade(database)
    env = app_env(database, ENVIRONMENT="LOCAL", ASR_PRELOAD="true", LOG_LEVEL="WARNING")
    key = create_api_key(env, create_credentials(env, "openai bench")["secret_id"])
    clips = {path.name: path.read_bytes() for path in CLIPS}
    latency: dict[str, list[float]] = {name: [] for name in clips}
    decode: dict[str, list[float]] = {name: [] for name in clips}
    models_s: list[float] = []
    plain_s: list[float] = []
    words_s: list[float] = []
    with (
        server(uvicorn("src.main:app"), env, "/api/v1/readiness", tmp / "server.log", cpus=None)
        as (base, _),
        httpx.Client(base_url=base + "/api/v1", headers={"Authorization": f"Bearer {key}"},
                     timeout=60) as http,
    ):  # fmt: skip

        def decoded_so_far() -> float:
            match = _DECODE_SUM.search(http.get(base + "/metrics").text)
            return float(match.group(1)) if match else 0.0

        def timed(name: str, **fields: str) -> float:
            files = {"file": (name, clips[name], "audio/flac")}
            started = time.perf_counter()
            http.post("/audio/transcriptions", files=files, data=fields).raise_for_status()
            return time.perf_counter() - started

        for name in clips:  # warm up: first decodes allocate
            timed(name)
        for _ in range(rounds):
            for name in clips:
                before = decoded_so_far()
                latency[name].append(timed(name, model="whisper-1"))
                decode[name].append(decoded_so_far() - before)
                plain_s.append(timed(name, response_format="verbose_json"))
                words_s.append(
                    timed(name, response_format="verbose_json",
                          **{"timestamp_granularities[]": "word"})
                )  # fmt: skip
                started = time.perf_counter()
                http.get("/models").raise_for_status()
                models_s.append(time.perf_counter() - started)
    rows = []
    overheads: list[float] = []
    for name in clips:
        each = [(lat - dec) for lat, dec in zip(latency[name], decode[name], strict=True)]
        overheads += each
        rows.append(
            f"| {name} | {_median_ms(decode[name]):.0f} | {_median_ms(latency[name]):.0f} "
            f"| {_median_ms(each):.1f} |"
        )
    overhead = _median_ms(overheads)
    words_ratio = statistics.median(words_s) / statistics.median(plain_s)
    return "\n".join(
        [
            "## OpenAI-compatible transcription",
            "",
            f"Measured {today()} with `scripts/bench openai` ({rounds} rounds of the four "
            "test clips): `POST /api/v1/audio/transcriptions` (`json`, an API key, "
            "multipart) on uvicorn, one worker, bundled tiny.en, int8, beam 8; each "
            "request timed by the client, and the recogniser's own time on it read from "
            "the server's `speech_decode_seconds`. Medians in ms.",
            "",
            "| clip | recogniser | request | route overhead |",
            "|---|---|---|---|",
            *rows,
            "",
            f"Route overhead, median over all requests: **{overhead:.1f} ms** (target <= 5 ms); "
            f"for scale, an authenticated `GET /models` round trip on the same connection "
            f"takes {_median_ms(models_s):.1f} ms. Requests go back to back; after an idle "
            "pause, waking the machine's cores adds about 2 ms to any request, this "
            "route's and `GET /models` alike.",
            "",
            f"`verbose_json` with word timestamps: median {_median_ms(words_s):.0f} ms against "
            f"{_median_ms(plain_s):.0f} ms without ({words_ratio:.2f}x); word alignment runs "
            "only when `timestamp_granularities[]=word` asks for it.",
        ]
    )  # fmt: skip
