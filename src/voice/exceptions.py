"""Voice errors with their API.md codes."""

from src.exceptions import Conflict, NotFound, UnprocessableEntity


class ErrorCode:
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    IDEMPOTENCY_KEY_IN_USE = "IDEMPOTENCY_KEY_IN_USE"
    AUDIO_INVALID = "AUDIO_INVALID"


class CatalogMissing(UnprocessableEntity):
    """The client has no catalog yet: nothing to parse against."""

    def __init__(self) -> None:
        super().__init__(
            errors=[
                {
                    "loc": ["catalog"],
                    "msg": "no catalog: PUT /api/v1/voice/catalog first",
                    "type": "catalog_missing",
                }
            ]
        )


class OrderNotFound(NotFound):
    pass


class IdempotencyKeyReused(Conflict):
    DETAIL = ErrorCode.IDEMPOTENCY_KEY_REUSED


class IdempotencyKeyInUse(Conflict):
    DETAIL = ErrorCode.IDEMPOTENCY_KEY_IN_USE

    def __init__(self) -> None:
        super().__init__(headers={"Retry-After": "1"})
