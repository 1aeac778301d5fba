"""Auth errors, each with its API.md code and status."""

from src.auth.constants import ErrorCode
from src.exceptions import BadRequest, NotAuthenticated, PermissionDenied


class SecretIdInvalid(BadRequest):
    DETAIL = ErrorCode.SECRET_ID_INVALID


class SecretKeyInvalid(BadRequest):
    DETAIL = ErrorCode.SECRET_KEY_INVALID


class InvalidCredentials(BadRequest):
    DETAIL = ErrorCode.INVALID_CREDENTIALS


class AuthenticationRequired(NotAuthenticated):
    DETAIL = ErrorCode.AUTHENTICATION_REQUIRED


class InvalidToken(NotAuthenticated):
    DETAIL = ErrorCode.INVALID_TOKEN


class RefreshTokenNotValid(NotAuthenticated):
    DETAIL = ErrorCode.REFRESH_TOKEN_NOT_VALID


class AuthorizationFailed(PermissionDenied):
    DETAIL = ErrorCode.AUTHORIZATION_FAILED
