"""Auth routes: token, refresh, revoke. Thin: validation in schemas, rules in service."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from src.auth import service
from src.auth.dependencies import optional_bearer_subject
from src.auth.schemas import RefreshRequest, RevokeResult, TokenPair, TokenRequest
from src.database import DbSession
from src.models import Envelope, envelope
from src.rate_limiter import RateLimit, ip_key

router = APIRouter()

# Per caller IP, shared by token and refresh: credential stuffing pays per guess.
auth_rate_limit = RateLimit("auth", "RATE_LIMIT_AUTH", key_func=ip_key)

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "SECRET_ID_INVALID, SECRET_KEY_INVALID or INVALID_CREDENTIALS"},
    429: {"description": "RATE_LIMIT_EXCEEDED (per IP, RATE_LIMIT_AUTH)"},
}


def _no_store(response: Response) -> None:
    # RFC 6749 §5.1: token responses must not be cached.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"


@router.post(
    "/token",
    summary="Exchange API credentials for tokens",
    responses=_ERRORS,
    dependencies=[Depends(auth_rate_limit)],
)
async def issue_token(
    body: TokenRequest, request: Request, response: Response, db_session: DbSession
) -> Envelope[TokenPair]:
    """Returns a short-lived JWT access token and a rotating refresh token."""
    pair = await service.issue_tokens(
        db_session=db_session,
        settings=request.app.state.settings,
        secret_id=body.secret_id,
        secret_key=body.secret_key,
        hashing=getattr(request.state, "password_hashing", None),
    )
    _no_store(response)
    return envelope(pair)


@router.post(
    "/refresh",
    summary="Rotate a refresh token",
    responses={401: {"description": "REFRESH_TOKEN_NOT_VALID"}, 429: _ERRORS[429]},
    dependencies=[Depends(auth_rate_limit)],
    # The refresh token is the credential; a bearer token is optional (it only binds
    # the refresh to its client when sent).
    openapi_extra={"security": [{}, {"BearerToken": []}]},
)
async def refresh_token(
    body: RefreshRequest,
    request: Request,
    response: Response,
    db_session: DbSession,
    caller: Annotated[str | None, Depends(optional_bearer_subject)],
) -> Envelope[TokenPair]:
    """A new token pair; the presented refresh token stops working. Re-using an
    already rotated token revokes its whole family."""
    pair = await service.refresh_tokens(
        db_session=db_session,
        settings=request.app.state.settings,
        refresh_token=body.refresh_token,
        caller_client_id=caller,
    )
    _no_store(response)
    return envelope(pair)


@router.post("/revoke", summary="Revoke a refresh token (idempotent)")
async def revoke_token(
    body: RefreshRequest, response: Response, db_session: DbSession
) -> Envelope[RevokeResult]:
    """Revokes the token and its family. Unknown tokens also answer 200."""
    await service.revoke_refresh_token(db_session=db_session, refresh_token=body.refresh_token)
    _no_store(response)
    return envelope(RevokeResult(revoked=True))
