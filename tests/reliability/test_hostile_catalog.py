"""One tenant's hostile catalog and order do not stall another tenant.

The largest catalog the limits allow (20,000 names and aliases of 10 words each)
and an order of 2,000 characters that match none of them: each spelling-tolerant
lookup scores only the few dozen phrases the catalog's trigram index finds
(catalog.candidates), the parse is bounded (parser.FUZZY_COMPARISON_BUDGET), and it
runs off the event loop, so another tenant's request meanwhile is answered as usual.
"""

import asyncio
import gc
import time
from typing import Any

import httpx
import pytest

from src.voice.catalog.candidates import CANDIDATES_PER_LOOKUP
from src.voice.catalog.index import CatalogIndex
from src.voice.orders import parser
from src.voice.orders.parser import parse_order
from tests.bench.parser_bench import hostile_catalog, unknown_words
from tests.conftest import RunningApp, assert_envelope_error, create_api_client, token_for

pytestmark = pytest.mark.anyio


def test_the_parse_spends_no_more_than_its_budget() -> None:
    catalog = hostile_catalog()
    index = CatalogIndex.build([(i["sku"], i["name"], i["aliases"]) for i in catalog["items"]], [])
    looked_up: list[int] = []

    class Counting(CatalogIndex):
        def fuzzy(self, keys: list[str], start: int, **kwargs: Any) -> Any:
            looked_up.append(start)
            return super().fuzzy(keys, start, **kwargs)

    counting = Counting(**{f: getattr(index, f) for f in index.__dataclass_fields__})
    result = parse_order(unknown_words(), counting)
    assert not result.lines
    # One lookup scores the index's candidates for each window, not 20,000 phrases.
    assert index.comparisons_per_lookup <= CANDIDATES_PER_LOOKUP
    per_lookup = (index.max_length + 3) * index.comparisons_per_lookup
    assert 0 < len(looked_up) <= parser.FUZZY_COMPARISON_BUDGET // per_lookup
    # Every unknown word was looked up: the budget no longer cuts a big catalog short.
    assert len(looked_up) >= len(unknown_words().split()) // 2


async def test_limits_name_what_is_too_big(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    catalog = hostile_catalog()
    catalog["items"][0]["aliases"] = ["one two three four five six seven eight nine ten eleven"]
    response = await client.put("/api/v1/voice/catalog", json=catalog, headers=merchant["headers"])
    errors = assert_envelope_error(response, 422, "VALIDATION_ERROR")["errors"]
    assert any("at most 10 words" in e["msg"] for e in errors)
    catalog = hostile_catalog()
    catalog["items"][0]["aliases"].append("one more")
    response = await client.put("/api/v1/voice/catalog", json=catalog, headers=merchant["headers"])
    errors = assert_envelope_error(response, 422, "VALIDATION_ERROR")["errors"]
    assert any("20001 names and aliases" in e["msg"] for e in errors)


async def test_a_hostile_tenant_does_not_delay_another(
    lifespan: RunningApp, client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    hostile = {
        "Authorization": "Bearer "
        + (await token_for(client, await create_api_client(lifespan, "hostile")))["access_token"]
    }
    put = await client.put("/api/v1/voice/catalog", json=hostile_catalog(), headers=hostile)
    assert put.status_code == 200, put.text
    # The test process holds the whole suite's heap: a full collection of it (a pause
    # of its own, 200+ ms, that a production worker with its frozen startup heap does
    # not have) must not fall inside the measurement.
    gc.collect()
    gc.disable()
    try:
        await _measure(client, hostile, merchant)
    finally:
        gc.enable()


async def _measure(
    client: httpx.AsyncClient, hostile: dict[str, str], merchant: dict[str, Any]
) -> None:
    delays: list[float] = []

    async def other_tenant(until: asyncio.Task[Any]) -> None:
        while not until.done():
            started = time.perf_counter()
            response = await client.get("/api/v1/voice/catalog", headers=merchant["headers"])
            delays.append(time.perf_counter() - started)
            assert response.status_code == 200
            # Every 50 ms: a stall of the loop still shows, and the other tenant stays
            # under its own rate limit (600/minute) however long the hostile order
            # takes (every 10 ms, 7.7 s of it sent about 600 and met 429 once in CI).
            await asyncio.sleep(0.05)

    # The same requests with nobody else busy: what "no delay" looks like here.
    quiet = asyncio.create_task(asyncio.sleep(0.6))
    await other_tenant(quiet)
    usual = max(delays)
    # The first order also builds the hostile catalog's index; the second parses only.
    took, worst = [], []
    for _ in range(2):
        delays.clear()
        started = time.perf_counter()
        order = asyncio.create_task(
            client.post("/api/v1/voice/order", json={"text": unknown_words()}, headers=hostile)
        )
        await other_tenant(order)
        assert (await order).status_code in (201, 422)
        took.append(time.perf_counter() - started)
        assert len(delays) >= 3
        worst.append(max(delays))
    print(
        f"\nFIGURE hostile order (20,000 phrases, 2,000 characters unmatched): "
        f"{took[0]:.2f} s with the index build, {took[1]:.2f} s parse only; the other "
        f"tenant's GET /catalog meanwhile took at most {worst[0] * 1000:.0f} ms during the "
        f"build and {worst[1] * 1000:.0f} ms during the parse ({usual * 1000:.0f} ms alone)"
    )
    # Both run in a worker thread that hands the GIL back now and then. Alone this
    # test sees 4-41 ms; inside the whole suite the app's background folds of every
    # earlier test's queued orders share the event loop too (seen: up to 171 ms on
    # PostgreSQL), so the bound is what the hostile tenant must never come near:
    # the 49 s stall this test was written against.
    assert worst[1] < usual + 0.25
    assert worst[0] < usual + 0.25
