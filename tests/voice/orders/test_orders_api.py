"""Catalog and orders through the API: validation, pricing, isolation, idempotency."""

import asyncio
from typing import Any

import httpx
import pytest

from src.config import Settings
from tests.conftest import (
    DATA,
    RunningApp,
    assert_envelope_error,
    cafe_catalog,
    create_api_client,
    other_app,
    token_for,
)

pytestmark = pytest.mark.anyio


async def _order(client: httpx.AsyncClient, merchant: dict[str, Any], text: str, **extra: Any):  # type: ignore[no-untyped-def]
    headers = {**merchant["headers"], **extra.pop("headers", {})}
    return await client.post("/api/v1/voice/order", json={"text": text, **extra}, headers=headers)


async def test_catalog_round_trip(client: httpx.AsyncClient, merchant: dict[str, Any]) -> None:
    response = await client.get("/api/v1/voice/catalog", headers=merchant["headers"])
    data = response.json()["data"]
    assert data["currency"] == "USD" and data["version"] == 1
    assert len(data["items"]) == 42
    latte = next(i for i in data["items"] if i["sku"] == "LATTE")
    assert latte["price"] == "4.25"
    again = await client.put(
        "/api/v1/voice/catalog", json=cafe_catalog(), headers=merchant["headers"]
    )
    assert again.json()["data"] == {"items": 42, "modifiers": 13, "version": 2}


async def test_catalog_validation_lists_every_problem(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    bad = cafe_catalog()
    bad["items"][1]["sku"] = bad["items"][0]["sku"]
    bad["items"][2]["price"] = "-1.00"
    bad["modifiers"][1]["code"] = bad["modifiers"][0]["code"]
    response = await client.put("/api/v1/voice/catalog", json=bad, headers=merchant["headers"])
    data = assert_envelope_error(response, 422, "VALIDATION_ERROR")
    message = " ".join(err["msg"] for err in data["errors"])
    assert "duplicate sku 'ESPRESSO'" in message
    assert "items[2].price: must not be negative" in message
    assert "duplicate code 'SMALL'" in message
    # Nothing changed.
    kept = await client.get("/api/v1/voice/catalog", headers=merchant["headers"])
    assert kept.json()["data"]["version"] == 1


@pytest.mark.parametrize(
    "patch",
    [
        {"name": ""},
        {"price": 3.5},
        {"price": "3.505"},
        {"sku": "has space"},
    ],
)
async def test_catalog_item_field_errors(
    client: httpx.AsyncClient, merchant: dict[str, Any], patch: dict[str, Any]
) -> None:
    bad = cafe_catalog()
    bad["items"][0].update(patch)
    response = await client.put("/api/v1/voice/catalog", json=bad, headers=merchant["headers"])
    assert_envelope_error(response, 422, "VALIDATION_ERROR")


async def test_catalog_size_limit(client: httpx.AsyncClient, merchant: dict[str, Any]) -> None:
    items = [{"sku": f"S{n}", "name": f"item {n}", "price": "1"} for n in range(5001)]
    response = await client.put(
        "/api/v1/voice/catalog",
        json={"currency": "USD", "items": items},
        headers=merchant["headers"],
    )
    assert_envelope_error(response, 422, "VALIDATION_ERROR")


async def test_order_is_parsed_priced_and_stored(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    response = await _order(
        client, merchant, "two large lattes and a croissant", customer_id="c-42"
    )
    assert response.status_code == 201
    order = response.json()["data"]
    assert [
        (i["sku"], i["quantity"], i["modifiers"], i["unit_price"], i["line_total"])
        for i in order["items"]
    ] == [
        ("LATTE", 2, ["LARGE"], "5.25", "10.50"),
        ("CROISSANT", 1, [], "3.25", "3.25"),
    ]
    assert order["total"] == "13.75" and order["currency"] == "USD"
    assert order["items"][0]["matched_text"] == "two large lattes"
    assert order["created_at"].endswith("Z")
    stored = await client.get(
        f"/api/v1/voice/orders/{order['order_id']}", headers=merchant["headers"]
    )
    assert stored.json()["data"] == order


async def test_off_menu_words_are_unmatched_not_guessed(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    response = await _order(client, merchant, "two pumpkin spice lattes and a mocha")
    order = response.json()["data"]
    assert [i["sku"] for i in order["items"]] == ["MOCHA"]
    assert order["unmatched"] == ["two pumpkin spice lattes"]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"text": "   "}, "empty"),
        ({"text": "x" * 2001}, "2000"),
        ({}, "exactly one"),
        ({"text": "a latte", "total": "0.01"}, "Extra inputs"),
    ],
)
async def test_order_input_errors_store_nothing(
    client: httpx.AsyncClient, merchant: dict[str, Any], body: dict[str, Any], problem: str
) -> None:
    response = await client.post("/api/v1/voice/order", json=body, headers=merchant["headers"])
    data = assert_envelope_error(response, 422, "VALIDATION_ERROR")
    assert problem in str(data["errors"])
    listing = await client.get("/api/v1/voice/orders", headers=merchant["headers"])
    assert listing.json()["data"]["orders"] == []


