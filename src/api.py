"""`api_router`: health, readiness and every domain router, composed in one place."""

from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Request, Security

from src.auth.dependencies import valid_api_credential
from src.auth.router import router as auth_router
from src.database import check_database
from src.exceptions import ServiceUnavailable
from src.models import Envelope, ORJSONModel, envelope, error_responses
from src.rate_limiter import RateLimit, check_storage
from src.voice.router import router as voice_router

# One budget per API client shared by every protected route (RATE_LIMIT_DEFAULT).
default_rate_limit = RateLimit("default", "RATE_LIMIT_DEFAULT")


class HealthStatus(ORJSONModel):
    status: str


class Readiness(ORJSONModel):
    status: str
    checks: dict[str, str]


api_router = APIRouter()
_HEALTHY = envelope(HealthStatus(status="ok"))


@api_router.get("/healthcheck", tags=["health"], summary="Liveness: the process answers")
async def healthcheck() -> Envelope[HealthStatus]:
    """Liveness probe. Calls no dependency, so it stays cheap and always answers."""
    return _HEALTHY


@api_router.get(
    "/readiness",
    tags=["health"],
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


# Everything below needs a valid access token; the limit is counted per client.
authenticated_api_router = APIRouter(
    dependencies=[Security(valid_api_credential, scopes=["voice"]), Depends(default_rate_limit)],
    responses=error_responses(400, 401, 403, 413, 422, 429, 503),
)
authenticated_api_router.include_router(voice_router, prefix="/voice", tags=["voice"])

api_router.include_router(
    auth_router,
    prefix="/auth",
    tags=["auth"],
    responses=error_responses(400, 401, 413, 422, 429, 503),
)
api_router.include_router(authenticated_api_router)
