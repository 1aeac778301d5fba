"""Request and response bodies of the auth endpoints."""

from pydantic import Field

from src.models import ORJSONModel, RequestModel


class TokenRequest(RequestModel):
    secret_id: str = Field(max_length=256, examples=["sid_3k9x0c2m4n6p8r1t5v7w9y0a"])
    secret_key: str = Field(max_length=256, examples=["sk_" + "x" * 43])


class RefreshRequest(RequestModel):
    # Long enough for an access token sent by mistake: it gets REFRESH_TOKEN_NOT_VALID.
    refresh_token: str = Field(max_length=4096)


class TokenPair(ORJSONModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    refresh_token: str
    refresh_expires_in: int


class RevokeResult(ORJSONModel):
    revoked: bool


class ClientCredentials(ORJSONModel):
    """Printed once by the CLI; never stored in clear."""

    client_id: str
    secret_id: str
    secret_key: str


class ClientSummary(ORJSONModel):
    client_id: str
    name: str
    secret_id: str
    scopes: list[str]
    is_active: bool
    created_at: str
