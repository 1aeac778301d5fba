"""Speech dependencies: the process's speech service."""

from typing import Annotated

from fastapi import Depends, Request

from src.exceptions import ServiceUnavailable
from src.voice.speech.service import SpeechService


async def speech_service(request: Request) -> SpeechService:
    """The process's speech service (created by the voice lifespan)."""
    # async: FastAPI runs a plain `def` dependency in a worker thread, a thread hop per request.
    speech: SpeechService | None = getattr(request.state, "speech", None)
    if speech is None:
        raise ServiceUnavailable(data={"checks": {"speech_model": "disabled"}})
    return speech


Speech = Annotated[SpeechService, Depends(speech_service)]
