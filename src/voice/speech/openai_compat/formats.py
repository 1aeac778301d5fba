"""OpenAI's transcription response formats, rendered from decoded segments (pure).

`json` and `verbose_json` as OpenAI's API documents them, `text`, SubRip (`srt`) and
WebVTT (`vtt`) subtitles, and the Server-Sent Events of `stream=true`.
"""

import math
from collections.abc import Sequence
from typing import Any

import orjson

from src.voice.speech.engine import DetailedSegment
from src.voice.speech.openai_compat.languages import language_name

RESPONSE_FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
MEDIA_TYPES = {
    "json": "application/json",
    "verbose_json": "application/json",
    "text": "text/plain; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
}


def full_text(segments: Sequence[DetailedSegment]) -> str:
    """The transcript: the segments' texts joined (each begins with its own space)."""
    return "".join(segment.text for segment in segments).strip()


def usage(duration: float) -> dict[str, Any]:
    """OpenAI's usage for a model billed by audio length: whole seconds, rounded up."""
    return {"type": "duration", "seconds": math.ceil(duration)}


def as_json(segments: Sequence[DetailedSegment], duration: float) -> dict[str, Any]:
    return {"text": full_text(segments), "usage": usage(duration)}


def as_verbose_json(
    segments: Sequence[DetailedSegment], language: str, duration: float, *, words: bool
) -> dict[str, Any]:
    """`verbose_json`: the segments with the recogniser's scores, and `words` (each
    with its start and end) when they were asked for."""
    body: dict[str, Any] = {
        "task": "transcribe",
        "language": language_name(language),
        "duration": duration,
        "text": full_text(segments),
        "segments": [
            {
                "id": s.id,
                "seek": s.seek,
                "start": s.start,
                "end": s.end,
                "text": s.text,
                "tokens": list(s.tokens),
                "temperature": s.temperature,
                "avg_logprob": s.avg_logprob,
                "compression_ratio": s.compression_ratio,
                "no_speech_prob": s.no_speech_prob,
            }
            for s in segments
        ],
        "usage": usage(duration),
    }
    if words:
        body["words"] = [
            {"word": w.word.strip(), "start": w.start, "end": w.end}
            for s in segments
            for w in s.words
        ]
    return body


def _timestamp(seconds: float, decimal_marker: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal_marker}{millis:03d}"


def as_srt(segments: Sequence[DetailedSegment]) -> str:
    """SubRip: numbered cues, `HH:MM:SS,mmm` times."""
    cues = [
        f"{number}\n{_timestamp(s.start, ',')} --> {_timestamp(s.end, ',')}\n{s.text.strip()}\n"
        for number, s in enumerate(segments, start=1)
    ]
    return "\n".join(cues)


def as_vtt(segments: Sequence[DetailedSegment]) -> str:
    """WebVTT: a header, then cues with `HH:MM:SS.mmm` times."""
    cues = [
        f"{_timestamp(s.start, '.')} --> {_timestamp(s.end, '.')}\n{s.text.strip()}\n"
        for s in segments
    ]
    return "\n".join(["WEBVTT\n", *cues])


def render(
    response_format: str,
    segments: Sequence[DetailedSegment],
    language: str,
    duration: float,
    *,
    words: bool = False,
) -> bytes:
    """The response body for `response_format` (one of RESPONSE_FORMATS)."""
    if response_format == "json":
        return orjson.dumps(as_json(segments, duration))
    if response_format == "verbose_json":
        return orjson.dumps(as_verbose_json(segments, language, duration, words=words))
    if response_format == "text":
        return (full_text(segments) + "\n").encode()
    if response_format == "srt":
        return as_srt(segments).encode()
    if response_format == "vtt":
        return as_vtt(segments).encode()
    raise ValueError(f"unknown response format {response_format!r}")


def sse_event(payload: dict[str, Any]) -> bytes:
    """One Server-Sent Event carrying `payload` as JSON."""
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def delta_event(segment: DetailedSegment) -> bytes:
    """`transcript.text.delta`: one segment's text, as soon as it is decoded."""
    return sse_event({"type": "transcript.text.delta", "delta": segment.text})


def done_event(text: str) -> bytes:
    """`transcript.text.done`: the whole transcript, last."""
    return sse_event({"type": "transcript.text.done", "text": text})
