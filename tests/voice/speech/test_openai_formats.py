"""OpenAI's response formats and error object, rendered from segments (pure)."""

import orjson
import pytest

from src.voice.speech.engine import DetailedSegment, TimedWord
from src.voice.speech.openai_compat import formats
from src.voice.speech.openai_compat.errors import openai_error

SEGMENTS = [
    DetailedSegment(0, 0, 0.0, 2.5, " Two lattes", (1, 2), 0.0, -0.2, 1.1, 0.01,
                    (TimedWord(" Two", 0.0, 0.4, 0.9), TimedWord(" lattes", 0.4, 2.5, 0.8))),
    DetailedSegment(1, 250, 3661.25, 3662.0, " and a scone.", (3,), 0.0, -0.3, 1.0, 0.02),
]  # fmt: skip


def test_json_bills_whole_seconds_rounded_up() -> None:
    assert formats.as_json(SEGMENTS, 3662.01) == {
        "text": "Two lattes and a scone.",
        "usage": {"type": "duration", "seconds": 3663},
    }


def test_subtitles_number_their_cues_and_count_hours() -> None:
    assert formats.as_srt(SEGMENTS) == (
        "1\n00:00:00,000 --> 00:00:02,500\nTwo lattes\n\n"
        "2\n01:01:01,250 --> 01:01:02,000\nand a scone.\n"
    )
    assert formats.as_vtt(SEGMENTS) == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nTwo lattes\n\n"
        "01:01:01.250 --> 01:01:02.000\nand a scone.\n"
    )


def test_verbose_json_names_the_language_and_has_words_only_when_asked() -> None:
    plain = formats.as_verbose_json(SEGMENTS, "vi", 3662.0, words=False)
    assert plain["language"] == "vietnamese" and plain["task"] == "transcribe"
    assert "words" not in plain
    assert plain["segments"][1]["seek"] == 250 and plain["segments"][0]["tokens"] == [1, 2]
    worded = formats.as_verbose_json(SEGMENTS, "en", 3662.0, words=True)
    assert worded["words"] == [
        {"word": "Two", "start": 0.0, "end": 0.4},
        {"word": "lattes", "start": 0.4, "end": 2.5},
    ]


def test_text_ends_with_a_newline_and_nothing_heard_is_empty() -> None:
    assert formats.render("text", SEGMENTS, "en", 3.0) == b"Two lattes and a scone.\n"
    assert orjson.loads(formats.render("json", [], "en", 1.2))["text"] == ""
    assert formats.as_srt([]) == "" and formats.as_vtt([]) == "WEBVTT\n"


def test_stream_events_are_server_sent_events() -> None:
    assert formats.delta_event(SEGMENTS[0]) == (
        b'data: {"type":"transcript.text.delta","delta":" Two lattes"}\n\n'
    )
    assert formats.done_event("Two lattes.") == (
        b'data: {"type":"transcript.text.done","text":"Two lattes."}\n\n'
    )


@pytest.mark.parametrize(
    ("status", "envelope", "expected"),
    [
        (
            422,
            {"msg": "VALIDATION_ERROR", "data": {"errors": [
                {"loc": ["body", "response_format"], "msg": "Input should be 'json'"}]}},
            {"type": "invalid_request_error", "param": "response_format",
             "code": "validation_error", "message": "response_format: Input should be 'json'"},
        ),
        (
            422,
            {"msg": "AUDIO_INVALID", "data": {"errors": [
                {"loc": ["body", "audio"], "msg": "audio is longer than 60 seconds"}]}},
            {"type": "invalid_request_error", "param": "file", "code": "audio_invalid",
             "message": "file: audio is longer than 60 seconds"},
        ),
        (
            401,
            {"msg": "INVALID_TOKEN", "data": {"reason": "revoked"}},
            {"type": "authentication_error", "param": None, "code": "invalid_token",
             "message": "The bearer token was refused: revoked."},
        ),
        (
            429,
            {"msg": "RATE_LIMIT_EXCEEDED", "data": {"limit": "30 per 10 second"}},
            {"type": "rate_limit_error", "param": None, "code": "rate_limit_exceeded",
             "message": "Rate limit reached; retry after `Retry-After` seconds."},
        ),
        (
            502,
            {},
            {"type": "server_error", "param": None, "code": "bad_gateway",
             "message": "Bad Gateway"},
        ),
    ],
)  # fmt: skip
def test_an_envelope_becomes_openais_error_object(
    status: int, envelope: dict[str, object], expected: dict[str, object]
) -> None:
    assert openai_error(status, envelope) == {"error": expected}
