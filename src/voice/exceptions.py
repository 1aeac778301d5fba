"""Voice errors with their API.md codes."""

from src.exceptions import Conflict, NotFound, UnprocessableEntity, UnsupportedMediaType


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


def _audio_error(reason: str, type_: str) -> dict[str, object]:
    return {"loc": ["body", "audio"], "msg": reason, "type": type_}


class AudioInvalid(UnprocessableEntity):
    """Audio that cannot be decoded, holds no sound, or runs too long (422)."""

    DETAIL = ErrorCode.AUDIO_INVALID

    def __init__(self, reason: str) -> None:
        super().__init__(
            errors=[{"loc": ["body", "audio"], "msg": reason, "type": "audio_invalid"}]
        )
        self.reason = reason


class AudioUnsupported(UnsupportedMediaType):
    """A format we do not read (415)."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            data={
                "errors": [{"loc": ["body", "audio"], "msg": reason, "type": "audio_unsupported"}]
            }
        )
        self.reason = reason
