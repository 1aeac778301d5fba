"""Audio intake: bytes in, 16 kHz mono float32 samples out, at a bounded cost.

faster-whisper's own `decode_audio` opens anything FFmpeg can and resamples the
whole stream into memory. A 1 MiB FLAC of silence can hold hours (230 MB of
float32 per hour), and demuxers such as HLS or `concat:` open nested URLs and
local files. So audio is only ever opened from bytes, with a format chosen by
our own magic-byte sniff from an allow-list, its declared duration checked
before decoding, and its decoded length counted while decoding.
"""

import io
import itertools
from collections.abc import Iterable
from dataclasses import dataclass

import av
import numpy as np
import numpy.typing as npt

from src.voice.exceptions import AudioInvalid, AudioUnsupported

SAMPLE_RATE = 16_000
RAW_ENCODINGS: dict[str, np.dtype[np.generic]] = {
    "pcm_s16le": np.dtype("<i2"),
    "pcm_f32le": np.dtype("<f4"),
}
CONTAINER_ENCODINGS = ("wav", "flac", "ogg", "mp3", "webm", "m4a")
# Peak amplitude below which a clip holds nothing a recogniser could hear (-60 dBFS).
SILENCE_PEAK = 1e-3
# A spoken order is one stream; a container of dozens only makes the demuxer work.
MAX_STREAMS = 4
# Shorter than this holds no word (and is what a header that lies about its size leaves).
MIN_SECONDS = 0.1

# Encoding name -> the FFmpeg demuxer we allow for it, and the demuxer names that
# `container.format.name` may report for it (FFmpeg names some as lists).
_DEMUXERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "wav": ("wav", ("wav",)),
    "flac": ("flac", ("flac",)),
    "ogg": ("ogg", ("ogg",)),
    "mp3": ("mp3", ("mp3",)),
    "webm": ("matroska", ("matroska,webm", "matroska", "webm")),
    "m4a": ("mp4", ("mov,mp4,m4a,3gp,3g2,mj2", "mp4", "mov")),
}

Samples = npt.NDArray[np.float32]

# What PyAV raises for bad bytes: FFmpeg's errors, and (found by fuzzing) a
# UnicodeDecodeError for metadata tags that are not UTF-8.
_DECODE_ERRORS = (av.FFmpegError, UnicodeDecodeError)


@dataclass(frozen=True, slots=True)
class DecodedAudio:
    """Mono float32 samples at 16 kHz, with what the client sent."""

    samples: Samples
    encoding: str

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / SAMPLE_RATE


def sniff_encoding(data: bytes) -> str | None:
    """The container format of `data` from its first bytes, or None if not allowed."""
    head = data[:64]
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML: Matroska/WebM
        return "webm"
    if head[4:8] == b"ftyp":
        return "m4a"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


def decode_audio(
    data: bytes,
    *,
    encoding: str | None,
    hertz: int | None,
    max_seconds: float,
) -> DecodedAudio:
    """Decode and resample `data` to 16 kHz mono, refusing anything over `max_seconds`.

    Raises AudioUnsupported (415) for a format we do not read and AudioInvalid (422)
    for bytes that do not decode, hold no sound, or run too long.
    """
    if not data:
        raise AudioInvalid("audio is empty")
    if encoding in RAW_ENCODINGS:
        samples = _decode_raw(data, RAW_ENCODINGS[encoding], hertz, max_seconds)
    else:
        sniffed = sniff_encoding(data)
        if sniffed is None:
            if encoding is not None:
                raise AudioInvalid(f"the bytes are not {encoding} audio")
            raise AudioUnsupported(
                "unrecognised audio format: send wav, flac, ogg, mp3, webm or m4a, "
                "or raw pcm_s16le/pcm_f32le with `encoding` and `hertz`"
            )
        # The bytes decide: a client that labels an Opus file "webm" still gets served,
        # and nothing is ever opened with a demuxer the sniff did not choose.
        samples = _decode_container(data, sniffed, max_seconds)
        encoding = sniffed
    if samples.size == 0:
        raise AudioInvalid("audio holds no samples")
    if samples.size < MIN_SECONDS * SAMPLE_RATE:
        raise AudioInvalid(f"audio is shorter than {MIN_SECONDS:g} seconds")
    if float(np.max(np.abs(samples))) < SILENCE_PEAK:
        raise AudioInvalid("audio is silent")
    return DecodedAudio(samples=samples, encoding=encoding)


def _too_long(max_seconds: float) -> AudioInvalid:
    return AudioInvalid(f"audio is longer than {max_seconds:g} seconds")


def _decode_raw(
    data: bytes, dtype: np.dtype[np.generic], hertz: int | None, max_seconds: float
) -> Samples:
    if hertz is None:
        raise AudioInvalid("raw PCM needs `hertz` (8000-48000)")
    if len(data) % dtype.itemsize:
        raise AudioInvalid(f"raw PCM length is not a multiple of {dtype.itemsize} bytes")
    if len(data) / dtype.itemsize / hertz > max_seconds:
        raise _too_long(max_seconds)
    raw = np.frombuffer(data, dtype=dtype)
    if dtype.kind == "f":
        if not np.all(np.isfinite(raw)):
            raise AudioInvalid("raw float PCM holds NaN or infinite samples")
        pcm = np.clip(raw, -1.0, 1.0).astype(np.float32)
    else:
        pcm = raw.astype(np.float32) / 32768.0
    if hertz == SAMPLE_RATE:
        return pcm
    frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="flt", layout="mono")
    frame.sample_rate = hertz
    return _resample([frame], max_seconds)


def _decode_container(data: bytes, encoding: str, max_seconds: float) -> Samples:
    demuxer, reported = _DEMUXERS[encoding]
    try:
        container = av.open(io.BytesIO(data), mode="r", format=demuxer)
    except _DECODE_ERRORS as exc:
        raise AudioInvalid(f"{encoding} audio cannot be decoded: {_reason(exc)}") from None
    with container:
        if container.format.name not in reported:
            raise AudioUnsupported(f"unexpected container {container.format.name!r}")
        if not container.streams.audio:
            raise AudioInvalid("no audio stream")
        if len(container.streams) > MAX_STREAMS:
            raise AudioInvalid(f"{len(container.streams)} streams in one file; send one")
        stream = container.streams.audio[0]
        declared = _declared_seconds(container, stream)
        if declared is not None and declared > max_seconds:
            raise _too_long(max_seconds)
        try:
            return _resample(container.decode(stream), max_seconds)
        except _DECODE_ERRORS as exc:
            raise AudioInvalid(f"{encoding} audio cannot be decoded: {_reason(exc)}") from None


def _declared_seconds(
    container: "av.container.InputContainer", stream: "av.AudioStream"
) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def _resample(frames: Iterable["av.AudioFrame"], max_seconds: float) -> Samples:
    """Resample frames to 16 kHz mono float32, stopping once past `max_seconds`."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    limit = int(max_seconds * SAMPLE_RATE)
    chunks: list[Samples] = []
    total = 0
    # A final None flushes the resampler; frames are pulled one at a time.
    for frame in itertools.chain(frames, [None]):
        for out in resampler.resample(frame):
            chunk = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
            total += chunk.size
            if total > limit:
                raise _too_long(max_seconds)
            chunks.append(chunk)
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(chunks)


def _reason(exc: Exception) -> str:
    return str(getattr(exc, "strerror", None) or exc.__class__.__name__)
