"""The OpenAI-compatible transcription use case: read the form, check it before any
audio is decoded, then decode biased toward the caller's catalog."""

from pathlib import Path

from fastapi import Request

from src.config import Settings
from src.exceptions import BadRequest, NotFound, UnsupportedMediaType
from src.voice.catalog.service import PreparedCatalog
from src.voice.exceptions import AudioInvalid, AudioUnsupported
from src.voice.speech.audio import sniff_encoding
from src.voice.speech.engine import HOTWORD_TOKEN_BUDGET, AudioInput, DetailedRequest
from src.voice.speech.intake import content_type_of, read_form, validated
from src.voice.speech.openai_compat.schemas import TranscriptionForm
from src.voice.speech.service import DetailedDecode, SpeechService

# The name every OpenAI client sends; it means the model this process serves.
OPENAI_MODEL_ALIAS = "whisper-1"
# One file, and room for the fields the SDKs send for other models (ignored).
_MAX_FORM_FIELDS = 32


class ModelNotFound(NotFound):
    """A `model` this service does not serve (404, as OpenAI answers)."""

    CODE = "MODEL_NOT_FOUND"

    def __init__(self, model: str) -> None:
        super().__init__(
            data={
                "param": "model",
                "message": f"The model {model!r} does not exist here; "
                "GET /api/v1/models lists the models served.",
            }
        )


def served_model_name(settings: Settings) -> str:
    """The configured model's name: `tiny.en` for the bundled one, else ASR_MODEL
    (a directory's last part when it is a path)."""
    if not settings.ASR_MODEL:
        return "tiny.en"
    return Path(settings.ASR_MODEL).name if "/" in settings.ASR_MODEL else settings.ASR_MODEL


def served_models(settings: Settings) -> tuple[str, ...]:
    """The ids `/models` lists and `model` accepts."""
    return (OPENAI_MODEL_ALIAS, served_model_name(settings))


async def read_transcription_form(request: Request) -> tuple[bytes, TranscriptionForm]:
    """The multipart `file` and the fields beside it; 415 for any other body, 422 for
    a missing file or a field out of range."""
    if content_type_of(request) != "multipart/form-data":
        raise UnsupportedMediaType(
            data={"message": "Send multipart/form-data with the audio as a `file` part."}
        )
    data, fields = await read_form(request, max_fields=_MAX_FORM_FIELDS)
    parsed = validated(TranscriptionForm, fields)
    # Sniffed here, not in the decode: an upload that is no audio costs no decode slot.
    if not data:
        raise AudioInvalid("the file is empty")
    if sniff_encoding(data) is None:
        raise AudioUnsupported("unrecognised audio format: send wav, flac, ogg, mp3, webm or m4a")
    return data, parsed


def check_form(form: TranscriptionForm, settings: Settings, multilingual: bool | None) -> None:
    """Refuse what cannot be served, before any audio is decoded (`multilingual` is
    None while the model loads: the decode then answers 503)."""
    if form.model is not None and form.model not in served_models(settings):
        raise ModelNotFound(form.model)
    if form.timestamp_granularities and form.response_format != "verbose_json":
        raise BadRequest(
            data={
                "param": "timestamp_granularities",
                "message": "timestamp_granularities[] needs response_format=verbose_json",
            }
        )
    if form.language not in (None, "en") and multilingual is False:
        raise BadRequest(
            data={
                "param": "language",
                "message": f"The model {served_model_name(settings)} hears English only.",
            }
        )


async def start_transcription(
    speech: SpeechService,
    data: bytes,
    form: TranscriptionForm,
    catalog: PreparedCatalog | None,
    *,
    client: str,
) -> DetailedDecode:
    """Decode the file and start transcribing it, with the caller's prompt and, in
    what the prompt leaves of the hot-word budget, its catalog's phrases."""
    model = speech.model
    hotwords = None
    if model is not None and catalog is not None:
        used = model.prompt_tokens(form.prompt) if form.prompt else 0
        hotwords = model.hotwords_for(catalog.speech_phrases, HOTWORD_TOKEN_BUDGET - used)
    request = DetailedRequest(
        language=form.language,
        prompt=form.prompt,
        hotwords=hotwords,
        # 0 (the default) decodes once, deterministically: not OpenAI's fallback that
        # samples ever hotter while a window decodes badly (the same clip would read
        # differently each time, and cost up to six decodes).
        temperatures=(form.temperature,),
        word_timestamps="word" in form.timestamp_granularities,
    )
    return await speech.start_detailed(
        AudioInput(data=data, language=form.language), request, client=client
    )
