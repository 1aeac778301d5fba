"""Order sessions through the API: the cart over turns, confirm, cancel, availability,
version checks, isolation, concurrency and bad input (both backends)."""

import asyncio
import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from src.config import Settings
from src.platform.db.engine import create_engine, create_sessionmaker
from src.voice.sessions.models import OrderSession
from tests.conftest import (
    DATA,
    RunningApp,
    assert_envelope_error,
    create_api_client,
    other_app,
    token_for,
)

pytestmark = pytest.mark.anyio
BASE = "/api/v1/voice/sessions"


async def _start(client: httpx.AsyncClient, merchant: dict[str, Any], **body: Any) -> str:
    response = await client.post(
        BASE, json=body or {"channel": "kiosk"}, headers=merchant["headers"]
    )
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert data["status"] == "open" and data["version"] == 1 and data["cart"]["lines"] == []
    return str(data["session_id"])


async def _turn(
    client: httpx.AsyncClient, merchant: dict[str, Any], session_id: str, text: str, **headers: str
) -> httpx.Response:
    return await client.post(
        f"{BASE}/{session_id}/turns",
        json={"text": text},
        headers={**merchant["headers"], **headers},
    )


def _cart(response: httpx.Response) -> list[tuple[str, int, list[str]]]:
    lines = response.json()["data"]["session"]["cart"]["lines"]
    return [(line["sku"], line["quantity"], line["modifiers"]) for line in lines]


