"""Voice errors with their API.md codes."""

from collections.abc import Sequence
from typing import Any

from src.exceptions import (
    Conflict,
    NotFound,
    PreconditionFailed,
    UnprocessableEntity,
    UnsupportedMediaType,
)


class ErrorCode:
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    IDEMPOTENCY_KEY_IN_USE = "IDEMPOTENCY_KEY_IN_USE"
    AUDIO_INVALID = "AUDIO_INVALID"
    SESSION_CLOSED = "SESSION_CLOSED"
    ITEM_UNAVAILABLE = "ITEM_UNAVAILABLE"
    SESSION_VERSION_MISMATCH = "SESSION_VERSION_MISMATCH"
    CART_EMPTY = "CART_EMPTY"
    NOTHING_ORDERED = "NOTHING_ORDERED"


class SessionNotFound(NotFound):
    pass


class ItemNotFound(NotFound):
    pass


class SessionClosed(Conflict):
    """A turn, confirm or cancel on a session that is no longer open (409)."""

    CODE = ErrorCode.SESSION_CLOSED

    def __init__(self, status: str) -> None:
        super().__init__(data={"status": status})


class ItemUnavailable(Conflict):
    """Confirming a cart that holds a sold-out item (409, `data.lines`)."""

    CODE = ErrorCode.ITEM_UNAVAILABLE

    def __init__(self, lines: Sequence[dict[str, Any]]) -> None:
        super().__init__(data={"lines": list(lines)})


class SessionVersionMismatch(PreconditionFailed):
    """`If-Match` names a version the session has moved past (412)."""

    CODE = ErrorCode.SESSION_VERSION_MISMATCH

    def __init__(self, version: int) -> None:
        super().__init__(data={"version": version}, headers={"ETag": f'"{version}"'})


class NothingOrdered(UnprocessableEntity):
    """An order whose words name nothing orderable (422): nothing is stored."""

    CODE = ErrorCode.NOTHING_ORDERED

    def __init__(self, transcript: str, unmatched: Sequence[str]) -> None:
        super().__init__(data={"transcript": transcript, "unmatched": list(unmatched)})


class CartEmpty(UnprocessableEntity):
    """Confirming a cart with nothing in it (422)."""

    CODE = ErrorCode.CART_EMPTY


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


class AmountTooLarge(UnprocessableEntity):
    """An order whose total passes what an amount can hold (422)."""

    def __init__(self) -> None:
        super().__init__(
            errors=[{"loc": ["body"], "msg": "the order's total is too large", "type": "too_large"}]
        )


class InvalidCursor(UnprocessableEntity):
    """A page cursor that is not one of ours (422)."""

    def __init__(self) -> None:
        super().__init__(
            errors=[{"loc": ["query", "cursor"], "msg": "invalid cursor", "type": "value_error"}]
        )


class ImportRejected(UnprocessableEntity):
    """An import naming unknown SKUs or modifiers: nothing of it is stored (422)."""

    def __init__(self, problems: Sequence[Any]) -> None:
        super().__init__(
            errors=[{"loc": list(p.loc), "msg": p.msg, "type": p.type} for p in problems]
        )


class IdempotencyKeyReused(Conflict):
    CODE = ErrorCode.IDEMPOTENCY_KEY_REUSED


class IdempotencyKeyInUse(Conflict):
    CODE = ErrorCode.IDEMPOTENCY_KEY_IN_USE

    def __init__(self) -> None:
        super().__init__(headers={"Retry-After": "1"})


def _audio_error(reason: str, type_: str) -> dict[str, object]:
    return {"loc": ["body", "audio"], "msg": reason, "type": type_}


class AudioInvalid(UnprocessableEntity):
    """Audio that cannot be decoded, holds no sound, or runs too long (422)."""

    CODE = ErrorCode.AUDIO_INVALID

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
