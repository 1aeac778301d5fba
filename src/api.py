"""`include_routers`: health, readiness and every domain router, composed in one place."""

from typing import Any

import anyio.to_thread
from fastapi import APIRouter, FastAPI, Request, Response, Security

from src.auth.dependencies import API_SCOPES, api_guard
from src.auth.router import router as auth_router
from src.database import check_database
from src.exceptions import ServiceUnavailable
from src.models import Envelope, ORJSONModel, envelope, error_responses
from src.rate_limiter import check_storage
from src.voice.router import routers as voice_routers
from src.voice.sessions.stream_router import router as stream_router
from src.voice.speech.openai_compat.router import router as openai_router
from src.voice.speech.openai_compat.schemas import openai_error_responses

# Paths (under /api/v1) that answer in OpenAI's shapes, errors included.
OPENAI_PATHS = ("/audio/", "/models")


class HealthStatus(ORJSONModel):
    status: str


class Readiness(ORJSONModel):
    status: str
    checks: dict[str, str]


health_router = APIRouter(tags=["health"])
# Rendered once: the probe answers with these bytes, no model validation per call.
_HEALTHY = envelope(HealthStatus(status="ok")).model_dump_json().encode()


@health_router.get(
    "/healthcheck",
    summary="Liveness: the process answers",
    response_model=Envelope[HealthStatus],
)
async def healthcheck() -> Response:
    """Liveness probe. Calls no dependency, so it stays cheap and always answers."""
    return Response(_HEALTHY, media_type="application/json")


@health_router.get(
    "/readiness",
    summary="Readiness: database, rate-limit storage and speech model",
    responses={503: {"description": "A dependency is down; `data.checks` names it"}},
)
async def readiness(request: Request) -> Envelope[Readiness]:
    """200 when every dependency answers; 503 SERVICE_UNAVAILABLE naming the failing one."""
    checks: dict[str, str] = {}
    checks["database"] = "ok" if await check_database(request.state.engine) else "down"
    limiter = request.app.state.limiter
    storage_ok = await anyio.to_thread.run_sync(check_storage, limiter)
    checks["ratelimit"] = "ok" if storage_ok else "down"
    speech: Any = getattr(request.state, "speech", None)
    if speech is not None:
        checks["speech_model"] = speech.state
    # "lazy": the operator chose to load the speech model on first use (ASR_PRELOAD=false).
    if any(state not in ("ok", "lazy") for state in checks.values()):
        raise ServiceUnavailable(data={"checks": checks})
    return envelope(Readiness(status="ok", checks=checks))


# What every protected router gets: a valid access token with the API's scopes, and
# one request budget per client (`api_guard`). Routes that name CurrentClient (the
# same scopes) reuse this check's result instead of verifying the token again.
PROTECTED: dict[str, Any] = {
    "dependencies": [Security(api_guard, scopes=API_SCOPES)],
    "responses": error_responses(400, 401, 403, 413, 422, 429, 503),
}


def include_routers(api: FastAPI) -> None:
    """Every router of the API, each included directly into `api`.

    Not nested under a parent router: FastAPI matches an included router level by level,
    twice per request, so each level of nesting is paid for on every call. The order
    is the order of matching: the health routes (two cheap patterns, probed often),
    then the routers that carry the traffic, then the auth routes (a token lasts
    ACCESS_TOKEN_EXPIRE_SECONDS). No two routers share a path, so the order changes nothing else.
    """
    api.include_router(health_router)
    for voice_router in voice_routers:
        api.include_router(voice_router, prefix="/voice", tags=["voice"], **PROTECTED)
    # A WebSocket authenticates in its handshake (a browser cannot set Authorization).
    api.include_router(stream_router, prefix="/voice", tags=["voice"])
    api.include_router(
        openai_router,
        tags=["openai"],
        dependencies=PROTECTED["dependencies"],
        responses=openai_error_responses(401, 403, 429, 503),
    )
    api.include_router(
        auth_router,
        prefix="/auth",
        tags=["auth"],
        responses=error_responses(400, 401, 413, 422, 429, 503),
    )
