"""`valid_api_credential`: who is calling, for every protected route."""

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.auth import service
from src.auth.exceptions import AuthenticationRequired, AuthorizationFailed
from src.auth.service import AuthenticatedClient
from src.context import client_id_var

# The scopes an access token needs for the protected API (`create-client`'s default).
API_SCOPES = ["voice"]

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="BearerToken",
    description="Access token from POST /api/v1/auth/token",
)


async def valid_api_credential(
    request: Request,
    security_scopes: SecurityScopes,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> AuthenticatedClient:
    """The calling API client; 401 without a valid token, 403 without the scope.

    Tokens are read only from the Authorization header, never from the query string.
    The client's state is cached (AUTH_CACHE_SECONDS): a database session is opened
    only when it is not, so most requests verify with no round trip at all.
    """
    if credentials is None or not credentials.credentials:
        raise AuthenticationRequired()
    # A route may still ask with other scopes (a separate dependency to FastAPI):
    # verify the token once per request all the same.
    client: AuthenticatedClient | None = getattr(request.state, "authenticated", None)
    if client is None:
        sessionmaker: async_sessionmaker[AsyncSession] = request.state.sessionmaker
        client = await service.authenticate_access_token(
            sessionmaker=sessionmaker,
            settings=request.app.state.settings,
            token=credentials.credentials,
        )
        request.state.authenticated = client
    missing = [scope for scope in security_scopes.scopes if scope not in client.scopes]
    if missing:
        raise AuthorizationFailed(data={"required_scopes": missing})
    # Seen by the rate limiter's key function, the access log and every log line.
    request.state.client_id = client.client_id
    client_id_var.set(client.client_id)
    return client


# With the same scopes as the protected routers' own check (src/api.py), FastAPI sees
# one dependency and solves it once per request.
CurrentClient = Annotated[AuthenticatedClient, Security(valid_api_credential, scopes=API_SCOPES)]


async def optional_bearer_subject(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> str | None:
    """The subject of a correctly signed bearer token, even an expired one, if sent."""
    if credentials is None:
        return None
    return service.subject_of_token(credentials.credentials, request.app.state.settings)
