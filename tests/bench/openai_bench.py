"""The OpenAI-compatible route against the bare recogniser, on the same clips.

The route (uvicorn, one worker, an API key, multipart upload, our audio intake, the
decode slot, the response format) against faster-whisper alone in this process
(`WhisperModel.transcribe` on the same bytes, same model and decoding options),
interleaved clip by clip so that both see the same machine. The difference of their
medians is the route's overhead. Then `verbose_json` with word timestamps against
without them, through the route.
"""

import io
import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from src.config import Settings
from src.platform.db.migrate import upgrade
from src.voice.speech.engine import ModelOptions, bundled_model_path, load_model
from tests.bench.report import ROOT, today
from tests.bench.servers import app_env, server, uvicorn
from tests.processes import create_api_key, create_credentials

CLIPS = sorted((ROOT / "tests" / "data" / "audio").glob("*.flac"))


def _median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def run(quick: bool = False) -> str:
    """Measure and return the section for docs/BENCHMARKS.md."""
    rounds = 2 if quick else 12
    settings = Settings()
    tmp = Path(tempfile.mkdtemp(prefix="openai-bench-"))
    database = f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    upgrade(database)
    env = app_env(database, ASR_PRELOAD="true", WEB_CONCURRENCY="1")
    key = create_api_key(env, create_credentials(env, "openai bench")["secret_id"])
    model = load_model(
        ModelOptions(
            source=settings.ASR_MODEL or bundled_model_path(),
            device=settings.ASR_DEVICE,
            compute_type=settings.ASR_COMPUTE_TYPE,
            cpu_threads=settings.ASR_CPU_THREADS,
        )
    )
    clips = {path.name: path.read_bytes() for path in CLIPS}

    def bare(data: bytes, words: bool = False) -> str:
        segments, _info = model.transcribe(
            io.BytesIO(data),
            beam_size=settings.ASR_BEAM_SIZE,
            temperature=[0.0],
            condition_on_previous_text=False,
            vad_filter=settings.ASR_SKIP_SILENCE,
            word_timestamps=words,
        )
        return "".join(s.text for s in segments).strip()

    route_s: dict[str, list[float]] = {name: [] for name in clips}
    bare_s: dict[str, list[float]] = {name: [] for name in clips}
    plain_s: list[float] = []
    words_s: list[float] = []
    with (
        server(uvicorn("src.main:app"), env, "/api/v1/readiness", tmp / "server.log", cpus=None)
        as (base, _),
        httpx.Client(base_url=base + "/api/v1", headers={"Authorization": f"Bearer {key}"},
                     timeout=60) as http,
    ):  # fmt: skip

        def route(name: str, **fields: str) -> httpx.Response:
            files = {"file": (name, clips[name], "audio/flac")}
            response = http.post("/audio/transcriptions", files=files, data=fields)
            response.raise_for_status()
            return response

        for name, data in clips.items():  # warm both: first decodes allocate
            assert route(name).json()["text"] == bare(data), name
        for _ in range(rounds):
            for name, data in clips.items():
                started = time.perf_counter()
                route(name, model="whisper-1")
                route_s[name].append(time.perf_counter() - started)
                started = time.perf_counter()
                bare(data)
                bare_s[name].append(time.perf_counter() - started)
                started = time.perf_counter()
                route(name, response_format="verbose_json")
                plain_s.append(time.perf_counter() - started)
                started = time.perf_counter()
                route(name, response_format="verbose_json", **{"timestamp_granularities[]": "word"})
                words_s.append(time.perf_counter() - started)
    rows = []
    overheads = []
    for name in clips:
        overhead = _median_ms(route_s[name]) - _median_ms(bare_s[name])
        overheads.append(overhead)
        rows.append(
            f"| {name} | {_median_ms(bare_s[name]):.0f} | {_median_ms(route_s[name]):.0f} "
            f"| {overhead:+.1f} |"
        )
    words_ratio = statistics.median(words_s) / statistics.median(plain_s)
    return "\n".join(
        [
            "## OpenAI-compatible transcription",
            "",
            f"Measured {today()} with `scripts/bench openai` ({rounds} rounds, interleaved): "
            "`POST /api/v1/audio/transcriptions` on uvicorn (one worker, an API key, "
            "multipart) against `WhisperModel.transcribe` on the same bytes in the bench "
            "process (bundled tiny.en, int8, the same beam and options). Medians in ms.",
            "",
            "| clip | bare recogniser | route (`json`) | route overhead |",
            "|---|---|---|---|",
            *rows,
            "",
            f"Route overhead, mean of the clips' median differences: "
            f"**{statistics.mean(overheads):+.1f} ms** per request (target <= 5 ms).",
            "",
            f"`verbose_json` with word timestamps: median {_median_ms(words_s):.0f} ms against "
            f"{_median_ms(plain_s):.0f} ms without ({words_ratio:.2f}x): word alignment "
            "is computed only when `timestamp_granularities[]=word` asks for it.",
            "",
            json.dumps({"overhead_ms": round(statistics.mean(overheads), 2),
                        "words_ratio": round(words_ratio, 3)}),
        ]
    )  # fmt: skip
