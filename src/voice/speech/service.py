"""Speech use cases: the process's model, its decode slots, and what is counted.

The model loads once per worker process (after gunicorn forks: CTranslate2 is not
fork-safe) in a background thread, so the process answers liveness probes while it
loads and readiness says "loading" until it is done. Each decode runs in a worker
thread while holding one of ASR_MAX_CONCURRENCY slots; a request that waits longer
than ASR_QUEUE_TIMEOUT for a slot gets SERVICE_BUSY rather than queueing without end.
"""

import asyncio
import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import Future
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from src.config import Settings
from src.database import release_connection
from src.exceptions import ServiceBusy, ServiceUnavailable
from src.platform.observability.metrics import (
    ASR_MODEL_LOADED,
    AUDIO_SECONDS,
    CHALLENGED_READINGS,
    DECODE_SECONDS,
    REAL_TIME_FACTOR,
    REHEARD_READINGS,
    SECOND_LISTENS,
    SPEECH_BUSY,
    THIRD_LISTENS,
)
from src.voice.catalog.service import PreparedCatalog
from src.voice.speech.decode_threads import DecodeThreads
from src.voice.speech.engine import (
    AudioInput,
    Challenger,
    DecodeOptions,
    DetailedRequest,
    DetailedSegment,
    DetailedTranscription,
    ModelOptions,
    ReadingCheck,
    Respeller,
    SpeechModel,
    Transcript,
    bundled_model_path,
    load_model,
)
from src.voice.speech.slots import FairSlots, SlotsBusy

logger = logging.getLogger(__name__)


class SpeechService:
    """The speech model of this process, loaded in the background, with bounded decodes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._model: SpeechModel | None = None
        self._error: str | None = None
        self._loaded = threading.Event()
        self._loader: threading.Thread | None = None
        self.threads = DecodeThreads(FairSlots(settings.ASR_MAX_CONCURRENCY))
        self.slots = self.threads.slots

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

    @property
    def multilingual(self) -> bool:
        """Whether the model hears more than English (an `.en` model does not)."""
        return self._model is not None and self._model.multilingual

    @property
    def model(self) -> SpeechModel | None:
        """The loaded model, or None while it loads (or failed to)."""
        return self._model

    def load(self) -> None:
        """Load the model now (blocking). A failure is logged and re-raised."""
        settings = self.settings
        source = settings.ASR_MODEL or bundled_model_path()
        started = time.perf_counter()
        try:
            model = load_model(
                ModelOptions(
                    source=source,
                    device=settings.ASR_DEVICE,
                    compute_type=settings.ASR_COMPUTE_TYPE,
                    cpu_threads=settings.ASR_CPU_THREADS,
                    replicas=settings.ASR_MAX_CONCURRENCY,
                    cpu_isa=settings.ASR_CPU_ISA,
                )
            )
        except Exception as exc:
            self._error = f"{type(exc).__name__}: {exc}"
            logger.error(
                "speech model failed to load", extra={"model": source, "error": self._error}
            )
            raise
        finally:
            self._loaded.set()
        self._model = SpeechModel(
            model,
            DecodeOptions(
                beam_size=settings.ASR_BEAM_SIZE,
                max_audio_seconds=settings.ASR_MAX_AUDIO_SECONDS,
                second_listen=settings.ASR_SECOND_LISTEN,
                third_listen=settings.ASR_THIRD_LISTEN,
                skip_silence=settings.ASR_SKIP_SILENCE,
            ),
        )
        ASR_MODEL_LOADED.set(1)
        logger.info(
            "speech model loaded",
            extra={
                "model": settings.ASR_MODEL or "bundled tiny.en",
                "device": settings.ASR_DEVICE,
                "compute_type": settings.ASR_COMPUTE_TYPE,
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

    def wait_loaded(self, timeout: float | None = None) -> bool:
        """Block until loading finished (successfully or not)."""
        return self._loaded.wait(timeout)

    def close(self, timeout: float = 30) -> None:
        """Wait for a load in progress, then let the model go.

        A process that exits while CTranslate2 is still loading on another thread
        aborts ("terminate called without an active exception"), so shutdown waits.
        """
        if self._loader is not None:
            self._loader.join(timeout)
        self.threads.shutdown()
        self._model = None

    def hotwords_for(self, phrases: tuple[str, ...]) -> str | None:
        """Hot words for a catalog's phrases (None until the model is loaded)."""
        return self._model.hotwords_for(phrases) if self._model is not None else None

    async def transcribe(
        self,
        audio: AudioInput,
        *,
        client: str,
        hotwords: str | None = None,
        accept: ReadingCheck | None = None,
        respell: Respeller | None = None,
        challenge: Challenger | None = None,
        queue_timeout: float | None = None,
    ) -> Transcript:
        """Transcribe off the event loop in one of the decode slots, shared fairly
        between clients (`slots.FairSlots`); `accept`, `respell` and `challenge` as
        `SpeechModel.transcribe` takes them.

        Raises ServiceUnavailable while the model loads, ServiceBusy when no slot came
        free for `client` within ASR_QUEUE_TIMEOUT, AudioInvalid/AudioUnsupported for
        bad audio.
        """
        model = await self._take_slot(client, queue_timeout)
        # The slot goes back when the decode ends, even if this task is cancelled first.
        transcript = await self.threads.call(
            client, model.transcribe, audio, hotwords, accept, respell, challenge
        )
        _count_decode(transcript.duration, transcript.decode_seconds)
        if transcript.second_listen:
            SECOND_LISTENS.inc()
        if transcript.third_listen:
            THIRD_LISTENS.inc()
        REHEARD_READINGS.inc(transcript.reheard)
        if transcript.challenged:
            CHALLENGED_READINGS.inc()
        return transcript

    async def transcribe_partial(
        self, samples: np.ndarray, *, client: str, hotwords: str | None = None
    ) -> str:
        """A quick reading of speech under way (`SpeechModel.transcribe_partial`), only
        if a decode slot is free now: ServiceBusy at once otherwise (a partial may be
        skipped; it never queues)."""
        model = await self._take_slot(client, 0.0)
        return await self.threads.call(client, model.transcribe_partial, samples, hotwords)

    async def start_detailed(
        self, audio: AudioInput, request: DetailedRequest, *, client: str
    ) -> "DetailedDecode":
        """Decode the audio and start transcribing it segment by segment, holding one
        decode slot until the returned decode is read to its end or closed.

        Raises as `transcribe` does, before any segment is decoded: bad audio, a busy
        service or a model still loading never start a response.
        """
        model = await self._take_slot(client)
        started = time.perf_counter()
        first = self.threads.submit(model.transcribe_detailed, audio, request)
        try:
            transcription = await asyncio.wrap_future(first)
        except BaseException:
            self.threads.release_when_done(first, client)
            raise
        return DetailedDecode(self.threads, client, transcription, started)

    async def _take_slot(self, client: str, queue_timeout: float | None = None) -> SpeechModel:
        """The loaded model, with one decode slot taken for `client` (release it) within
        `queue_timeout` seconds (ASR_QUEUE_TIMEOUT by default)."""
        model = self._model
        if model is None:
            self.start_loading()  # with ASR_PRELOAD off, the first request starts it
            raise ServiceUnavailable(
                data={"checks": {"speech_model": self.state}}, headers={"Retry-After": "5"}
            )
        try:
            wait = self.settings.ASR_QUEUE_TIMEOUT if queue_timeout is None else queue_timeout
            await self.slots.acquire(client, wait)
        except SlotsBusy:
            SPEECH_BUSY.inc()
            raise ServiceBusy(headers={"Retry-After": "1"}) from None
        return model


