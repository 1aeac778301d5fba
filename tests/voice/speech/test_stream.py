"""Live audio, pure: frames to 16 kHz samples, mu-law, and where an utterance ends
(with voice activity given by a stand-in, so the decision is tested alone)."""

import numpy as np
import pytest

from src.voice.speech.stream import (
    MAX_FRAME_BYTES,
    Endpointer,
    FrameRefused,
    LiveAudio,
    float_to_mulaw,
    mulaw_to_float,
)

RATE = 16_000


def test_mulaw_round_trip_stays_within_its_quantisation() -> None:
    wave = (np.sin(np.linspace(0, 60, 8000)) * 0.6).astype(np.float32)
    back = mulaw_to_float(float_to_mulaw(wave))
    assert back.dtype == np.float32 and back.shape == wave.shape
    assert float(np.max(np.abs(back - wave))) < 0.02
    assert mulaw_to_float(bytes([0xFF]))[0] == 0.0  # mu-law's zero


def test_pcm_frames_may_split_a_sample_and_are_resampled() -> None:
    live = LiveAudio("pcm_s16le", 8000)
    pcm = (np.full(800, 0.25) * 32767).astype("<i2").tobytes()  # 0.1 s at 8 kHz
    first, second = live.take(pcm[:801]), live.take(pcm[801:])
    assert first.size + second.size == 1600  # 0.1 s at 16 kHz
    assert live.seconds == pytest.approx(0.1)
    assert np.allclose(np.concatenate([first, second]), 0.25, atol=1e-3)
    with pytest.raises(FrameRefused):
        live.take(b"\x00" * (MAX_FRAME_BYTES + 2))


def _speech_where_loud(samples: np.ndarray) -> list[tuple[int, int]]:
    """A stand-in for Silero: speech wherever the samples are non-zero."""
    loud = np.flatnonzero(samples)
    return [(int(loud[0]), int(loud[-1]) + 1)] if loud.size else []


def _feed(endpointer: Endpointer, samples: np.ndarray) -> float | None:
    """Feed 0.1 s at a time; the second at which the utterance ended, if it did."""
    for start in range(0, samples.size, RATE // 10):
        if endpointer.add(samples[start : start + RATE // 10]):
            return (start + RATE // 10) / RATE
    return None


def test_an_utterance_ends_after_silence_that_follows_speech() -> None:
    endpointer = Endpointer(_speech_where_loud)
    leading = np.zeros(RATE * 3, dtype=np.float32)  # waiting for the customer
    assert _feed(endpointer, leading) is None and endpointer.seconds <= 0.75
    speech = np.full(RATE, 0.3, dtype=np.float32)
    pause = np.full(RATE // 2, 0.0, dtype=np.float32)  # a breath: not the end
    assert _feed(endpointer, np.concatenate([speech, pause, speech])) is None
    assert endpointer.trailing_silence < 0.25  # still speaking: partials may go on
    ended = _feed(endpointer, np.zeros(RATE * 2, dtype=np.float32))
    assert ended is not None and 0.6 <= ended <= 0.9
    assert endpointer.trailing_silence >= 0.6
    assert endpointer.heard_speech and endpointer.utterance().size == endpointer.length
    endpointer.reset()
    assert endpointer.length == 0 and not endpointer.heard_speech
    assert endpointer.trailing_silence == 0.0
