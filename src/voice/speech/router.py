"""Speech route: transcribe audio, biased toward the caller's catalog."""

from fastapi import APIRouter, Request

from src.auth.dependencies import CurrentClient
from src.database import DbSession, release_connection
from src.models import Envelope, envelope
from src.voice.catalog.dependencies import OptionalCatalog
from src.voice.speech.dependencies import Speech
from src.voice.speech.intake import SPEECH_REQUEST_BODY, read_speech_request
from src.voice.speech.schemas import SpeechOut, SpeechSegment
from src.voice.speech.service import transcribe_for_catalog

router = APIRouter()


@router.post(
    "/speech",
    summary="Transcribe speech, biased toward the caller's catalog",
    openapi_extra={"requestBody": SPEECH_REQUEST_BODY},
    responses={
        415: {"description": "UNSUPPORTED_MEDIA_TYPE: content type or audio format"},
        422: {"description": "AUDIO_INVALID or VALIDATION_ERROR"},
        503: {"description": "SERVICE_BUSY (with Retry-After) or model not loaded"},
    },
)
async def speech_to_text(
    request: Request,
    client: CurrentClient,
    speech: Speech,
    catalog: OptionalCatalog,
    db_session: DbSession,
) -> Envelope[SpeechOut]:
    """JSON `{"audio": "<base64>", ...}` or multipart with a `file` part."""
    await release_connection(db_session)  # before reading a body that may arrive slowly
    audio = await read_speech_request(request)
    transcript = await transcribe_for_catalog(
        speech, audio, catalog, db_session, client=client.client_id
    )
    return envelope(
        SpeechOut(
            text=transcript.text,
            language=transcript.language,
            duration=transcript.duration,
            segments=[
                SpeechSegment(start=s.start, end=s.end, text=s.text) for s in transcript.segments
            ],
        )
    )