async def test_order_without_catalog_is_422(
    lifespan: RunningApp, client: httpx.AsyncClient
) -> None:
    tokens = await token_for(client, await create_api_client(lifespan))
    response = await client.post(
        "/api/v1/voice/order",
        json={"text": "a latte"},
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    data = assert_envelope_error(response, 422, "VALIDATION_ERROR")
    assert data["errors"][0]["type"] == "catalog_missing"


async def test_listing_is_newest_first_with_keyset_pages(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    ids = []
    for n in range(5):
        response = await _order(client, merchant, f"{n + 1} lattes", customer_id="c-1")
        ids.append(response.json()["data"]["order_id"])
    await _order(client, merchant, "a mocha", customer_id="c-2")
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"customer_id": "c-1", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (
            await client.get("/api/v1/voice/orders", params=params, headers=merchant["headers"])
        ).json()["data"]
        seen += [o["order_id"] for o in page["orders"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    bad = await client.get(
        "/api/v1/voice/orders", params={"cursor": "!!"}, headers=merchant["headers"]
    )
    assert_envelope_error(bad, 422, "VALIDATION_ERROR")


async def test_clients_never_see_each_others_orders(
    lifespan: RunningApp, client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    created = (await _order(client, merchant, "a latte", customer_id="shared-ref")).json()["data"]
    other = await token_for(client, await create_api_client(lifespan, "other shop"))
    headers = {"Authorization": f"Bearer {other['access_token']}"}
    foreign = await client.get(f"/api/v1/voice/orders/{created['order_id']}", headers=headers)
    missing = await client.get("/api/v1/voice/orders/ord_doesnotexist", headers=headers)
    assert_envelope_error(foreign, 404, "NOT_FOUND")
    # No oracle: a foreign id answers exactly like a missing one.
    assert {**foreign.json(), "data": {}} == {**missing.json(), "data": {}}
    listing = await client.get(
        "/api/v1/voice/orders", params={"customer_id": "shared-ref"}, headers=headers
    )
    assert listing.json()["data"]["orders"] == []
    assert (await client.get("/api/v1/voice/catalog", headers=headers)).status_code == 404


async def test_idempotent_replay_is_byte_identical(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    key = {"Idempotency-Key": "order-123"}
    first = await _order(client, merchant, "a latte", headers=key)
    second = await _order(client, merchant, "a latte", headers=key)
    assert first.status_code == second.status_code == 201
    assert first.content == second.content
    assert second.headers["idempotent-replayed"] == "true"
    listing = await client.get("/api/v1/voice/orders", headers=merchant["headers"])
    assert len(listing.json()["data"]["orders"]) == 1
    conflict = await _order(client, merchant, "two lattes", headers=key)
    assert_envelope_error(conflict, 409, "IDEMPOTENCY_KEY_REUSED")


async def test_idempotency_keys_are_scoped_by_client(
    lifespan: RunningApp, client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    key = {"Idempotency-Key": "same-key"}
    mine = await _order(client, merchant, "a latte", headers=key)
    other_creds = await create_api_client(lifespan, "other")
    other_tokens = await token_for(client, other_creds)
    other = {"headers": {"Authorization": f"Bearer {other_tokens['access_token']}"}}
    await client.put("/api/v1/voice/catalog", json=cafe_catalog(), headers=other["headers"])
    theirs = await _order(client, other, "a latte", headers=key)
    assert theirs.status_code == 201
    assert theirs.json()["data"]["order_id"] != mine.json()["data"]["order_id"]


async def test_concurrent_requests_with_one_key_create_one_order(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    key = {"Idempotency-Key": "burst-1"}
    responses = await asyncio.gather(
        *(_order(client, merchant, "a latte and a scone", headers=key) for _ in range(10))
    )
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}
    created = {r.json()["data"]["order_id"] for r in responses if r.status_code == 201}
    assert len(created) == 1
    for r in responses:
        if r.status_code == 409:
            assert r.json()["msg"] == "IDEMPOTENCY_KEY_IN_USE"
            assert r.headers["retry-after"] == "1"
    listing = await client.get("/api/v1/voice/orders", headers=merchant["headers"])
    assert len(listing.json()["data"]["orders"]) == 1


async def test_invalid_idempotency_key_is_422(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    response = await _order(client, merchant, "a latte", headers={"Idempotency-Key": "x" * 256})
    assert_envelope_error(response, 422, "VALIDATION_ERROR")


async def test_default_rate_limit_headers_on_protected_routes(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    response = await client.get("/api/v1/voice/catalog", headers=merchant["headers"])
    assert response.headers["x-ratelimit-limit"] == "600"
    assert int(response.headers["x-ratelimit-remaining"]) < 600


async def test_order_metrics_by_outcome(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    from prometheus_client import REGISTRY

    def parsed(outcome: str) -> float:
        labels = {"outcome": outcome, "source": "text"}
        return REGISTRY.get_sample_value("voice_orders_parsed_total", labels) or 0.0

    before = {o: parsed(o) for o in ("full", "partial", "none")}
    spans = REGISTRY.get_sample_value("voice_unmatched_spans_total") or 0.0
    lines = REGISTRY.get_sample_value("voice_order_lines_sum") or 0.0
    for text, status in (
        ("two lattes and a scone", 201),
        ("a latte and a unicorn frappe", 201),
        ("a unicorn frappe", 422),
    ):
        assert (await _order(client, merchant, text)).status_code == status
    assert {o: parsed(o) - before[o] for o in before} == {"full": 1, "partial": 1, "none": 1}
    assert (REGISTRY.get_sample_value("voice_unmatched_spans_total") or 0) - spans == 2
    assert (REGISTRY.get_sample_value("voice_order_lines_sum") or 0) - lines == 3


async def test_catalog_replaced_by_another_worker(settings: Settings, lifespan: RunningApp) -> None:
    """GET /catalog shows another worker's replacement within CATALOG_CACHE_SECONDS;
    an order placed meanwhile is already priced at the new version, although this
    worker had prepared the old one for an earlier order."""
    from sqlalchemy import update

    from src.voice.catalog.models import Catalog, CatalogItem

    async with other_app(settings, CATALOG_CACHE_SECONDS=0.5) as http:
        creds = await create_api_client(lifespan)
        headers = {"Authorization": f"Bearer {(await token_for(http, creds))['access_token']}"}
        assert (
            await http.put("/api/v1/voice/catalog", json=cafe_catalog(), headers=headers)
        ).json()["data"]["version"] == 1
        first = await http.get("/api/v1/voice/catalog", headers=headers)
        assert first.json()["data"]["version"] == 1
        assert first.headers["X-RateLimit-Limit"] and first.headers["X-RateLimit-Remaining"]

        before = await http.post("/api/v1/voice/order", json={"text": "a latte"}, headers=headers)
        assert before.json()["data"]["total"] == "4.25"  # version 1 is now prepared here

        # Another worker raises the latte's price: straight through the database,
        # so this process's caches know nothing of it.
        async with lifespan.state["sessionmaker"]() as session:
            client_id = creds["client_id"]
            await session.execute(
                update(CatalogItem)
                .where(CatalogItem.client_id == client_id, CatalogItem.sku == "LATTE")
                .values(price_minor=500)
            )
            await session.execute(
                update(Catalog).where(Catalog.client_id == client_id).values(version=2)
            )
            await session.commit()

        stale = await http.get("/api/v1/voice/catalog", headers=headers)
        assert stale.json()["data"]["version"] == 1  # within the cache window
        order = await http.post("/api/v1/voice/order", json={"text": "a latte"}, headers=headers)
        assert order.status_code == 201, order.text
        assert order.json()["data"]["total"] == "5.00"  # orders never lag
        listed = await http.get("/api/v1/voice/orders", headers=headers)
        assert [o["total"] for o in listed.json()["data"]["orders"]] == ["5.00", "4.25"]

        await asyncio.sleep(0.6)
        fresh = (await http.get("/api/v1/voice/catalog", headers=headers)).json()["data"]
        assert fresh["version"] == 2
        assert next(i for i in fresh["items"] if i["sku"] == "LATTE")["price"] == "5.00"


@pytest.mark.parametrize("text", ["a unicorn frappe", "Thank you.", "um, hello?"])
async def test_an_order_that_names_nothing_is_refused_and_stores_nothing(
    client: httpx.AsyncClient, merchant: dict[str, Any], text: str
) -> None:
    response = await _order(client, merchant, text, headers={"Idempotency-Key": "nothing-1"})
    data = assert_envelope_error(response, 422, "NOTHING_ORDERED")
    assert data["transcript"] == text
    orders = await client.get("/api/v1/voice/orders", headers=merchant["headers"])
    assert orders.json()["data"]["orders"] == []
    # The key was not used up: the same key with a real order goes through.
    real = await _order(client, merchant, "a latte", headers={"Idempotency-Key": "nothing-1"})
    assert real.status_code == 201, real.text


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        ('{"text": "a latte"}', {"content-type": "text/plain;charset=UTF-8"}),  # fetch(string)
        ('{"text": "a latte"}', {}),
        ("text=a+latte", {"content-type": "application/x-www-form-urlencoded"}),
    ],
)
async def test_a_body_that_is_not_json_is_415_naming_what_to_send(
    client: httpx.AsyncClient, merchant: dict[str, Any], content: str, headers: dict[str, str]
) -> None:
    for path in ("/api/v1/voice/order", "/api/v1/voice/recommend_order", "/api/v1/voice/sessions"):
        response = await client.post(
            path, content=content, headers={**merchant["headers"], **headers}
        )
        data = assert_envelope_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
        assert "application/json" in data["errors"][0]["msg"], path


async def test_multipart_text_field_alone_is_not_an_order(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    response = await client.post(
        "/api/v1/voice/order", files={"text": (None, "a latte")}, headers=merchant["headers"]
    )
    data = assert_envelope_error(response, 422, "VALIDATION_ERROR")
    assert data["errors"][0]["loc"] == ["body", "file"]


async def test_an_audio_order_sent_as_multipart(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    audio = (DATA / "audio" / "cafe-009.flac").read_bytes()
    response = await client.post(
        "/api/v1/voice/order",
        files={"file": ("order.flac", audio, "audio/flac")},
        data={"customer_id": "c-7", "language": "en"},
        headers={**merchant["headers"], "Idempotency-Key": "multipart-1"},
    )
    assert response.status_code == 201, response.text
    order = response.json()["data"]
    assert order["customer_id"] == "c-7"
    assert [(i["sku"], i["quantity"]) for i in order["items"]] == [("HOT_CHOCOLATE", 2)]
    again = await client.post(
        "/api/v1/voice/order",
        files={"file": ("order.flac", audio, "audio/flac")},
        data={"customer_id": "c-7", "language": "en"},
        headers={**merchant["headers"], "Idempotency-Key": "multipart-1"},
    )
    assert again.content == response.content
