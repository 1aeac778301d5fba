"""A bounded fuzz harness (hypothesis) over audio decoding and the order parser: no
input crashes either or makes it hang. Under CI a few hundred cases each; `scripts/
reliability` runs thousands (FUZZ_EXAMPLES)."""

import contextlib
import os
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from src.voice.exceptions import AudioInvalid, AudioUnsupported
from src.voice.orders.parser import choose_reading, parse_order
from src.voice.speech.audio import RAW_ENCODINGS, DecodedAudio, decode_audio
from tests.reliability.hostile_audio import AUDIO
from tests.voice.orders.test_parser import CAFE, words

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES") or (150 if os.environ.get("CI") == "true" else 1000))
MAX_SECONDS = 60.0
# A hang is anything far slower than the slowest honest input (a 60 s clip decodes in
# well under a second here).
DECODE_DEADLINE = timedelta(seconds=2)
PARSE_DEADLINE = timedelta(milliseconds=500)

SEEDS = [(AUDIO / name).read_bytes() for name in ("cafe-022.flac", "cafe-002.flac")]
HEADERS = [b"RIFF\x00\x00\x00\x00WAVE", b"fLaC", b"OggS", b"\x1a\x45\xdf\xa3", b"ID3", b"\xff\xfb"]
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=DECODE_DEADLINE,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def mutated_audio(draw: st.DrawFn) -> bytes:
    """A real clip with bytes flipped, cut, repeated or spliced onto another header."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 20))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    how = draw(st.sampled_from(["flip", "cut", "repeat", "splice"]))
    if how == "cut":
        data = data[: draw(st.integers(0, len(data)))]
    elif how == "repeat":
        start = draw(st.integers(0, len(data) - 1))
        data = data[:start] + data[start:] * draw(st.integers(2, 5))
    elif how == "splice":
        data = bytearray(draw(st.sampled_from(HEADERS))) + data[draw(st.integers(0, 200)) :]
    return bytes(data)


def _check(result: DecodedAudio) -> None:
    assert result.samples.dtype.name == "float32"
    assert 0 < result.duration <= MAX_SECONDS
    assert float(abs(result.samples).max()) <= 1.0 + 1e-6


@FUZZ
@given(mutated_audio())
def test_decoding_mutated_audio_never_crashes_or_hangs(data: bytes) -> None:
    # AudioInvalid/AudioUnsupported are a clear 415/422 for the client; nothing else is.
    with contextlib.suppress(AudioInvalid, AudioUnsupported):
        _check(decode_audio(data, encoding=None, hertz=None, max_seconds=MAX_SECONDS))


@FUZZ
@given(
    st.binary(max_size=20000),
    st.sampled_from([None, *RAW_ENCODINGS, "wav", "flac", "ogg", "mp3", "webm", "m4a"]),
    st.sampled_from([None, 8000, 16000, 22050, 44100, 48000]),
)
def test_decoding_arbitrary_bytes_never_crashes_or_hangs(
    data: bytes, encoding: str | None, hertz: int | None
) -> None:
    with contextlib.suppress(AudioInvalid, AudioUnsupported):
        _check(decode_audio(data, encoding=encoding, hertz=hertz, max_seconds=MAX_SECONDS))


@settings(max_examples=EXAMPLES, deadline=PARSE_DEADLINE)
@given(st.lists(st.one_of(words, st.text(max_size=12)), max_size=200).map(" ".join), st.booleans())
def test_parser_never_crashes_or_hangs_on_long_noisy_input(text: str, is_spoken: bool) -> None:
    result = parse_order(text, CAFE, spoken=is_spoken)
    assert all(line.sku in CAFE.items and 1 <= line.quantity <= 999 for line in result.lines)


@settings(max_examples=EXAMPLES // 3, deadline=PARSE_DEADLINE)
@given(st.lists(st.lists(words, max_size=30).map(" ".join), min_size=1, max_size=10))
def test_choosing_among_readings_never_crashes_or_hangs(readings: list[str]) -> None:
    reading, result = choose_reading(readings, CAFE)
    assert reading in readings
    assert all(line.sku in CAFE.items for line in result.lines)