async def test_a_session_from_first_words_to_stored_order(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    session_id = await _start(client, merchant, customer_id="c-42", channel="counter")
    first = await _turn(client, merchant, session_id, "two lattes and a blueberry muffin")
    assert _cart(first) == [("LATTE", 2, []), ("BLUEBERRY_MUFFIN", 1, [])]
    second = await _turn(client, merchant, session_id, "make the lattes large")
    third = await _turn(client, merchant, session_id, "remove the muffin, that's all")
    data = third.json()["data"]
    assert _cart(third) == [("LATTE", 2, ["LARGE"])]
    assert data["turn"]["done"] is True
    assert data["turn"]["actions"] == [{"op": "remove", "line_id": "l2", "sku": "BLUEBERRY_MUFFIN"}]
    session = data["session"]
    assert session["version"] == 4 and third.headers["etag"] == '"4"'
    assert session["cart"]["total"] == session["cart"]["lines"][0]["line_total"]
    assert session["readback"] == f"Two large lattes. That's {session['cart']['total']}."
    assert second.json()["data"]["turn"]["actions"][0]["op"] == "set_modifiers"

    confirmed = await client.post(
        f"{BASE}/{session_id}/confirm", headers={**merchant["headers"], "Idempotency-Key": "k1"}
    )
    assert confirmed.status_code == 201, confirmed.text
    order = confirmed.json()["data"]
    assert order["session_id"] == session_id and order["customer_id"] == "c-42"
    assert [(i["sku"], i["quantity"], i["modifiers"]) for i in order["items"]] == [
        ("LATTE", 2, ["LARGE"])
    ]
    assert order["total"] == session["cart"]["total"]
    stored = await client.get(
        f"/api/v1/voice/orders/{order['order_id']}", headers=merchant["headers"]
    )
    assert stored.json()["data"]["items"] == order["items"]
    replay = await client.post(
        f"{BASE}/{session_id}/confirm", headers={**merchant["headers"], "Idempotency-Key": "k1"}
    )
    assert replay.content == confirmed.content
    after = await client.get(f"{BASE}/{session_id}", headers=merchant["headers"])
    assert after.json()["data"]["status"] == "confirmed"
    assert after.json()["data"]["order_id"] == order["order_id"]
    closed = await _turn(client, merchant, session_id, "and a scone")
    assert_envelope_error(closed, 409, "SESSION_CLOSED")
    again = await client.post(f"{BASE}/{session_id}/confirm", headers=merchant["headers"])
    assert_envelope_error(again, 409, "SESSION_CLOSED")


async def test_confirm_of_an_empty_cart_and_cancel(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    session_id = await _start(client, merchant)
    empty = await client.post(f"{BASE}/{session_id}/confirm", headers=merchant["headers"])
    assert_envelope_error(empty, 422, "CART_EMPTY")
    cancelled = await client.delete(f"{BASE}/{session_id}", headers=merchant["headers"])
    assert cancelled.json()["data"]["status"] == "cancelled"
    twice = await client.delete(f"{BASE}/{session_id}", headers=merchant["headers"])
    assert_envelope_error(twice, 409, "SESSION_CLOSED")


async def test_if_match_rejects_a_stale_version_and_changes_nothing(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    session_id = await _start(client, merchant)
    ok = await _turn(client, merchant, session_id, "a latte", **{"If-Match": '"1"'})
    assert ok.status_code == 200
    stale = await _turn(client, merchant, session_id, "a scone", **{"If-Match": '"1"'})
    data = assert_envelope_error(stale, 412, "SESSION_VERSION_MISMATCH")
    assert data["version"] == 2
    bad = await _turn(client, merchant, session_id, "a scone", **{"If-Match": "yesterday"})
    assert_envelope_error(bad, 422, "VALIDATION_ERROR")
    now = await client.get(f"{BASE}/{session_id}", headers=merchant["headers"])
    assert now.json()["data"]["version"] == 2
    assert [line["sku"] for line in now.json()["data"]["cart"]["lines"]] == ["LATTE"]


@pytest.mark.parametrize(
    "body",
    [
        {"text": ""},
        {"text": "   "},
        {"text": "latte " * 10_000},
        {},
        {"text": "a", "audio": "AA=="},
    ],
)
async def test_bad_turns_are_clear_errors_and_change_nothing(
    client: httpx.AsyncClient, merchant: dict[str, Any], body: dict[str, Any]
) -> None:
    session_id = await _start(client, merchant)
    response = await client.post(
        f"{BASE}/{session_id}/turns", json=body, headers=merchant["headers"]
    )
    assert_envelope_error(response, 422, "VALIDATION_ERROR")
    now = await client.get(f"{BASE}/{session_id}", headers=merchant["headers"])
    assert now.json()["data"]["version"] == 1


async def test_another_clients_session_is_not_found_everywhere(
    client: httpx.AsyncClient, merchant: dict[str, Any], lifespan: RunningApp
) -> None:
    session_id = await _start(client, merchant)
    other = await token_for(client, await create_api_client(lifespan, "other shop"))
    headers = {"Authorization": f"Bearer {other['access_token']}"}
    for method, path, body in [
        ("GET", f"{BASE}/{session_id}", None),
        ("POST", f"{BASE}/{session_id}/turns", {"text": "a latte"}),
        ("POST", f"{BASE}/{session_id}/confirm", None),
        ("DELETE", f"{BASE}/{session_id}", None),
        ("GET", f"{BASE}/ses_unknown", None),
    ]:
        response = await client.request(method, path, json=body, headers=headers)
        # The other client has no catalog: a turn is refused before the session is looked
        # up only by the catalog check, which is its own, not the session's.
        if response.status_code == 422:
            continue
        assert_envelope_error(response, 404, "NOT_FOUND")
    unknown = await client.get(f"{BASE}/ses_unknown", headers=merchant["headers"])
    assert_envelope_error(unknown, 404, "NOT_FOUND")
    mine = await client.get(f"{BASE}/{session_id}", headers=merchant["headers"])
    assert mine.json()["data"]["version"] == 1


async def test_twenty_concurrent_turns_all_apply_once(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    session_id = await _start(client, merchant)
    responses = await asyncio.gather(
        *(
            _turn(client, merchant, session_id, "one more latte" if n else "a latte")
            for n in range(20)
        )
    )
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    final = await client.get(f"{BASE}/{session_id}", headers=merchant["headers"])
    data = final.json()["data"]
    assert data["version"] == 21
    # Each turn saw its predecessor's cart: one latte, then one more, nineteen times.
    assert [(ln["sku"], ln["quantity"]) for ln in data["cart"]["lines"]] == [("LATTE", 20)]
    versions = sorted(r.json()["data"]["session"]["version"] for r in responses)
    assert versions == list(range(2, 22))


async def test_confirm_racing_turns_includes_them_or_refuses_them(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    session_id = await _start(client, merchant)
    await _turn(client, merchant, session_id, "a latte")
    results = await asyncio.gather(
        *(_turn(client, merchant, session_id, "one more latte") for _ in range(5)),
        client.post(f"{BASE}/{session_id}/confirm", headers=merchant["headers"]),
        *(_turn(client, merchant, session_id, "one more latte") for _ in range(5)),
    )
    confirm = results[5]
    assert confirm.status_code == 201
    applied = [r for r in results[:5] + results[6:] if r.status_code == 200]
    refused = [r for r in results[:5] + results[6:] if r.status_code != 200]
    assert all(r.json()["msg"] == "SESSION_CLOSED" for r in refused)
    assert confirm.json()["data"]["items"][0]["quantity"] == 1 + len(applied)


async def test_two_confirms_with_one_key_make_one_order(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    session_id = await _start(client, merchant)
    await _turn(client, merchant, session_id, "a latte")
    headers = {**merchant["headers"], "Idempotency-Key": "confirm-once"}
    first, second = await asyncio.gather(
        client.post(f"{BASE}/{session_id}/confirm", headers=headers),
        client.post(f"{BASE}/{session_id}/confirm", headers=headers),
    )
    statuses = sorted([first.status_code, second.status_code])
    assert statuses in ([201, 201], [201, 409]), [first.text, second.text]
    orders = await client.get("/api/v1/voice/orders", headers=merchant["headers"])
    assert [o["session_id"] for o in orders.json()["data"]["orders"]] == [session_id]


async def test_sold_out_items_are_never_ordered(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    session_id = await _start(client, merchant)
    await _turn(client, merchant, session_id, "a latte and a blueberry muffin")
    patched = await client.patch(
        "/api/v1/voice/catalog/items/BLUEBERRY_MUFFIN",
        json={"available": False},
        headers=merchant["headers"],
    )
    assert patched.json()["data"] == {"sku": "BLUEBERRY_MUFFIN", "available": False, "version": 2}
    catalog = await client.get("/api/v1/voice/catalog", headers=merchant["headers"])
    muffin = next(i for i in catalog.json()["data"]["items"] if i["sku"] == "BLUEBERRY_MUFFIN")
    assert muffin["available"] is False
    # Sold out after it was added: the confirm lists the line.
    refused = await client.post(f"{BASE}/{session_id}/confirm", headers=merchant["headers"])
    data = assert_envelope_error(refused, 409, "ITEM_UNAVAILABLE")
    assert [line["sku"] for line in data["lines"]] == ["BLUEBERRY_MUFFIN"]
    # A turn asking for it does not add it, and the read-back says so.
    asked = await _turn(client, merchant, session_id, "another blueberry muffin and a scone")
    turn = asked.json()["data"]["turn"]
    assert turn["unavailable"] == ["Blueberry Muffin"]
    assert asked.json()["data"]["session"]["readback"].startswith(
        "Sorry, the blueberry muffin is sold out."
    )
    # A one-shot order never stores it either.
    order = await client.post(
        "/api/v1/voice/order",
        json={"text": "a blueberry muffin and a latte"},
        headers=merchant["headers"],
    )
    assert [i["sku"] for i in order.json()["data"]["items"]] == ["LATTE"]
    assert "a blueberry muffin" in order.json()["data"]["unmatched"]
    missing = await client.patch(
        "/api/v1/voice/catalog/items/NOPE", json={"available": False}, headers=merchant["headers"]
    )
    assert_envelope_error(missing, 404, "NOT_FOUND")


async def test_an_idle_session_expires(settings: Settings, merchant: dict[str, Any]) -> None:
    async with other_app(settings, SESSION_TTL_SECONDS=10) as client:
        session_id = await _start(client, merchant)
        await _turn(client, merchant, session_id, "a latte")
        # Time passes: the session's deadline is moved into the past.
        engine = create_engine(settings)
        async with create_sessionmaker(engine)() as db:
            await db.execute(
                update(OrderSession)
                .where(OrderSession.id == session_id)
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
            await db.commit()
        await engine.dispose()
        seen = await client.get(f"{BASE}/{session_id}", headers=merchant["headers"])
        assert seen.json()["data"]["status"] == "expired"
        late = await _turn(client, merchant, session_id, "and a scone")
        assert_envelope_error(late, 409, "SESSION_CLOSED")
        assert_envelope_error(
            await client.post(f"{BASE}/{session_id}/confirm", headers=merchant["headers"]),
            409,
            "SESSION_CLOSED",
        )


async def test_a_spoken_turn_is_heard_and_applied(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    session_id = await _start(client, merchant)
    await _turn(client, merchant, session_id, "a medium earl grey")
    audio = base64.b64encode((DATA / "audio" / "cafe-009.flac").read_bytes()).decode()
    response = await client.post(
        f"{BASE}/{session_id}/turns", json={"audio": audio}, headers=merchant["headers"]
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert "chocolate" in data["turn"]["transcript"].lower()
    assert sorted(_cart(response)) == [("EARL_GREY", 1, ["MEDIUM"]), ("HOT_CHOCOLATE", 2, [])]
    turns = await client.get(f"{BASE}/{session_id}", headers=merchant["headers"])
    assert turns.json()["data"]["version"] == 3
