"""Catalog request and response bodies."""

from decimal import Decimal
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator, model_validator

from src.models import Money, ORJSONModel, RequestModel
from src.voice.catalog.languages import available_languages
from src.voice.fields import Alias, Code, MoneyIn, Name
from src.voice.money import currency_exponent

MAX_CATALOG_ITEMS = 5000


MAX_CATALOG_MODIFIERS = 500
# Names and aliases together: each is a phrase the parser matches against.
MAX_CATALOG_PHRASES = 20_000


class CatalogItemIn(ORJSONModel):
    sku: Code
    name: Name
    aliases: list[Alias] = Field(default_factory=list, max_length=50)
    price: MoneyIn
    category: Annotated[str, StringConstraints(max_length=100)] | None = None
    available: bool = Field(default=True, description="False: sold out, never ordered")


class CatalogModifierIn(ORJSONModel):
    code: Code
    name: Name
    aliases: list[Alias] = Field(default_factory=list, max_length=50)
    price: MoneyIn = Decimal(0)
    group: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None,
        description="Mutually exclusive set (size, milk, ...); a correction replaces "
        "within it. Inferred from the name when absent.",
    )


class CatalogIn(RequestModel):
    """A whole catalog; PUT replaces the previous one atomically."""

    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "USD"
    languages: list[Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")]] | None = Field(
        default=None,
        min_length=1,
        max_length=4,
        description="The languages customers order in, the recogniser's first (with a "
        "multilingual model). Absent: English, plus Vietnamese when the names use "
        "Vietnamese letters.",
        examples=[["vi", "en"]],
    )
    items: list[CatalogItemIn] = Field(max_length=MAX_CATALOG_ITEMS)
    modifiers: list[CatalogModifierIn] = Field(
        default_factory=list, max_length=MAX_CATALOG_MODIFIERS
    )

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        known = available_languages()
        unknown = [code for code in value if code not in known]
        if unknown:
            raise ValueError(f"unknown language {unknown[0]!r}: one of {', '.join(known)}")
        return list(dict.fromkeys(value))  # in order, once each

    @model_validator(mode="after")
    def _check_consistency(self) -> "CatalogIn":
        problems: list[str] = []
        step = Decimal(1).scaleb(-currency_exponent(self.currency))
        entries: list[tuple[str, str, Decimal]] = [
            *((f"items[{n}]", f"sku {i.sku!r}", i.price) for n, i in enumerate(self.items)),
            *(
                (f"modifiers[{n}]", f"code {m.code!r}", m.price)
                for n, m in enumerate(self.modifiers)
            ),
        ]
        phrases = sum(1 + len(item.aliases) for item in self.items) + sum(
            1 + len(modifier.aliases) for modifier in self.modifiers
        )
        if phrases > MAX_CATALOG_PHRASES:
            problems.append(
                f"{phrases} names and aliases: a catalog may hold at most {MAX_CATALOG_PHRASES}"
            )
        seen: set[str] = set()
        for where, identity, price in entries:
            if identity in seen:
                problems.append(f"{where}: duplicate {identity}")
            seen.add(identity)
            if price < 0:
                problems.append(f"{where}.price: must not be negative")
            elif price != price.quantize(step):
                problems.append(f"{where}.price: more decimal places than {self.currency} allows")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class CatalogItemOut(ORJSONModel):
    sku: str
    name: str
    aliases: list[str]
    price: Money
    category: str | None
    available: bool


class CatalogModifierOut(ORJSONModel):
    code: str
    name: str
    aliases: list[str]
    price: Money
    group: str | None


class CatalogOut(ORJSONModel):
    currency: str
    languages: list[str] = Field(description="Declared, or inferred when not declared")
    version: int
    items: list[CatalogItemOut]
    modifiers: list[CatalogModifierOut]


class CatalogSaved(ORJSONModel):
    items: int
    modifiers: int
    version: int


class AvailabilityIn(RequestModel):
    """`PATCH /catalog/items/{sku}`: mark an item sold out or back."""

    available: bool


class AvailabilitySaved(ORJSONModel):
    sku: str
    available: bool
    version: int
