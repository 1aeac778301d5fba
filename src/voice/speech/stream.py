"""Live audio (pure): frames in, 16 kHz samples out, and where an utterance ends.

`LiveAudio` turns a stream's frames (`pcm_s16le` at its rate, or 8 kHz `mulaw`) into
16 kHz float32 samples (`webm_stream.WebmAudio` does it for a browser's WebM);
`Endpointer` decides from voice activity when the speaker has stopped
(END_SILENCE_SECONDS of silence after speech). Voice activity comes from a function
passed in (Silero, as faster-whisper ships it, in production), so the decision is
unit-tested alone.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from src.voice.speech.audio import SAMPLE_RATE

Samples = npt.NDArray[np.float32]
# (start, end) sample offsets of speech within the samples given.
SpeechFinder = Callable[[Samples], list[tuple[int, int]]]

ENCODINGS = ("pcm_s16le", "mulaw", "webm")
MAX_FRAME_BYTES = 64 * 1024
# Audio may arrive this much faster than real time (buffered audio catching up); more
# is a client replaying a file as fast as it can, which a live stream is not for.
MAX_REAL_TIME_FACTOR = 4.0
END_SILENCE_SECONDS = 0.6
# Voice activity is judged over the last this many seconds, every VAD_EVERY_SECONDS.
VAD_WINDOW_SECONDS = 2.0
VAD_EVERY_SECONDS = 0.2


class FrameRefused(ValueError):
    """A frame that cannot be audio of the declared encoding."""


def mulaw_to_float(data: bytes) -> Samples:
    """G.711 mu-law bytes to float32 samples in [-1, 1] (ITU-T G.711 expansion)."""
    codes = ~np.frombuffer(data, dtype=np.uint8)
    sign = np.where(codes & 0x80, -1.0, 1.0)
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = ((mantissa.astype(np.int32) << 3) + 0x84) << exponent
    samples: Samples = (sign * (magnitude - 0x84) / 32768.0).astype(np.float32)
    return samples


def float_to_mulaw(samples: Samples) -> bytes:
    """float32 samples to G.711 mu-law bytes (for tests and clients; the inverse above)."""
    pcm = np.clip(samples * 32768.0, -32635, 32635).astype(np.int32)
    sign = np.where(pcm < 0, 0x80, 0)
    magnitude = np.abs(pcm) + 0x84
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    exponent = np.clip(exponent, 0, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    codes = (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)
    return bytes(codes.tobytes())


def _resample(samples: Samples, hertz: int) -> Samples:
    if hertz == SAMPLE_RATE:
        return samples
    count = round(len(samples) * SAMPLE_RATE / hertz)
    positions = np.linspace(0, len(samples) - 1, count) if count else np.zeros(0)
    resampled: Samples = np.interp(positions, np.arange(len(samples)), samples).astype(np.float32)
    return resampled


@dataclass
class LiveAudio:
    """Frames of one encoding to 16 kHz samples, counting the audio received."""

    encoding: str
    hertz: int
    seconds: float = 0.0
    _carry: bytes = b""

    def take(self, frame: bytes) -> Samples:
        """The frame's audio at 16 kHz (a pcm frame may split a sample: carried over)."""
        if len(frame) > MAX_FRAME_BYTES:
            raise FrameRefused(f"frames are at most {MAX_FRAME_BYTES} bytes")
        if self.encoding == "mulaw":
            raw = mulaw_to_float(frame)
        else:
            data = self._carry + frame
            usable = len(data) - len(data) % 2
            self._carry = data[usable:]
            raw = np.frombuffer(data[:usable], dtype="<i2").astype(np.float32) / 32768.0
        self.seconds += len(raw) / self.hertz
        return _resample(raw, self.hertz)

    def flush(self) -> Samples:
        """Nothing is held back: every frame's audio came out as it arrived."""
        return np.zeros(0, dtype=np.float32)

    def close(self) -> None:
        """Nothing to let go of."""


@dataclass
class Endpointer:
    """One utterance at a time: its samples, whether speech was heard in it, and
    whether it has ended (END_SILENCE_SECONDS of silence after speech)."""

    find_speech: SpeechFinder
    chunks: list[Samples] = field(default_factory=list)
    length: int = 0
    heard_speech: bool = False
    # Silence after the last speech heard, at the last voice activity check.
    trailing_silence: float = 0.0
    _since_vad: int = 0

    @property
    def seconds(self) -> float:
        return self.length / SAMPLE_RATE

    def add(self, samples: Samples) -> bool:
        """Take 16 kHz samples; True when the utterance has just ended."""
        if samples.size == 0:
            return False
        self.chunks.append(samples)
        self.length += samples.size
        self._since_vad += samples.size
        if self._since_vad < VAD_EVERY_SECONDS * SAMPLE_RATE:
            return False
        self._since_vad = 0
        window = self.tail(VAD_WINDOW_SECONDS)
        spans = self.find_speech(window)
        if spans:
            self.heard_speech = True
        if not self.heard_speech:
            # Silence before anyone speaks is dropped: keep a little for the onset.
            self._keep_tail(0.5)
            return False
        last_end = spans[-1][1] if spans else 0
        self.trailing_silence = (len(window) - last_end) / SAMPLE_RATE
        return self.trailing_silence >= END_SILENCE_SECONDS

    def tail(self, seconds: float) -> Samples:
        """The last `seconds` of the utterance."""
        wanted = int(seconds * SAMPLE_RATE)
        collected: list[Samples] = []
        have = 0
        for chunk in reversed(self.chunks):
            collected.append(chunk)
            have += chunk.size
            if have >= wanted:
                break
        joined = np.concatenate(collected[::-1]) if collected else np.zeros(0, np.float32)
        return joined[-wanted:]

    def utterance(self) -> Samples:
        """All samples of the utterance so far."""
        return np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.float32)

    def reset(self) -> None:
        """Start the next utterance."""
        self.chunks, self.length, self.heard_speech, self._since_vad = [], 0, False, 0
        self.trailing_silence = 0.0

    def _keep_tail(self, seconds: float) -> None:
        kept = self.tail(seconds)
        self.chunks, self.length = [kept], kept.size


def silero_speech(samples: Samples) -> list[tuple[int, int]]:
    """Speech spans by Silero VAD (the model faster-whisper ships), unpadded, so that
    a span ends where the voice does."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(min_silence_duration_ms=300, speech_pad_ms=0)
    return [(s["start"], s["end"]) for s in get_speech_timestamps(samples, options)]
