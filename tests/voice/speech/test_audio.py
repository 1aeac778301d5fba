"""Audio intake without the model: formats, resampling and every refusal."""

import numpy as np
import pytest

from src.voice.exceptions import AudioInvalid, AudioUnsupported
from src.voice.speech.audio import SAMPLE_RATE, decode_audio, sniff_encoding
from tests.voice.speech.audio_factory import encode, tone, wav_bytes, wav_claiming


@pytest.mark.parametrize("encoding", ["wav", "flac", "ogg", "mp3", "webm", "m4a"])
def test_every_container_decodes_to_16k_mono(encoding: str) -> None:
    data = encode(tone(1.0, hertz=22_050), encoding, hertz=22_050)
    assert sniff_encoding(data) == encoding
    decoded = decode_audio(data, encoding=None, hertz=None, max_seconds=60)
    assert decoded.encoding == encoding
    # Codecs add priming samples; the length is right to within a few frames.
    assert decoded.duration == pytest.approx(1.0, abs=0.1)
    assert decoded.samples.dtype == np.float32
    assert 0.3 < float(np.max(np.abs(decoded.samples))) <= 1.0


def test_a_mislabelled_container_is_read_as_what_it_is() -> None:
    data = encode(tone(0.5), "flac")
    assert decode_audio(data, encoding="wav", hertz=None, max_seconds=60).encoding == "flac"


@pytest.mark.parametrize(("encoding", "dtype", "scale"), [
    ("pcm_s16le", "<i2", 32767), ("pcm_f32le", "<f4", 1.0)
])  # fmt: skip
def test_raw_pcm_is_resampled_from_its_hertz(encoding: str, dtype: str, scale: float) -> None:
    samples = tone(2.0, hertz=8_000)
    data = (samples * scale).astype(dtype).tobytes()
    decoded = decode_audio(data, encoding=encoding, hertz=8_000, max_seconds=60)
    assert decoded.duration == pytest.approx(2.0, abs=0.01)
    assert len(decoded.samples) == pytest.approx(2 * SAMPLE_RATE, abs=40)


@pytest.mark.parametrize(
    ("data", "encoding", "hertz", "message"),
    [
        (b"", None, None, "empty"),
        (b"\x00\x01" * 100, "pcm_s16le", None, "hertz"),
        (b"\x00\x01\x02", "pcm_s16le", 16_000, "multiple of 2"),
        (np.full(8, np.nan, "<f4").tobytes(), "pcm_f32le", 16_000, "NaN"),
        (b"\x00\x00" * 16_000, "pcm_s16le", 16_000, "silent"),
        (wav_bytes(np.zeros(16_000, np.float32)), None, None, "silent"),
        (wav_bytes(tone(3.0)), None, None, "longer than 2 seconds"),
        (b"\x01\x02" * 16_000 * 3, "pcm_s16le", 16_000, "longer than 2 seconds"),
        (wav_claiming(4 * 1024**3), None, None, "shorter than 0.1 seconds"),
        (b"fLaC" + bytes(range(256)) * 4, None, None, "cannot be decoded"),
        (b"not audio at all, just text", "flac", None, "not flac audio"),
    ],
    ids=[
        "empty", "raw-without-hertz", "raw-odd-length", "raw-nan", "raw-silence",
        "wav-silence", "too-long", "raw-too-long", "wav-header-4GiB", "flac-garbage",
        "labelled-flac-but-text",
    ],
)  # fmt: skip
def test_bad_audio_is_audio_invalid(
    data: bytes, encoding: str | None, hertz: int | None, message: str
) -> None:
    with pytest.raises(AudioInvalid) as caught:
        decode_audio(data, encoding=encoding, hertz=hertz, max_seconds=2)
    assert message in caught.value.reason


def test_truncated_audio_is_refused_or_shorter_never_an_error_500() -> None:
    whole = encode(tone(1.0), "mp3")
    for cut in (10, 100, len(whole) // 2):
        try:
            decoded = decode_audio(whole[:cut], encoding=None, hertz=None, max_seconds=60)
        except AudioInvalid:
            continue
        assert decoded.duration < 1.0


@pytest.mark.parametrize(
    "data",
    [
        b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n",
        b"ffconcat version 1.0\nfile '/etc/passwd'\n",
        bytes(range(256)) * 8,
    ],
    ids=["hls-playlist", "concat-list", "random-bytes"],
)
def test_formats_outside_the_allow_list_are_unsupported(data: bytes) -> None:
    assert sniff_encoding(data) is None
    with pytest.raises(AudioUnsupported):
        decode_audio(data, encoding=None, hertz=None, max_seconds=60)
