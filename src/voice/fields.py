"""Field types shared by the voice sub-domains' request bodies: money, names, codes, ids."""

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, StringConstraints


def _decimal_string(value: Any) -> Any:
    # Floats carry binary rounding (0.1 + 0.2); money must arrive as a string or integer.
    if isinstance(value, float):
        raise ValueError('money must be a decimal string such as "3.50", not a float')
    if isinstance(value, bool):
        raise ValueError("money must be a decimal string")
    if isinstance(value, int):
        if abs(value) >= 10**12:
            raise ValueError("money must have at most 12 digits before the point")
        return Decimal(value)
    if isinstance(value, str):
        # ASCII digits only: \d would also take Arabic-Indic or full-width digits.
        if not re.fullmatch(r"\s*-?[0-9]{1,12}(\.[0-9]{1,4})?\s*", value):
            raise ValueError('money must be a decimal string such as "3.50"')
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            raise ValueError("not a decimal amount") from None
    return value


MoneyIn = Annotated[Decimal, BeforeValidator(_decimal_string)]


def _iso_only(value: Any) -> Any:
    # pydantic would read a number as a Unix time; a client sending 0 meant no date.
    if not isinstance(value, str | datetime):
        raise ValueError("must be an ISO 8601 date-time string")
    return value


def _storable(value: datetime) -> datetime:
    # Kept in UTC: an offset may carry a date past year 9999 ("9999-12-31T23:59-14:00").
    try:
        value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except OverflowError:
        raise ValueError("date-time out of range") from None
    return value


IsoDateTime = Annotated[datetime, BeforeValidator(_iso_only), AfterValidator(_storable)]


# Words in one catalog name or alias: matching windows grow with the longest phrase.
MAX_PHRASE_WORDS = 10


def _few_words(value: str) -> str:
    if len(value.split()) > MAX_PHRASE_WORDS:
        raise ValueError(f"at most {MAX_PHRASE_WORDS} words")
    return value


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_few_words),
]


Code = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
]


Alias = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_few_words),
]


CustomerId = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$"
    ),
]
