"""Point-of-sale history from a CSV of (Date, Time, Transaction, Item) rows.

The shape of the public "BreadBasket" bakery export: one row per item sold, rows
of one transaction share its number, `NONE` marks a row with no item.
"""

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from src.voice.catalog.schemas import CatalogIn, CatalogItemIn
from src.voice.orders.schemas import ImportLineIn, ImportOrderIn

NO_ITEM = "NONE"


@dataclass(frozen=True, slots=True)
class Transaction:
    number: str
    created_at: datetime
    items: tuple[str, ...]  # item names, in the order sold, repeats kept


def sku_for(name: str) -> str:
    """A stable SKU from an item name: "Hot chocolate" -> "HOT_CHOCOLATE"."""
    sku = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").upper()
    return (sku or "ITEM")[:64]


def read_transactions(path: Path) -> list[Transaction]:
    """Transactions in file order; rows without an item are dropped."""
    grouped: dict[str, tuple[datetime, list[str]]] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            item = (row.get("Item") or "").strip()
            if not item or item.upper() == NO_ITEM:
                continue
            moment = datetime.fromisoformat(f"{row['Date']}T{row['Time']}").replace(tzinfo=UTC)
            entry = grouped.setdefault(row["Transaction"], (moment, []))
            entry[1].append(item)
    return [Transaction(n, moment, tuple(items)) for n, (moment, items) in grouped.items()]


def catalog_for(transactions: Iterable[Transaction], currency: str = "USD") -> CatalogIn:
    """A catalog holding every item name sold (prices unknown: zero)."""
    names: dict[str, str] = {}
    for transaction in transactions:
        for name in transaction.items:
            names.setdefault(sku_for(name), name)
    return CatalogIn(
        currency=currency,
        items=[CatalogItemIn(sku=sku, name=name, price="0") for sku, name in sorted(names.items())],
    )


def as_import_orders(transactions: Iterable[Transaction]) -> list[ImportOrderIn]:
    """Import bodies: one order per transaction, repeated items as quantities."""
    orders = []
    for transaction in transactions:
        quantities: dict[str, int] = {}
        for name in transaction.items:
            quantities[sku_for(name)] = quantities.get(sku_for(name), 0) + 1
        orders.append(
            ImportOrderIn(
                created_at=transaction.created_at,
                items=[ImportLineIn(sku=sku, quantity=q) for sku, q in quantities.items()],
            )
        )
    return orders
