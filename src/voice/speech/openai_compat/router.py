"""OpenAI-compatible routes: `POST /audio/transcriptions` and `GET /models`, in
OpenAI's shapes (not the envelope), so that OpenAI's SDKs and tools work unchanged."""

import time
from collections.abc import AsyncIterator, Callable

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from src.auth.dependencies import CurrentClient
from src.database import DbSession, release_connection
from src.exceptions import DomainError
from src.voice.catalog.dependencies import OptionalCatalog
from src.voice.speech.dependencies import Speech
from src.voice.speech.openai_compat import formats
from src.voice.speech.openai_compat.errors import openai_error
from src.voice.speech.openai_compat.schemas import (
    TRANSCRIPTION_REQUEST_BODY,
    ModelList,
    ModelObject,
    Transcription,
    TranscriptionVerbose,
    openai_error_responses,
)
from src.voice.speech.openai_compat.service import (
    ModelNotFound,
    check_form,
    read_transcription_form,
    served_models,
    start_transcription,
)
from src.voice.speech.service import DetailedDecode

router = APIRouter()
# Models are listed as created when this process started: they have no other date.
_CREATED = int(time.time())


class ClosingStreamingResponse(StreamingResponse):
    """A stream that runs `on_close` however it ends: finished, failed, or the client
    gone before the first byte (when its body iterator never started)."""

    def __init__(self, content: AsyncIterator[bytes], on_close: Callable[[], None]) -> None:
        super().__init__(
            content,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._on_close()


async def _events(decode: DetailedDecode) -> AsyncIterator[bytes]:
    texts: list[str] = []
    try:
        async for segment in decode.segments():
            texts.append(segment.text)
            yield formats.delta_event(segment)
    except DomainError as exc:  # after the 200 went out: an error event, as OpenAI's
        yield formats.sse_event(openai_error(exc.status_code, {"msg": exc.code, "data": exc.data}))
        return
    yield formats.done_event("".join(texts).strip())


@router.get("/models", summary="The speech models served (OpenAI's shape)")
async def list_models(request: Request) -> ModelList:
    """`whisper-1` (what OpenAI clients send) and the configured model's own name."""
    ids = served_models(request.app.state.settings)
    return ModelList(data=[ModelObject(id=i, created=_CREATED, owned_by="voice-api") for i in ids])


@router.get(
    "/models/{model_id}",
    summary="One served model (OpenAI's shape)",
    responses=openai_error_responses(404, 422),
)
async def retrieve_model(request: Request, model_id: str) -> ModelObject:
    """404 `model_not_found` for a model not served here."""
    if model_id not in served_models(request.app.state.settings):
        raise ModelNotFound(model_id)
    return ModelObject(id=model_id, created=_CREATED, owned_by="voice-api")


@router.post(
    "/audio/transcriptions",
    summary="Transcribe audio (OpenAI's audio API)",
    openapi_extra={"requestBody": TRANSCRIPTION_REQUEST_BODY},
    response_model=Transcription | TranscriptionVerbose,
    responses={
        200: {
            "description": "`json`/`verbose_json` as below; `text`, `srt` and `vtt` as "
            "text; `stream=true` as Server-Sent Events",
            "content": {
                "text/plain": {"schema": {"type": "string"}},
                "text/event-stream": {"schema": {"type": "string"}},
            },
        },
        **openai_error_responses(400, 404, 413, 415, 422, 503),
    },
)
async def create_transcription(
    request: Request,
    client: CurrentClient,
    speech: Speech,
    catalog: OptionalCatalog,
    db_session: DbSession,
) -> Response:
    """Multipart `file` (sniffed from its bytes), `model`, `language`, `prompt`,
    `response_format`, `temperature`, `timestamp_granularities[]`, `stream`."""
    await release_connection(db_session)  # before reading a body that may arrive slowly
    data, form = await read_transcription_form(request)
    check_form(form, request.app.state.settings, speech.multilingual if speech.ready else None)
    decode = await start_transcription(speech, data, form, catalog, client=client.client_id)
    if form.stream:
        return ClosingStreamingResponse(_events(decode), on_close=decode.close)
    segments = await decode.read_all()
    body = formats.render(
        form.response_format,
        segments,
        decode.language,
        decode.duration,
        words="word" in form.timestamp_granularities,
    )
    return Response(body, media_type=formats.MEDIA_TYPES[form.response_format])
