"""Speech request and response bodies, and the audio fields orders share."""

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from src.models import ORJSONModel, RequestModel

AudioEncoding = Literal["wav", "flac", "ogg", "mp3", "webm", "m4a", "pcm_s16le", "pcm_f32le"]


Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]


class AudioOptions(RequestModel):
    """How to read the audio: also the form fields next to a multipart `file`."""

    hertz: int | None = Field(
        default=None, ge=8000, le=48000, description="Sample rate; required for raw PCM"
    )
    encoding: AudioEncoding | None = Field(
        default=None, description="Optional for container formats (sniffed); required for raw PCM"
    )
    language: Language | None = Field(default=None, description="ISO 639-1 hint, e.g. `en`")


class AudioFields(AudioOptions):
    """The AudioHertzModel: base64 audio with its format."""

    audio: str | None = Field(default=None, description="base64 of the audio bytes")


class SpeechRequest(AudioOptions):
    """`POST /voice/speech` as JSON."""

    audio: str = Field(description="base64 of the audio bytes")


class SpeechSegment(ORJSONModel):
    start: float
    end: float
    text: str


class SpeechOut(ORJSONModel):
    text: str
    language: str
    duration: float
    segments: list[SpeechSegment]
