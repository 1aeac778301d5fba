"""Speech: the dev set's spoken orders through the engine and the parser, in-process.

For each recogniser setting: exact-order accuracy (the scorer's comparison), word
error rate of the transcript, speech-to-order latency (decode + recognise + parse)
and real-time factor, on this machine's CPU; then the worker's peak memory.
"""

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

from src.config import Settings
from src.voice.catalog.index import CatalogIndex
from src.voice.catalog.service import speech_phrases
from src.voice.orders.parser import choose_reading
from src.voice.orders.respelling import HeardOrder
from src.voice.speech.engine import AudioInput, SpeechModel
from src.voice.speech.service import SpeechService
from tests.bench.report import SHARED, percentile, shown, today

DEFAULT_EVAL = SHARED / "eval"

# (label, beam size, catalog hot words, listening again, a third listen, rehearing,
# recounting uncounted items)
SETTINGS = [
    ("beam 8, hot words, three listens, rehearing, recounts (default)", 8, True, True, True, True, True),
    ("beam 8, hot words, three listens, rehearing, no recounts", 8, True, True, True, True, False),
    ("beam 8, hot words, two listens, rehearing, recounts", 8, True, True, False, True, True),
    ("beam 8, hot words, three listens, no rehearing, no recounts", 8, True, True, True, False, False),
    ("beam 8, hot words, one listen", 8, True, False, False, False, False),
    ("beam 8, no biasing, one listen", 8, False, False, False, False, False),
    ("beam 5, hot words, three listens, rehearing, recounts", 5, True, True, True, True, True),
]  # fmt: skip


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _load(eval_dir: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    cases = [json.loads(line) for line in (eval_dir / "dev.jsonl").read_text().splitlines() if line]
    catalogs = {}
    for path in (eval_dir / "catalogs").glob("*.json"):
        catalog = json.loads(path.read_text())
        index = CatalogIndex.build(
            [(i["sku"], i["name"], i.get("aliases", [])) for i in catalog["items"]],
            [
                (m["code"], m["name"], m.get("aliases", []), m.get("group"))
                for m in catalog["modifiers"]
            ],
        )
        phrases = speech_phrases(
            [i["name"] for i in catalog["items"]], [m["name"] for m in catalog["modifiers"]]
        )
        catalogs[path.stem] = (index, phrases)
    return [c for c in cases if c.get("audio")], catalogs


def _measure(
    engine: SpeechModel,
    cases: list[dict[str, Any]],
    catalogs: dict[str, Any],
    eval_dir: Path,
    biased: bool,
    listen_again: bool,
    rehearing: bool,
    recounting: bool,
) -> dict[str, float]:
    sys.path.insert(0, str(eval_dir))
    import score_orders  # the scorer's own comparison and WER normalisation

    exact = errors = words = second = third = reheard = recounted = 0
    latencies: list[float] = []
    decode = audio = 0.0
    for case in cases:
        index, phrases = catalogs[case["catalog"]]
        data = (eval_dir / "audio" / "dev" / case["audio"]["file"]).read_bytes()
        started = time.perf_counter()
        hotwords = engine.hotwords_for(phrases) if biased else None
        heard = HeardOrder(index)  # as the order route asks
        accept = heard.accepts if listen_again else None
        respell = heard.respellings if rehearing else None
        challenge = heard.recounts if recounting else None
        transcript = engine.transcribe(
            AudioInput(data=data, language="en"), hotwords, accept, respell, challenge
        )
        second += transcript.second_listen
        third += transcript.third_listen
        reheard += transcript.reheard > 0
        recounted += transcript.challenged
        _reading, result = choose_reading(
            [transcript.text, *transcript.alternatives], index, transcript.confidences
        )
        latencies.append(time.perf_counter() - started)
        decode += transcript.decode_seconds
        audio += transcript.duration
        items = [
            {"sku": line.sku, "quantity": line.quantity, "modifiers": list(line.modifiers)}
            for line in result.lines
        ]
        exact += score_orders.compare_case(case["expected"], items, bool(result.unmatched), True)[
            "exact"
        ]
        e, n = score_orders.word_errors(case["audio"]["ref_text"], transcript.text)
        errors += e
        words += n
    return {
        "n": len(cases),
        "exact": exact / len(cases),
        "wer": errors / words,
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "rtf": decode / audio,
        "mean_audio": audio / len(cases),
        "second": second,
        "third": third,
        "reheard": reheard,
        "recounted": recounted,
    }


def run(eval_dir: Path = DEFAULT_EVAL, quick: bool = False) -> str:
    if not (eval_dir / "dev.jsonl").exists():
        return f"## Speech\n\nSkipped: {eval_dir}/dev.jsonl not found (pass --eval DIR)."
    cases, catalogs = _load(eval_dir)
    if quick:
        cases = cases[:8]
    before = _rss_mib()
    rows = []
    loaded = None
    for label, beam, biased, listen_again, third, rehearing, recounting in (
        SETTINGS[:1] if quick else SETTINGS
    ):
        service = SpeechService(
            Settings(ASR_BEAM_SIZE=beam, ASR_CPU_THREADS=0, ASR_THIRD_LISTEN=third)
        )
        service.load()
        assert service.model is not None
        loaded = loaded or _rss_mib()
        m = _measure(
            service.model, cases, catalogs, eval_dir, biased, listen_again, rehearing, recounting
        )
        rows.append(
            f"| {label} | {m['n']} | {m['exact']:.3f} | {m['wer']:.3f} | {m['p50']:.2f} s | "
            f"{m['p95']:.2f} s | {m['rtf']:.3f} | {m['second']} | {m['third']} | {m['reheard']} "
            f"| {m['recounted']} |"
        )
        mean_audio = m["mean_audio"]
    peak = _rss_mib()
    return "\n".join(
        [
            f"## Speech to order (dev set audio) — {today()}",
            "",
            f"Command: `scripts/bench speech --eval {shown(eval_dir)}`{' --quick' if quick else ''}. The bundled",
            "faster-whisper tiny.en, int8 on CPU (all cores), one decode at a time, the dev",
            "set's spoken orders (16 kHz FLAC, mean "
            f"{mean_audio:.1f} s); latency = audio decode + recognition (one 30 s window, the",
            "beam's n best) + parsing every reading and keeping the best; listening again",
            "decodes the audio 10 % slower when the best reading leaves words unmatched or",
            "orders nothing, and a third listen 20 % slower when the readings of both still do; rehearing",
            "then scores the catalog's respellings of words still unread against the audio",
            "(clips with a suggestion kept are counted); recounting scores counts for items",
            "the best reading orders with none said (clips whose reading gave way are",
            "counted); exact = the scorer's exact-order comparison; WER of the top",
            "transcript as the scorer normalises it.",
            "",
            "| setting | clips | exact | WER | speech-to-order p50 | p95 | real-time factor "
            "| second listens | third listens | reheard | recounted |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            f"Memory (max RSS of this process): {before:.0f} MiB before loading, "
            f"{loaded:.0f} MiB with the model loaded, {peak:.0f} MiB peak after the runs.",
            "Targets: exact ≥ 0.85, speech-to-order p50 ≤ 0.6 s for a 4-second utterance.",
        ]
    )
