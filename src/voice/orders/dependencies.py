"""Order dependencies: the order body (JSON or multipart) and the Idempotency-Key header."""

import re
from typing import Annotated

from fastapi import Depends, Header, Request

from src.exceptions import UnprocessableEntity, validation_error
from src.voice.orders.schemas import OrderRequest
from src.voice.speech.intake import read_utterance

_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


async def idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Retry-safe key (1-255 printable characters), kept 24 hours",
        ),
    ] = None,
) -> str | None:
    """The Idempotency-Key header: 1-255 printable ASCII characters, else 422."""
    if key is not None and not _IDEMPOTENCY_KEY.match(key):
        raise UnprocessableEntity(
            errors=[
                validation_error(
                    ["header", "Idempotency-Key"], "must be 1-255 printable ASCII characters"
                )
            ]
        )
    return key


IdempotencyKeyHeader = Annotated[str | None, Depends(idempotency_key)]


async def order_request(request: Request) -> OrderRequest:
    """The order: JSON, or multipart with a `file` part and `customer_id`, `encoding`,
    `hertz`, `language` fields; 415 for anything else."""
    return await read_utterance(request, OrderRequest)


OrderBody = Annotated[OrderRequest, Depends(order_request)]
