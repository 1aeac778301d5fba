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

import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from src.platform.db.migrate import upgrade
from src.voice.catalog.service import speech_phrases
from src.voice.speech.engine import (
    AudioInput,
    DecodeOptions,
    DetailedRequest,
    ModelOptions,
    SpeechModel,
    bundled_model_path,
    load_model,
)
from tests.bench.report import ROOT, SHARED, today
from tests.bench.servers import app_env, server, uvicorn
from tests.processes import create_api_key, create_credentials

CLIPS = sorted((ROOT / "tests" / "data" / "audio").glob("*.flac"))
_DECODE_SUM = re.compile(r"^speech_decode_seconds_sum\S* (\S+)$", re.M)


def _catalog_bias(eval_dir: Path) -> list[str]:
    """Word error rate of the route's decode on the spoken dev set, with and without the
    catalog's hot words, in each voice set: rows of a table."""
    sys.path.insert(0, str(eval_dir))
    import score_orders  # the scorer's own WER normalisation

    engine = SpeechModel(load_model(ModelOptions(source=bundled_model_path())), DecodeOptions())
    phrases = {}
    for path in (eval_dir / "catalogs").glob("*.json"):
        catalog = json.loads(path.read_text())
        names = [i["name"] for i in catalog["items"]], [m["name"] for m in catalog["modifiers"]]
        phrases[path.stem] = tuple(speech_phrases(*names))
    cases = [json.loads(line) for line in (eval_dir / "dev.jsonl").read_text().splitlines() if line]
    rows = []
    for voices in ("dev", "dev-voices2"):
        errors = {"none": 0, "hot": 0}
        words = better = worse = 0
        for case in cases:
            clip = eval_dir / "audio" / voices / (case.get("audio") or {}).get("file", "-")
            if not clip.is_file():
                continue
            heard = {}
            for bias in ("none", "hot"):
                hotwords = engine.hotwords_for(phrases[case["catalog"]]) if bias == "hot" else None
                decoded = engine.transcribe_detailed(
                    AudioInput(clip.read_bytes()), DetailedRequest(hotwords=hotwords)
                )
                text = "".join(s.text for s in decoded.segments).strip()
                heard[bias], count = score_orders.word_errors(case["audio"]["ref_text"], text)
                errors[bias] += heard[bias]
            words += count
            better += heard["hot"] < heard["none"]
            worse += heard["hot"] > heard["none"]
        rows.append(
            f"| `audio/{voices}` | {words} | {errors['none'] / words:.3f} | "
            f"{errors['hot'] / words:.3f} | {better} better, {worse} worse |"
        )
    return rows


def _median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def run(quick: bool = False, eval_dir: Path = SHARED / "eval") -> str:
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
    bias = [] if quick or not (eval_dir / "dev.jsonl").is_file() else _catalog_bias(eval_dir)
    if bias:
        bias = [
            "",
            "What the caller's catalog does to the route's transcripts: word error rate on "
            "the spoken dev set (`../shared/eval`, its scorer's normalisation), without and "
            "with the catalog's names as hot words, per clip whether they helped:",
            "",
            "| voices | words | no bias | catalog hot words | clips |",
            "|---|---|---|---|---|",
            *bias,
        ]
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
            *bias,
        ]
    )  # fmt: skip
