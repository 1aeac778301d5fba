"""Audio intake from HTTP: base64 JSON (the AudioHertzModel) or a multipart `file`."""

import base64
import binascii
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from src.exceptions import UnsupportedMediaType
from src.voice.exceptions import AudioInvalid
from src.voice.speech.engine import AudioInput
from src.voice.speech.schemas import AudioOptions, SpeechRequest

# python-multipart limits: one file, a handful of small fields (CVE-2024-47874).
_MAX_FORM_FILES = 1
_MAX_FORM_FIELDS = 8

SPEECH_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {"schema": SpeechRequest.model_json_schema()},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    **AudioOptions.model_json_schema()["properties"],
                },
            }
        },
    },
}


Utterance = TypeVar("Utterance", bound=BaseModel)


def utterance_request_body(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI requestBody of a route that takes `model` as JSON, or its audio as a
    multipart `file` with the other fields as form fields."""
    properties = dict(model.model_json_schema()["properties"])
    properties.pop("audio", None)
    properties.pop("text", None)
    return {
        "required": True,
        "content": {
            "application/json": {"schema": model.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}, **properties},
                }
            },
        },
    }


def _unsupported_media_type() -> UnsupportedMediaType:
    return UnsupportedMediaType(
        data={
            "errors": [
                {
                    "loc": ["header", "content-type"],
                    "msg": "send application/json, or multipart/form-data with a `file` part",
                    "type": "unsupported_media_type",
                }
            ]
        }
    )


def content_type_of(request: Request) -> str:
    """The request's media type, lower case, without parameters."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def validated(model: type[Utterance], fields: dict[str, Any]) -> Utterance:
    """`model` from form fields; a RequestValidationError (422) naming `body.<field>`."""
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise _invalid(exc, ("body",)) from None


async def read_form(
    request: Request, *, max_fields: int = _MAX_FORM_FIELDS
) -> tuple[bytes, dict[str, Any]]:
    """A multipart body's `file` part (422 without one) and its other fields: the last
    non-empty value of each, or every value of a list field (`name[]`)."""
    async with request.form(max_files=_MAX_FORM_FILES, max_fields=max_fields) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise RequestValidationError(
                [{"loc": ["body", "file"], "msg": "a `file` part is required", "type": "missing"}]
            )
        fields: dict[str, Any] = {}
        for key in {key for key in form if key != "file"}:
            values = [v for v in form.getlist(key) if isinstance(v, str)]
            if key.endswith("[]"):
                fields[key] = values
            elif values and values[-1]:
                fields[key] = values[-1]
        return await upload.read(), fields


async def read_utterance(request: Request, model: type[Utterance]) -> Utterance:
    """`model` from a JSON body, or from multipart: the `file` part becomes its base64
    `audio`, the other parts its fields. 415 for any other content type."""
    content_type = content_type_of(request)
    if content_type == "application/json":
        try:
            return model.model_validate_json(await request.body())
        except ValidationError as exc:
            raise _invalid(exc, ("body",)) from None
    if content_type != "multipart/form-data":
        raise _unsupported_media_type()
    data, fields = await read_form(request)
    return validated(model, {**fields, "audio": base64.b64encode(data).decode()})


def audio_from_base64(encoded: str, options: AudioOptions) -> AudioInput:
    """The decoded bytes of a base64 `audio` field with its options."""
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise AudioInvalid("`audio` is not valid base64") from None
    return AudioInput(
        data=data, encoding=options.encoding, hertz=options.hertz, language=options.language
    )


def _invalid(exc: ValidationError, prefix: tuple[str, ...]) -> RequestValidationError:
    errors = [
        {"loc": [*prefix, *e["loc"]], "msg": e["msg"], "type": e["type"]} for e in exc.errors()
    ]
    return RequestValidationError(errors)


async def read_speech_request(request: Request) -> AudioInput:
    """Audio from a JSON or multipart body; 415 for any other content type."""
    content_type = content_type_of(request)
    if content_type == "application/json":
        try:
            body = SpeechRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            raise _invalid(exc, ("body",)) from None
        return audio_from_base64(body.audio, body)
    if content_type != "multipart/form-data":
        raise _unsupported_media_type()
    data, fields = await read_form(request)
    options = validated(AudioOptions, fields)
    return AudioInput(
        data=data, encoding=options.encoding, hertz=options.hertz, language=options.language
    )
