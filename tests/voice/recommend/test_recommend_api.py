"""Recommendations and history import through the API, on the real database."""

import asyncio
import itertools
import time
from datetime import UTC, datetime
from typing import Any

import anyio
import httpx
import pytest
from sqlalchemy import select

from src.voice.orders.models import Order, OrderLine
from src.voice.recommend import counters as recommendation_counters
from src.voice.recommend.models import (
    RecCustomerBasket,
    RecCustomerItem,
    RecItem,
    RecPair,
    RecPendingOrder,
    RecTotal,
)
from tests.conftest import (
    RunningApp,
    assert_envelope_error,
    cafe_catalog,
    create_api_client,
    token_for,
)

pytestmark = pytest.mark.anyio

RECOMMEND = "/api/v1/voice/recommend_order"
IMPORT = "/api/v1/voice/orders/import"


def order(at: str, *skus: str, customer: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"created_at": at, "items": [{"sku": s} for s in skus]}
    if customer:
        body["customer_id"] = customer
    return body


def history() -> list[dict[str, Any]]:
    return (
        [order(f"2026-01-{d:02d}T08:00:00Z", "LATTE", "CROISSANT") for d in range(1, 21)]
        + [order(f"2026-02-{d:02d}T12:00:00Z", "AMERICANO") for d in range(1, 29)]
        + [order(f"2026-03-0{d}T09:00:00Z", "MOCHA", customer="c-1") for d in range(1, 4)]
        + [order("2026-03-05T09:00:00Z", "MOCHA", "SCONE", customer="c-1")]
    )


async def ask(client: httpx.AsyncClient, merchant: dict[str, Any], **body: Any) -> dict[str, Any]:
    response = await client.post(RECOMMEND, json=body, headers=merchant["headers"])
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


