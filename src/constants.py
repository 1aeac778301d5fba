"""Enums and constants shared by every module."""

from enum import StrEnum


class Environment(StrEnum):
    """Where the service runs; decides docs, error detail and required secrets."""

    LOCAL = "LOCAL"
    STAGING = "STAGING"
    TESTING = "TESTING"
    PRODUCTION = "PRODUCTION"

    @property
    def serves_docs(self) -> bool:
        """The interactive docs and the OpenAPI schema are served (not in PRODUCTION)."""
        return self in (self.LOCAL, self.STAGING, self.TESTING)

    @property
    def shows_error_details(self) -> bool:
        """A 500's body may name the exception: only where nobody else is calling.
        STAGING is deployed, so its details stay in the logs as in PRODUCTION."""
        return self in (self.LOCAL, self.TESTING)

    @property
    def is_testing(self) -> bool:
        return self == self.TESTING

    @property
    def is_deployed(self) -> bool:
        """Runs for real users: secrets and explicit CORS origins are required."""
        return self in (self.STAGING, self.PRODUCTION)


class ErrorCode:
    """Platform error codes (the `msg` of an error envelope); see API.md."""

    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    REQUEST_TIMEOUT = "REQUEST_TIMEOUT"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    RATE_LIMIT_EXCEEDED = "RATE_LIMIT_EXCEEDED"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    SERVICE_BUSY = "SERVICE_BUSY"
    AUTHENTICATION_REQUIRED = "AUTHENTICATION_REQUIRED"
    AUTHORIZATION_FAILED = "AUTHORIZATION_FAILED"
    BAD_REQUEST = "BAD_REQUEST"
    CONFLICT = "CONFLICT"


REQUEST_ID_HEADER = "X-Request-ID"
