"""Session dependencies: the If-Match header and the session id in the path."""

import re
from typing import Annotated

from fastapi import Depends, Header, Path, Request

from src.exceptions import UnprocessableEntity, validation_error
from src.voice.sessions.schemas import TurnRequest
from src.voice.speech.intake import read_utterance

# `"3"` as an ETag; a bare `3` and a weak `W/"3"` are accepted too.
_IF_MATCH = re.compile(r'^\s*(?:W/)?"?(\d{1,9})"?\s*$')


async def if_match_version(
    value: Annotated[
        str | None,
        Header(
            alias="If-Match",
            description='The session version the turn was meant for, e.g. `"3"`: '
            "a stale one is 412 SESSION_VERSION_MISMATCH",
        ),
    ] = None,
) -> int | None:
    """The version named by If-Match, or None; 422 if it names no version."""
    if value is None:
        return None
    match = _IF_MATCH.match(value)
    if match is None:
        raise UnprocessableEntity(
            errors=[validation_error(["header", "If-Match"], 'must be a session version: "3"')]
        )
    return int(match.group(1))


IfMatchVersion = Annotated[int | None, Depends(if_match_version)]
SessionId = Annotated[str, Path(max_length=40, description="`ses_...`")]


async def turn_request(request: Request) -> TurnRequest:
    """A turn: JSON, or multipart with a `file` part; 415 for anything else."""
    return await read_utterance(request, TurnRequest)


TurnBody = Annotated[TurnRequest, Depends(turn_request)]
