"""Three clients, the same customer reference and the same idempotency key: no leaks."""

from typing import Any

import httpx
import pytest

from tests.conftest import RunningApp, cafe_catalog, create_api_client, token_for

pytestmark = pytest.mark.anyio

SHOPS = {"A": "LATTE", "B": "MOCHA", "C": "SCONE"}


async def shop(lifespan: RunningApp, client: httpx.AsyncClient, name: str) -> dict[str, Any]:
    creds = await create_api_client(lifespan, f"shop {name}")
    headers = {"Authorization": f"Bearer {(await token_for(client, creds))['access_token']}"}
    catalog = cafe_catalog()
    catalog["currency"] = {"A": "USD", "B": "EUR", "C": "GBP"}[name]
    assert (
        await client.put("/api/v1/voice/catalog", json=catalog, headers=headers)
    ).status_code == 200
    return {"headers": headers, "sku": SHOPS[name], "orders": []}


async def test_no_route_leaks_across_clients(
    lifespan: RunningApp, client: httpx.AsyncClient
) -> None:
    shops = {name: await shop(lifespan, client, name) for name in SHOPS}
    for s in shops.values():
        for _ in range(2):
            response = await client.post(
                "/api/v1/voice/order",
                json={"text": f"a {s['sku'].lower()}", "customer_id": "c-shared"},
                headers={**s["headers"], "Idempotency-Key": f"same-key-{len(s['orders'])}"},
            )
            assert response.status_code == 201, response.text  # same key, other client: no 409
            s["orders"].append(response.json()["data"]["order_id"])

    for name, s in shops.items():
        mine = set(s["orders"])
        others = {o for other, t in shops.items() if other != name for o in t["orders"]}
        for order_id in mine:
            got = await client.get(f"/api/v1/voice/orders/{order_id}", headers=s["headers"])
            assert got.status_code == 200
        for order_id in others:
            got = await client.get(f"/api/v1/voice/orders/{order_id}", headers=s["headers"])
            assert got.status_code == 404  # exists, but not yours: indistinguishable
        listed = await client.get(
            "/api/v1/voice/orders", params={"customer_id": "c-shared"}, headers=s["headers"]
        )
        assert {o["order_id"] for o in listed.json()["data"]["orders"]} == mine
        catalog = await client.get("/api/v1/voice/catalog", headers=s["headers"])
        assert catalog.json()["data"]["currency"] == {"A": "USD", "B": "EUR", "C": "GBP"}[name]
        recommended = await client.post(
            "/api/v1/voice/recommend_order",
            json={"customer_id": "c-shared", "limit": 1},
            headers=s["headers"],
        )
        data = recommended.json()["data"]
        assert data["recommendations"][0]["sku"] == s["sku"]
        assert data["usual_order"]["items"][0]["sku"] == s["sku"]
        # Replaying one's own key returns one's own first order, never another client's.
        replay = await client.post(
            "/api/v1/voice/order",
            json={"text": f"a {s['sku'].lower()}", "customer_id": "c-shared"},
            headers={**s["headers"], "Idempotency-Key": "same-key-0"},
        )
        assert replay.json()["data"]["order_id"] == s["orders"][0]
