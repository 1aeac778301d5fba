"""Audio made at test time: tones in every container we accept, hostile inputs, and
the test clips as samples."""

import io
import math
import struct
import wave
from pathlib import Path

import av
import numpy as np

# Output container, codec and sample format for each encoding the API accepts.
_ENCODERS = {
    "wav": ("wav", "pcm_s16le", "s16"),
    "flac": ("flac", "flac", "s16"),
    "ogg": ("ogg", "libopus", "s16"),
    "mp3": ("mp3", "libmp3lame", "s16p"),
    "webm": ("webm", "libopus", "s16"),
    "m4a": ("ipod", "aac", "fltp"),
}


def tone(seconds: float, hertz: int = 16_000, frequency: float = 440.0) -> np.ndarray:
    """A sine tone at half scale, float32 mono."""
    t = np.arange(int(seconds * hertz)) / hertz
    return (0.5 * np.sin(2 * math.pi * frequency * t)).astype(np.float32)


def _envelope(count: int, attack: float, decay: float, hertz: int) -> np.ndarray:
    shape = np.ones(count)
    rise, fall = int(attack * hertz), int(decay * hertz)
    shape[:rise] = np.linspace(0.0, 1.0, rise)
    shape[count - fall :] = np.linspace(1.0, 0.0, fall)
    return shape


def _padded(samples: np.ndarray, before: float, after: float, hertz: int) -> np.ndarray:
    silence = np.zeros
    return np.concatenate(
        [silence(int(before * hertz)), samples, silence(int(after * hertz))]
    ).astype(np.float32)


def melody(hertz: int = 16_000) -> np.ndarray:
    """Eight plucked notes with overtones, a tune's worth of music (about 3 s)."""
    notes = []
    for frequency in (262, 330, 392, 523, 392, 330, 294, 349):
        t = np.arange(int(0.35 * hertz)) / hertz
        note = sum(np.sin(2 * math.pi * frequency * k * t) / k for k in (1, 2, 3))
        notes.append(0.25 * note * _envelope(t.size, 0.01, 0.2, hertz))
    return _padded(np.concatenate(notes), 0.3, 0.3, hertz)


def chord(seconds: float = 3.0, hertz: int = 16_000) -> np.ndarray:
    """A sustained A-minor chord with a slow tremolo."""
    t = np.arange(int(seconds * hertz)) / hertz
    voices = sum(np.sin(2 * math.pi * f * t) for f in (220, 277, 330))
    return (0.15 * voices * (1 + 0.3 * np.sin(2 * math.pi * 2 * t))).astype(np.float32)


def cough(seed: int = 3, hertz: int = 16_000) -> np.ndarray:
    """A cough-length burst (0.3 s of shaped noise) between a second of silence each side."""
    count = int(0.3 * hertz)
    burst = np.convolve(np.random.default_rng(seed).normal(0, 1, count), np.hanning(24), "same")
    burst = 0.6 * burst / np.abs(burst).max() * _envelope(count, 0.02, 0.25, hertz)
    return _padded(burst, 1.0, 1.2, hertz)


def brown_noise(seconds: float = 3.0, seed: int = 3, hertz: int = 16_000) -> np.ndarray:
    """Brown (random-walk) noise, its slow drift taken out, at about 0.3 peak."""
    walk = np.cumsum(np.random.default_rng(seed).normal(0, 1, int(seconds * hertz)))
    walk -= np.convolve(walk, np.ones(400) / 400, "same")
    return (0.3 * walk / np.abs(walk).max()).astype(np.float32)


def encode(samples: np.ndarray, encoding: str, hertz: int = 16_000) -> bytes:
    """`samples` (float32 mono) in the container of `encoding`, made with PyAV."""
    container_format, codec, sample_format = _ENCODERS[encoding]
    rate = 48_000 if codec == "libopus" else hertz
    if rate != hertz:
        samples = np.interp(
            np.arange(int(len(samples) * rate / hertz)) * hertz / rate,
            np.arange(len(samples)),
            samples,
        ).astype(np.float32)
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate, layout="mono")
        pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
        frame_size = 960 if codec == "libopus" else 1152 if codec == "libmp3lame" else 1024
        for start in range(0, len(pcm), frame_size):
            chunk = pcm[start : start + frame_size]
            frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = rate
            frame.pts = start
            if sample_format != "s16":
                frame = av.AudioResampler(format=sample_format, layout="mono", rate=rate).resample(
                    frame
                )[0]
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def samples_of(path: Path) -> np.ndarray:
    """A clip file's audio as 16 kHz float32 samples, decoded as the service decodes."""
    from src.voice.speech.audio import decode_audio

    data = path.read_bytes()
    return decode_audio(data, encoding=None, hertz=None, max_seconds=60).samples


def wav_bytes(samples: np.ndarray, hertz: int = 16_000) -> bytes:
    """16-bit PCM WAV through the standard library."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(hertz)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def wav_claiming(data_bytes: int, actual: bytes = b"\x00\x01" * 800) -> bytes:
    """A WAV whose header declares `data_bytes` of audio but holds only `actual`."""
    header = b"RIFF" + struct.pack("<I", min(data_bytes + 36, 0xFFFFFFFF)) + b"WAVE"
    fmt = b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 16_000, 32_000, 2, 16)
    data = b"data" + struct.pack("<I", min(data_bytes, 0xFFFFFFFF))
    return header + fmt + data + actual
