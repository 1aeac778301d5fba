"""WebM/Opus as a browser's MediaRecorder streams it, decoded as it arrives.

PyAV's demuxer pulls bytes; a WebSocket pushes them. A decoder thread per stream reads
the pushed chunks through a blocking reader and leaves 16 kHz samples for the event
loop to collect; it ends when the stream does (or at the first byte that is not
WebM, which the stream reports as invalid audio).
"""

import contextlib
import queue
import threading
from collections.abc import Iterator

import av
import numpy as np

from src.voice.exceptions import AudioInvalid
from src.voice.speech.audio import SAMPLE_RATE
from src.voice.speech.stream import MAX_FRAME_BYTES, FrameRefused, Samples

# Chunks waiting for the decoder; a client this far ahead is refused (TOO_FAST first).
_MAX_PENDING_CHUNKS = 256


class _PushedBytes:
    """A non-seekable file that returns what the stream has pushed, blocking for more."""

    def __init__(self) -> None:
        self.chunks: queue.Queue[bytes | None] = queue.Queue(_MAX_PENDING_CHUNKS)
        self._buffer = b""
        self._ended = False

    def read(self, size: int = -1) -> bytes:
        # What has arrived, as soon as anything has: the demuxer asks for large blocks,
        # and waiting to fill one would hold back the audio a live stream needs now.
        while not self._ended and not self._buffer:
            self._take(self.chunks.get())
        while not self._ended:
            try:
                self._take(self.chunks.get_nowait())
            except queue.Empty:
                break
        if size < 0:
            size = len(self._buffer)
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    def _take(self, chunk: bytes | None) -> None:
        if chunk is None:
            self._ended = True
        else:
            self._buffer += chunk


class WebmAudio:
    """One stream's WebM bytes in, 16 kHz float32 samples out (decoded in a thread)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.error: str | None = None
        self._input = _PushedBytes()
        self._output: queue.SimpleQueue[Samples] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._decode, name="webm-decoder", daemon=True)
        self._thread.start()

    def take(self, frame: bytes) -> Samples:
        """Hand a chunk to the decoder; the samples decoded so far (FrameRefused for a
        chunk over the frame limit, AudioInvalid once the bytes prove not WebM)."""
        self._feed(frame)
        return self.flush()

    def _feed(self, frame: bytes) -> None:
        if len(frame) > MAX_FRAME_BYTES:
            raise FrameRefused(f"frames are at most {MAX_FRAME_BYTES} bytes")
        try:
            self._input.chunks.put_nowait(frame)
        except queue.Full:
            raise FrameRefused("audio arrives faster than it can be decoded") from None

    def flush(self) -> Samples:
        """The samples decoded since the last call (possibly none yet)."""
        if self.error is not None:
            raise AudioInvalid(self.error)
        parts: list[Samples] = []
        while True:
            try:
                parts.append(self._output.get_nowait())
            except queue.Empty:
                break
        samples = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
        self.seconds += samples.size / SAMPLE_RATE
        return samples

    def close(self, timeout: float = 5.0) -> None:
        """End the input; the decoder thread finishes what it holds and stops."""
        with contextlib.suppress(queue.Full):
            self._input.chunks.put(None, timeout=timeout)
        self._thread.join(timeout)

    def _decode(self) -> None:
        try:
            for samples in self._frames():
                self._output.put(samples)
        except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
            self.error = f"webm audio cannot be decoded: {type(exc).__name__}"
        finally:
            # Whatever happens, let the pushing side never block on a dead reader.
            while True:
                try:
                    self._input.chunks.get_nowait()
                except queue.Empty:
                    break

    def _frames(self) -> Iterator[Samples]:
        container = av.open(self._input, mode="r", format="matroska")
        with container:
            if not container.streams.audio:
                raise ValueError("no audio stream")
            resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
            for frame in container.decode(container.streams.audio[0]):
                for out in resampler.resample(frame):
                    yield out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
