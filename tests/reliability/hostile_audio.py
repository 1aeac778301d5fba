"""A corpus of hostile audio, generated at test time with PyAV (nothing committed):
decompression bombs, lying headers, truncations, garbage, demuxer tricks that point at
local files or a local listener, and a container with many streams."""

import io
import os
from pathlib import Path

import av
import numpy as np

from tests.voice.speech.audio_factory import wav_claiming

AUDIO = Path(__file__).parent.parent / "data" / "audio"


def _encode_silence(
    container: str, codec: str, rate: int, seconds: float, streams: int = 1, frame: int = 4096
) -> bytes:
    """`seconds` of digital silence, which every codec squeezes to almost nothing."""
    buffer = io.BytesIO()
    integer = codec == "flac"
    silence = np.zeros((1, frame), dtype=np.int16 if integer else np.float32)
    with av.open(buffer, "w", format=container) as out:
        outputs = [out.add_stream(codec, rate=rate, layout="mono") for _ in range(streams)]
        for n in range(int(seconds * rate / frame)):
            for stream in outputs:
                chunk = av.AudioFrame.from_ndarray(
                    silence, format="s16" if integer else "flt", layout="mono"
                )
                chunk.sample_rate = rate
                chunk.pts = n * frame
                for packet in stream.encode(chunk):
                    out.mux(packet)
        for stream in outputs:
            for packet in stream.encode(None):
                out.mux(packet)
    return buffer.getvalue()


def _undeclared(flac: bytes) -> bytes:
    """The same FLAC with STREAMINFO's total-samples field zeroed ("unknown length"),
    so only counting samples while decoding can stop it."""
    data = bytearray(flac)
    data[21] &= 0xF0  # the low 36 bits of bytes 18..25 hold the sample count
    data[22:26] = b"\0\0\0\0"
    return bytes(data)


def corpus(listener_port: int) -> dict[str, bytes]:
    """Name -> bytes. Every one must be refused with 413, 415 or 422."""
    clip = (AUDIO / "cafe-022.flac").read_bytes()
    two_hours = _encode_silence("flac", "flac", 8000, 7200)
    return {
        "empty": b"",
        "two hours of silence, flac": two_hours,
        "two hours of silence, flac, length not declared": _undeclared(two_hours),
        "ten minutes of silence, opus": _encode_silence("ogg", "libopus", 48000, 600, frame=960),
        # Only the lie is hostile: recorders that stream WAV write 0xFFFFFFFF sizes,
        # so what a WAV holds is decoded (bounded), whatever its header claims.
        "wav header claiming 4 GiB": wav_claiming(4 * 1024**3),
        "flac truncated to its header": clip[:200],
        "flac header, random body": clip[:100] + os.urandom(len(clip)),
        "random bytes": os.urandom(65536),
        "text labelled as flac": b"fLaC" + b"not audio at all " * 100,
        "hls playlist to a local file": (
            b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"
        ),
        "hls playlist to a local listener": (
            b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n"
            + f"http://127.0.0.1:{listener_port}/a.ts\n#EXT-X-ENDLIST\n".encode()
        ),
        "ffconcat list": b"ffconcat version 1.0\nfile '/etc/passwd'\n",
        "concat url": b"concat:/etc/passwd|/etc/hosts",
        "matroska with 50 audio streams": _encode_silence("matroska", "flac", 16000, 1, 50),
    }
