"""Hostile strings and numbers on every route: a clear 4xx, never a 5xx, nothing stored.

Runs on whichever database the suite runs on (CI: SQLite, then PostgreSQL, where a NUL
character in text or an integer past 64 bits used to end in a 500).
"""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import assert_envelope_error, cafe_catalog

pytestmark = pytest.mark.anyio

NUL_STRINGS = ["\x00", "latte\x00", "c-4\x002"]
ODD_STRINGS = ["٣.٥٠", "３．５０", "𝟘", "x" * 5000, "' OR 1=1 --", "\u202e\u0000"[:1], "%00", ""]
NUMBERS: list[Any] = [10**17, 10**19, -(10**19), 2**63, 2**64, 1e308, -0.0, True, None]
DATES = ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "2016-13-45T00:00:00", "0"]


def _catalog_variants() -> Iterator[dict[str, Any]]:
    for value in [*NUL_STRINGS, *ODD_STRINGS, *NUMBERS]:
        for field in ("name", "sku", "price", "category"):
            catalog = cafe_catalog()
            catalog["items"][0][field] = value
            yield catalog
        catalog = cafe_catalog()
        catalog["currency"] = value
        yield catalog


def _bodies(value: Any) -> Iterator[tuple[str, str, dict[str, Any]]]:
    yield "POST", "/api/v1/voice/order", {"text": value}
    yield "POST", "/api/v1/voice/order", {"text": "a latte", "customer_id": value}
    yield "POST", "/api/v1/voice/recommend_order", {"items": [value], "customer_id": value}
    yield "POST", "/api/v1/voice/recommend_order", {"items": ["LATTE"], "limit": value}
    yield "POST", "/api/v1/voice/recommend_order", {"items": ["LATTE"], "at": value}
    order = {"created_at": "2026-11-30T08:00:00Z", "items": [{"sku": "LATTE", "quantity": 1}]}
    for key, nested in (("sku", False), ("quantity", False), ("created_at", True)):
        line = dict(order["items"][0])  # type: ignore[index]
        bad = {**order, key: value} if nested else {**order, "items": [{**line, key: value}]}
        yield "POST", "/api/v1/voice/orders/import", {"orders": [bad]}
    yield "POST", "/api/v1/voice/orders/import", {"orders": [{**order, "customer_id": value}]}
    yield "POST", "/api/v1/voice/speech", {"audio": "AAAA", "language": value}
    yield "POST", "/api/v1/auth/token", {"secret_id": value, "secret_key": value}
    yield "POST", "/api/v1/auth/refresh", {"refresh_token": value}
    yield "POST", "/api/v1/auth/revoke", {"refresh_token": value}


async def test_hostile_bodies_get_4xx_never_5xx(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    headers = merchant["headers"]
    before = (await client.get("/api/v1/voice/catalog", headers=headers)).json()["data"]
    for catalog in _catalog_variants():
        response = await client.put("/api/v1/voice/catalog", json=catalog, headers=headers)
        assert response.status_code < 500, (catalog["items"][0], response.text[:300])
    for value in [*NUL_STRINGS, *ODD_STRINGS, *NUMBERS, *DATES]:
        for method, path, body in _bodies(value):
            response = await client.request(method, path, json=body, headers=headers)
            assert response.status_code < 500, (path, body, response.text[:300])
            if isinstance(value, str) and "\x00" in value:
                assert_envelope_error(response, 422, "VALIDATION_ERROR")
                assert "NUL" in response.text
    # Every catalog above was refused or stored whole; a NUL never was.
    after = (await client.get("/api/v1/voice/catalog", headers=headers)).json()["data"]
    assert "\\u0000" not in str(after) and "\x00" not in str(after)
    assert after["version"] >= before["version"]


async def test_nul_in_the_url_is_422(client: httpx.AsyncClient, merchant: dict[str, Any]) -> None:
    headers = merchant["headers"]
    for url in (
        "/api/v1/voice/orders/ord_%00x",
        "/api/v1/voice/orders?customer_id=c%0042",
        "/api/v1/voice/orders?cursor=%00",
    ):
        response = await client.get(url, headers=headers)
        data = assert_envelope_error(response, 422, "VALIDATION_ERROR")
        assert data["errors"][0]["msg"] == "NUL characters are not accepted"


@pytest.mark.parametrize("price", ["٣.٥٠", "３．５０", "3.5٠", 10**12, 10**17, 10**19, "1" * 13])
async def test_money_is_ascii_digits_within_twelve_places(
    client: httpx.AsyncClient, merchant: dict[str, Any], price: Any
) -> None:
    catalog = cafe_catalog()
    catalog["items"][0]["price"] = price
    response = await client.put("/api/v1/voice/catalog", json=catalog, headers=merchant["headers"])
    assert_envelope_error(response, 422, "VALIDATION_ERROR")


async def test_an_import_date_past_year_9999_in_utc_is_422(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    body = {
        "orders": [
            {"created_at": "9999-12-31T23:59:59-14:00", "items": [{"sku": "LATTE"}]},
        ]
    }
    response = await client.post(
        "/api/v1/voice/orders/import", json=body, headers=merchant["headers"]
    )
    errors = assert_envelope_error(response, 422, "VALIDATION_ERROR")["errors"]
    assert "out of range" in errors[0]["msg"]


async def test_an_order_total_past_64_bits_is_422_and_not_stored(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    # Three-decimal currency, 12-digit prices: ten lines of 999 pass 2**63 minor units.
    names = ["apple", "banana", "cherry", "damson", "elder", "fig", "grape", "hazel",
             "kiwi", "lemon"]  # fmt: skip
    catalog = {
        "currency": "KWD",
        "items": [
            {"sku": name.upper(), "name": name, "price": "999999999999.999"} for name in names
        ],
    }
    headers = merchant["headers"]
    assert (
        await client.put("/api/v1/voice/catalog", json=catalog, headers=headers)
    ).status_code == 200
    text = ", ".join(f"999 {name}" for name in names)
    response = await client.post("/api/v1/voice/order", json={"text": text}, headers=headers)
    assert_envelope_error(response, 422, "VALIDATION_ERROR")
    listed = (await client.get("/api/v1/voice/orders", headers=headers)).json()["data"]
    assert listed["orders"] == []
