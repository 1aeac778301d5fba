"""Shapes of the OpenAI-compatible routes: the transcription form, models, errors."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from src.voice.speech.openai_compat.languages import LANGUAGE_NAMES

ResponseFormat = Literal["json", "text", "srt", "vtt", "verbose_json"]
Granularity = Literal["word", "segment"]


class TranscriptionForm(BaseModel):
    """The multipart fields beside `file`. Fields this service does not know (the
    SDKs send `include[]`, `chunking_strategy` and others for other models) are
    ignored, as OpenAI's API ignores what a model does not use."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    model: str | None = Field(default=None, max_length=200)
    language: str | None = Field(default=None, max_length=8)
    prompt: str | None = Field(default=None, max_length=2000)
    response_format: ResponseFormat = "json"
    temperature: float = Field(default=0.0, ge=0.0, le=1.0)
    timestamp_granularities: list[Granularity] = Field(
        default_factory=list, alias="timestamp_granularities[]", max_length=2
    )
    stream: bool = False

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str | None) -> str | None:
        if value is None:
            return None
        code = value.strip().lower()
        if code not in LANGUAGE_NAMES:
            raise ValueError("not an ISO-639-1 code of a language Whisper knows")
        return code


TRANSCRIPTION_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "wav, flac, ogg, mp3, webm or m4a (sniffed from the bytes)",
                    },
                    "model": {"type": "string", "examples": ["whisper-1"]},
                    "language": {"type": "string", "examples": ["en"]},
                    "prompt": {"type": "string"},
                    "response_format": {
                        "type": "string",
                        "enum": ["json", "text", "srt", "vtt", "verbose_json"],
                        "default": "json",
                    },
                    "temperature": {"type": "number", "minimum": 0, "maximum": 1, "default": 0},
                    "timestamp_granularities[]": {
                        "type": "array",
                        "items": {"type": "string", "enum": ["word", "segment"]},
                    },
                    "stream": {"type": "boolean", "default": False},
                },
            },
            "encoding": {"timestamp_granularities[]": {"style": "form", "explode": True}},
        }
    },
}


class Usage(BaseModel):
    type: Literal["duration"] = "duration"
    seconds: int


class Transcription(BaseModel):
    """`response_format=json` (the default)."""

    text: str
    usage: Usage


class TranscriptionSegment(BaseModel):
    id: int
    seek: int
    start: float
    end: float
    text: str
    tokens: list[int]
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float


class TranscriptionWord(BaseModel):
    word: str
    start: float
    end: float


class TranscriptionVerbose(BaseModel):
    """`response_format=verbose_json`; `words` only with `timestamp_granularities[]=word`."""

    task: Literal["transcribe"] = "transcribe"
    language: str = Field(examples=["english"])
    duration: float
    text: str
    segments: list[TranscriptionSegment]
    words: list[TranscriptionWord] | None = None
    usage: Usage


class ModelObject(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelObject]


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIError(BaseModel):
    """Every error of these routes: OpenAI's error object, with our error code
    (API.md) in lower case as `code`."""

    error: OpenAIErrorDetail


def openai_error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for error statuses, in OpenAI's error object."""
    return {
        status: {"model": OpenAIError, "description": "OpenAI's error object"}
        for status in statuses
    }