def _count_decode(audio_seconds: float, decode_seconds: float) -> None:
    AUDIO_SECONDS.inc(audio_seconds)
    DECODE_SECONDS.observe(decode_seconds)
    REAL_TIME_FACTOR.observe(decode_seconds / max(audio_seconds, 1e-3))


class DetailedDecode:
    """A clip being transcribed segment by segment, holding one decode slot.

    Each segment is decoded in a worker thread as it is asked for; the slot goes back
    when the segments run out or `close()` is called, whichever comes first.
    """

    def __init__(
        self,
        threads: DecodeThreads,
        client: str,
        transcription: DetailedTranscription,
        started: float,
    ) -> None:
        self._threads = threads
        self._step: Future[Any] | None = None
        self._client = client
        self._transcription = transcription
        self._started = started
        self._closed = False

    @property
    def language(self) -> str:
        return self._transcription.language

    @property
    def duration(self) -> float:
        return self._transcription.duration

    async def segments(self) -> AsyncIterator[DetailedSegment]:
        """The segments, each decoded when it is asked for."""
        iterator = self._transcription.segments
        try:
            while True:
                segment = await self._in_thread(next, iterator, None)
                if segment is None:
                    return
                yield segment
        finally:
            self.close()

    async def read_all(self) -> list[DetailedSegment]:
        """Every segment, decoded in one worker-thread call."""
        try:
            segments: list[DetailedSegment] = await self._in_thread(
                list, self._transcription.segments
            )
            return segments
        finally:
            self.close()

    async def _in_thread(self, fn: Any, *args: Any) -> Any:
        self._step = self._threads.submit(fn, *args)
        return await asyncio.wrap_future(self._step)

    def close(self) -> None:
        """Give the slot back (once: when a step still running ends) and count the
        decode."""
        if self._closed:
            return
        self._closed = True
        if self._step is not None and not self._step.done():
            self._threads.release_when_done(self._step, self._client)
        else:
            self._threads.slots.release(self._client)
        _count_decode(self.duration, time.perf_counter() - self._started)


async def transcribe_for_catalog(
    speech: SpeechService,
    audio: AudioInput,
    catalog: PreparedCatalog | None,
    db_session: AsyncSession,
    *,
    client: str,
    accept: ReadingCheck | None = None,
    respell: Respeller | None = None,
    challenge: Challenger | None = None,
) -> Transcript:
    """Transcribe biased toward what the client sells; with `accept`, readings it
    rejects are heard again, slowed, up to twice (an order: "reads as an order"), and then the
    readings `respell` suggests are weighed against the audio, and last those
    `challenge` suggests for the best reading."""
    # A decode takes a good part of a second: no database connection held meanwhile.
    await release_connection(db_session)
    # Hot words are fitted once per catalog version (cached by phrase tuple).
    hotwords = speech.hotwords_for(catalog.speech_phrases) if catalog is not None else None
    if catalog is not None and catalog.speech_language and audio.language is None:
        # The catalog's first declared language (a multilingual model hears it; an
        # English-only one ignores the hint).
        audio = dataclasses.replace(audio, language=catalog.speech_language)
    return await speech.transcribe(
        audio,
        client=client,
        hotwords=hotwords,
        accept=accept,
        respell=respell,
        challenge=challenge,
    )
