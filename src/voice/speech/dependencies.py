"""Speech dependencies: the process's speech service."""

from typing import Annotated

from fastapi import Depends, Request

from src.exceptions import ServiceUnavailable
from src.voice.speech.service import SpeechService


def speech_service(request: Request) -> SpeechService:
    """The process's speech service (created by the voice lifespan)."""
    speech: SpeechService | None = getattr(request.state, "speech", None)
    if speech is None:
        raise ServiceUnavailable(data={"checks": {"speech_model": "disabled"}})
    return speech


async def speech_dependency(request: Request) -> SpeechService:
    """`speech_service` as a dependency (async: FastAPI runs a plain `def` one in a thread)."""
    return speech_service(request)


Speech = Annotated[SpeechService, Depends(speech_dependency)]
