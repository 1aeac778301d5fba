"""Auth errors, each with its API.md code and status."""

from src.auth.constants import ErrorCode
from src.exceptions import BadRequest, NotAuthenticated, PermissionDenied


class SecretIdInvalid(BadRequest):
    CODE = ErrorCode.SECRET_ID_INVALID


class SecretKeyInvalid(BadRequest):
    CODE = ErrorCode.SECRET_KEY_INVALID


class InvalidCredentials(BadRequest):
    CODE = ErrorCode.INVALID_CREDENTIALS


class AuthenticationRequired(NotAuthenticated):
    CODE = ErrorCode.AUTHENTICATION_REQUIRED


class InvalidToken(NotAuthenticated):
    """A refused bearer token; `data.reason` says why: expired, malformed,
    bad_signature, wrong_type, revoked (its client disabled, its secret rotated, or
    the API key revoked) or unknown (no such API key)."""

    CODE = ErrorCode.INVALID_TOKEN

    def __init__(self, reason: str) -> None:
        super().__init__(data={"reason": reason})


class RefreshTokenNotValid(NotAuthenticated):
    CODE = ErrorCode.REFRESH_TOKEN_NOT_VALID


class AuthorizationFailed(PermissionDenied):
    CODE = ErrorCode.AUTHORIZATION_FAILED