@pytest.fixture
async def shop(client: httpx.AsyncClient, merchant: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(IMPORT, json={"orders": history()}, headers=merchant["headers"])
    assert response.status_code == 201, response.text
    assert response.json()["data"] == {"imported": len(history())}
    return merchant


async def test_frequently_bought_together(client: httpx.AsyncClient, shop: dict[str, Any]) -> None:
    data = await ask(client, shop, items=["LATTE"], at="2026-04-01T08:30:00Z")
    first = data["recommendations"][0]
    assert first["sku"] == "CROISSANT" and first["name"] == "Croissant"
    assert first["reason"] == "frequently_bought_together"
    assert all(r["sku"] != "LATTE" for r in data["recommendations"])
    assert all(0 <= r["score"] <= 1 for r in data["recommendations"])
    assert data["usual_order"] is None


async def test_customer_favourite_and_usual_order(
    client: httpx.AsyncClient, shop: dict[str, Any]
) -> None:
    data = await ask(client, shop, customer_id="c-1", limit=3)
    assert data["recommendations"][0]["sku"] == "MOCHA"
    assert data["recommendations"][0]["reason"] == "customer_favorite"
    assert data["usual_order"] == {"items": [{"sku": "MOCHA", "quantity": 1, "modifiers": []}]}


async def test_popular_fallback_for_a_new_customer(
    client: httpx.AsyncClient, shop: dict[str, Any]
) -> None:
    data = await ask(client, shop, customer_id="c-new", at="2026-04-01T12:10:00Z", limit=2)
    assert data["recommendations"][0]["sku"] == "AMERICANO"
    assert data["recommendations"][0]["reason"] == "popular"
    assert len(data["recommendations"]) == 2


async def test_removed_skus_are_never_recommended(
    client: httpx.AsyncClient, shop: dict[str, Any]
) -> None:
    catalog = cafe_catalog()
    catalog["items"] = [i for i in catalog["items"] if i["sku"] not in ("CROISSANT", "MOCHA")]
    await client.put("/api/v1/voice/catalog", json=catalog, headers=shop["headers"])
    data = await ask(client, shop, items=["LATTE"], customer_id="c-1", limit=50)
    offered = {r["sku"] for r in data["recommendations"]}
    assert not offered & {"CROISSANT", "MOCHA", "LATTE"}
    assert data["usual_order"] is None  # the usual MOCHA is gone


async def test_import_is_all_or_nothing_and_lists_unknown_skus(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    bad = [
        order("2026-01-01T08:00:00Z", "LATTE"),
        order("2026-01-01T08:00:00Z", "UNICORN_FRAPPE"),
        {"created_at": "2026-01-02T08:00:00Z", "items": [{"sku": "LATTE", "modifiers": ["GOLD"]}]},
    ]
    response = await client.post(IMPORT, json={"orders": bad}, headers=merchant["headers"])
    data = assert_envelope_error(response, 422, "VALIDATION_ERROR")
    messages = [e["msg"] for e in data["errors"]]
    assert messages == ["unknown sku 'UNICORN_FRAPPE'", "unknown modifier 'GOLD'"]
    assert data["errors"][0]["loc"] == ["body", "orders", 1, "items", 0, "sku"]
    listed = await client.get("/api/v1/voice/orders", headers=merchant["headers"])
    assert listed.json()["data"]["orders"] == []
    fresh = await ask(client, merchant, items=["LATTE"])
    assert {r["reason"] for r in fresh["recommendations"]} == {"popular"}


@pytest.mark.parametrize(
    "body",
    [
        {"orders": []},
        {"orders": [order("2026-01-01T08:00:00Z")]},
        {"orders": [{"items": [{"sku": "LATTE"}]}]},
        {
            "orders": [
                {"created_at": "2026-01-01T08:00:00Z", "items": [{"sku": "LATTE", "quantity": 0}]}
            ]
        },
        {"orders": [order("2026-01-01T08:00:00Z", "LATTE")] * 10_001},
    ],
    ids=["no-orders", "no-items", "no-created-at", "zero-quantity", "over-10000"],
)
async def test_import_validation(
    client: httpx.AsyncClient, merchant: dict[str, Any], body: dict[str, Any]
) -> None:
    response = await client.post(IMPORT, json=body, headers=merchant["headers"])
    assert_envelope_error(response, 422, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    "body",
    [{"limit": 0}, {"limit": 51}, {"items": ["bad sku!"]}, {"at": "yesterday"}, {"extra": 1}],
)
async def test_recommend_validation(
    client: httpx.AsyncClient, merchant: dict[str, Any], body: dict[str, Any]
) -> None:
    response = await client.post(RECOMMEND, json=body, headers=merchant["headers"])
    assert_envelope_error(response, 422, "VALIDATION_ERROR")


async def test_one_clients_history_never_reaches_another(
    lifespan: RunningApp, client: httpx.AsyncClient, shop: dict[str, Any]
) -> None:
    other = await create_api_client(lifespan, "other shop")
    headers = {"Authorization": f"Bearer {(await token_for(client, other))['access_token']}"}
    await client.put("/api/v1/voice/catalog", json=cafe_catalog(), headers=headers)
    data = await ask(client, {"headers": headers}, items=["LATTE"], customer_id="c-1", limit=5)
    assert {r["reason"] for r in data["recommendations"]} == {"popular"}
    assert len({r["score"] for r in data["recommendations"]}) == 1  # no history: all equal
    assert data["usual_order"] is None


def _significant(value: float) -> float:
    # Favourite weights are large sums whose last bits depend on the order of adding.
    return float(f"{value:.12g}")


async def _snapshot(lifespan: RunningApp, client_id: str) -> dict[str, list[tuple[Any, ...]]]:
    tables = {
        "totals": select(RecTotal.hour, RecTotal.baskets),
        "items": select(RecItem.hour, RecItem.sku, RecItem.baskets),
        "pairs": select(RecPair.sku, RecPair.other_sku, RecPair.baskets),
        "favourites": select(
            RecCustomerItem.customer_id, RecCustomerItem.sku, RecCustomerItem.weight
        ),
        "baskets": select(
            RecCustomerBasket.customer_id, RecCustomerBasket.basket_key, RecCustomerBasket.times
        ),
    }
    out = {}
    async with lifespan.state["sessionmaker"]() as session:
        for name, query in tables.items():
            table = query.columns_clause_froms[0]
            rows = await session.execute(query.where(table.c.client_id == client_id))
            out[name] = sorted(
                tuple(_significant(v) if isinstance(v, float) else v for v in row) for row in rows
            )
    return out


async def test_counters_equal_a_recount_after_imports_and_orders(
    lifespan: RunningApp, client: httpx.AsyncClient, shop: dict[str, Any]
) -> None:
    for text in ("a latte and a croissant", "two mochas and a scone", "a latte"):
        response = await client.post(
            "/api/v1/voice/order",
            json={"text": text, "customer_id": "c-1"},
            headers=shop["headers"],
        )
        assert response.status_code == 201
    more = [order("2026-05-01T07:00:00Z", "LATTE", "SCONE", customer="c-2")] * 3
    assert (
        await client.post(IMPORT, json={"orders": more}, headers=shop["headers"])
    ).status_code == 201
    client_id = shop["client_id"]
    async with lifespan.state["sessionmaker"]() as session:
        await recommendation_counters.fold_all_queued(session, client_id=client_id)
    incremental = await _snapshot(lifespan, client_id)
    assert ("CROISSANT", "LATTE", 21) in incremental["pairs"]
    async with lifespan.state["sessionmaker"]() as session:
        recounted = await recommendation_counters.recount(db_session=session, client_id=client_id)
        await session.commit()
    assert recounted == len(history()) + 3 + 3
    assert await _snapshot(lifespan, client_id) == incremental


async def test_an_import_with_an_offset_is_stored_and_counted_in_utc(
    client: httpx.AsyncClient, merchant: dict[str, Any], lifespan: RunningApp
) -> None:
    # 08:00 at +02:00 is 06:00 UTC: listed so, and counted at hour 6 (SQLite keeps
    # no offset, so a wall time stored as given would come back two hours late).
    body = {"orders": [order("2026-01-01T08:00:00+02:00", "LATTE", "SCONE")]}
    assert (await client.post(IMPORT, json=body, headers=merchant["headers"])).status_code == 201
    listed = await client.get("/api/v1/voice/orders", headers=merchant["headers"])
    assert listed.json()["data"]["orders"][0]["created_at"] == "2026-01-01T06:00:00Z"
    imported = await _snapshot(lifespan, merchant["client_id"])
    assert (6, "LATTE", 1) in imported["items"]
    async with lifespan.state["sessionmaker"]() as session:
        await recommendation_counters.recount(db_session=session, client_id=merchant["client_id"])
        await session.commit()
    assert await _snapshot(lifespan, merchant["client_id"]) == imported


async def test_a_fold_counts_what_a_recount_counts_at_every_hour(
    lifespan: RunningApp, merchant: dict[str, Any]
) -> None:
    # Stored as the order service stores them (UTC; the trigger queues each), at the
    # edges of hours and days, with one item on two lines and customers or none.
    client_id = merchant["client_id"]
    stored = [
        (datetime(2026, 3, 1, 23, 59, 59, 999999, tzinfo=UTC), ["LATTE", "SCONE"], "c-1"),
        (datetime(2026, 3, 2, 0, 0, tzinfo=UTC), ["LATTE", "LATTE", "MOCHA"], "c-1"),
        (datetime(2026, 3, 2, 0, 30, tzinfo=UTC), ["SCONE", "LATTE"], None),
        (datetime(2026, 3, 2, 13, 5, tzinfo=UTC), ["AMERICANO"], "c-2"),
        (datetime(2026, 3, 3, 13, 55, tzinfo=UTC), ["MOCHA", "SCONE", "LATTE"], None),
    ]
    async with lifespan.state["sessionmaker"]() as session:
        for n, (moment, skus, customer) in enumerate(stored):
            lines = [
                OrderLine(
                    position=i,
                    sku=sku,
                    name=sku,
                    quantity=i + 1,
                    modifiers=["OAT"] if i else [],
                    unit_price_minor=100,
                    line_total_minor=100 * (i + 1),
                )
                for i, sku in enumerate(skus)
            ]
            session.add(
                Order(
                    id=f"ord_fold_{client_id}_{n}",
                    client_id=client_id,
                    customer_id=customer,
                    source="text",
                    transcript=None,
                    unmatched=[],
                    currency="USD",
                    total_minor=sum(line.line_total_minor for line in lines),
                    created_at=moment,
                    lines=lines,
                )
            )
        await session.commit()
    async with lifespan.state["sessionmaker"]() as session:
        await recommendation_counters.fold_all_queued(session, client_id=client_id)
    folded = await _snapshot(lifespan, client_id)
    assert folded["totals"] == [(-1, 5), (0, 2), (13, 2), (23, 1)]
    assert (0, "LATTE", 2) in folded["items"] and (-1, "LATTE", 4) in folded["items"]
    assert ("LATTE", "SCONE", 3) in folded["pairs"] and ("LATTE", "MOCHA", 2) in folded["pairs"]
    assert [row[:2] for row in folded["favourites"]] == [
        ("c-1", "LATTE"), ("c-1", "MOCHA"), ("c-1", "SCONE"), ("c-2", "AMERICANO")
    ]  # fmt: skip
    async with lifespan.state["sessionmaker"]() as session:
        await recommendation_counters.recount(db_session=session, client_id=client_id)
        await session.commit()
    assert await _snapshot(lifespan, client_id) == folded


# -- counting queued orders: each order is queued in its own transaction and folded in


async def _queued(lifespan: RunningApp, client_id: str) -> int:
    async with lifespan.state["sessionmaker"]() as session:
        rows = await session.execute(
            select(RecPendingOrder.order_id).where(RecPendingOrder.client_id == client_id)
        )
        return len(rows.all())


async def _place(client: httpx.AsyncClient, merchant: dict[str, Any], text: str, n: int) -> None:
    for _ in range(n):
        response = await client.post(
            "/api/v1/voice/order",
            json={"text": text, "customer_id": "c-9"},
            headers=merchant["headers"],
        )
        assert response.status_code == 201, response.text


async def test_concurrent_folds_count_every_order_exactly_once(
    lifespan: RunningApp, client: httpx.AsyncClient, shop: dict[str, Any]
) -> None:
    await _place(client, shop, "a latte and a croissant", 12)
    await _place(client, shop, "two mochas and a scone", 12)

    async def fold_in_small_batches() -> None:
        async with lifespan.state["sessionmaker"]() as session:
            while await recommendation_counters.fold_queued(session, limit=3):
                pass

    # Four folders at once (and the worker's own loop): claims must never overlap.
    async with anyio.create_task_group() as folders:
        for _ in range(4):
            folders.start_soon(fold_in_small_batches)
    client_id = shop["client_id"]
    # A folder stops when every order left is claimed by another fold still counting
    # (on PostgreSQL, the worker's loop); a client's fold waits for those to commit.
    async with lifespan.state["sessionmaker"]() as session:
        await recommendation_counters.fold_all_queued(session, client_id=client_id)
    assert await _queued(lifespan, client_id) == 0
    folded = await _snapshot(lifespan, client_id)
    assert ("CROISSANT", "LATTE", 20 + 12) in folded["pairs"]
    async with lifespan.state["sessionmaker"]() as session:
        await recommendation_counters.recount(db_session=session, client_id=client_id)
        await session.commit()
    assert await _snapshot(lifespan, client_id) == folded


async def test_orders_queued_during_a_recount_are_counted_once(
    lifespan: RunningApp, client: httpx.AsyncClient, shop: dict[str, Any]
) -> None:
    await _place(client, shop, "a latte and a croissant", 5)
    client_id = shop["client_id"]
    async with lifespan.state["sessionmaker"]() as session:
        recounted = await recommendation_counters.recount(db_session=session, client_id=client_id)
        await session.commit()
        assert recounted == len(history()) + 5
        assert await recommendation_counters.fold_all_queued(session, client_id=client_id) == 0
    assert ("CROISSANT", "LATTE", 25) in (await _snapshot(lifespan, client_id))["pairs"]


async def test_a_recommendation_counts_the_orders_stored_before_it(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    await _place(client, merchant, "a scone and an americano", 3)
    data = await ask(client, merchant, items=["SCONE"], customer_id="c-9")
    first = data["recommendations"][0]
    # Counted: the customer's favourite, not the equal-scored "popular" of no history.
    assert (first["sku"], first["reason"]) == ("AMERICANO", "customer_favorite")
    assert data["usual_order"]["items"] == [
        {"sku": "AMERICANO", "quantity": 1, "modifiers": []},
        {"sku": "SCONE", "quantity": 1, "modifiers": []},
    ]


async def test_the_fold_loop_waits_out_a_database_outage_and_then_counts(
    lifespan: RunningApp, client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    await _place(client, merchant, "a latte and a croissant", 2)
    real = lifespan.state["sessionmaker"]
    tries: list[float] = []

    def flaky_sessionmaker() -> Any:
        tries.append(time.monotonic())
        if len(tries) <= 3:
            raise ConnectionRefusedError("database away")
        return real()

    with anyio.fail_after(10):
        async with anyio.create_task_group() as loop:
            loop.start_soon(recommendation_counters.fold_continuously, flaky_sessionmaker, 0.01)
            while len(tries) < 5 or await _queued(lifespan, merchant["client_id"]):
                await anyio.sleep(0.01)
            loop.cancel_scope.cancel()
    # The loop survived three failed tries, waiting twice as long after each.
    waits = [later - earlier for earlier, later in itertools.pairwise(tries)]
    assert waits[0] >= 0.02 and waits[1] >= 0.04 and waits[2] >= 0.08
    pairs = (await _snapshot(lifespan, merchant["client_id"]))["pairs"]
    assert ("CROISSANT", "LATTE", 2) in pairs


async def test_a_recommendation_waits_for_a_fold_in_flight(
    lifespan: RunningApp, client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    # A fold that has claimed the client's orders but not committed yet: the
    # recommendation must wait for it rather than read counters that lack them.
    async with lifespan.state["sessionmaker"]() as folding:
        claimed: list[str] = []
        for _ in range(5):  # the worker's own loop may claim an order first: place another
            await _place(client, merchant, "a scone and an americano", 1)
            claimed = await recommendation_counters._claim(folding, merchant["client_id"], 500)
            if claimed:
                break
        assert claimed
        asking = asyncio.create_task(ask(client, merchant, items=["SCONE"], customer_id="c-9"))
        await asyncio.sleep(0.3)
        assert not asking.done()
        await recommendation_counters._count_claimed(folding, claimed)
        await folding.commit()
    data = await asking
    first = data["recommendations"][0]
    assert (first["sku"], first["reason"]) == ("AMERICANO", "customer_favorite")
