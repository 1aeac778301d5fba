"""Three instances (gunicorn, 2 workers each) behind haproxy, on one PostgreSQL and one
Redis: the rate limit stays exact across instances, an order session's turns land on
different instances and end with the right cart, an Idempotency-Key retried on another
instance replays the first answer, and an instance SIGKILLed under load loses no order
that was answered 201 and stores none twice, while its failing readiness takes it out
of the balancer."""

import concurrent.futures
import json
import os
import signal
import threading
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import httpx

from src.platform.db.migrate import upgrade
from tests.conftest import DATA, POSTGRES_URL, require_service
from tests.processes import (
    ProdServer,
    answers,
    create_api_key,
    create_credentials,
    haproxy,
    private_redis,
    prod_env,
    prod_server,
    served_by,
    wait_for,
)

SHORT = os.environ.get("CI") == "true"
RATE_LIMIT = 1000  # per client per minute, on every instance
ORDERS_PER_CLIENT = 40 if SHORT else 150
TEXTS = ("two lattes", "a scone and a flat white", "three croissants", "a large mocha")


def _merchant(env: dict[str, str], api: str, name: str) -> dict[str, str]:
    key = create_api_key(env, create_credentials(env, name)["secret_id"])
    headers = {"Authorization": f"Bearer {key}"}
    catalog = json.loads((DATA / "cafe_catalog.json").read_text())
    httpx.put(api + "/voice/catalog", json=catalog, headers=headers, timeout=30).raise_for_status()
    return headers


def _order_until_stored(
    api: str, headers: dict[str, str], key: str, text: str, deadline: float
) -> tuple[str, str, int]:
    """POST one order with its Idempotency-Key until it is answered 201, as a till
    retries: (order id, the instance that answered, attempts)."""
    attempts = 0
    with httpx.Client(timeout=30) as http:
        while time.monotonic() < deadline:
            attempts += 1
            try:
                response = http.post(
                    api + "/voice/order", json={"text": text},
                    headers={**headers, "Idempotency-Key": key},
                )  # fmt: skip
            except httpx.HTTPError:
                time.sleep(0.1)
                continue
            if response.status_code == 201:
                data = response.json()["data"]
                return data["order_id"], response.headers["x-served-by"], attempts
            # 409 IDEMPOTENCY_KEY_IN_USE (the first try died with its instance), 502/503.
            assert response.status_code in (409, 502, 503), response.text
            time.sleep(0.2)
    raise AssertionError(f"order {key} never stored")


def _stored_orders(api: str, headers: dict[str, str]) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        params = {"limit": "100", **({"cursor": cursor} if cursor else {})}
        page = httpx.get(api + "/voice/orders", params=params, headers=headers, timeout=30)
        page.raise_for_status()
        data = page.json()["data"]
        ids += [order["order_id"] for order in data["orders"]]
        cursor = data["next_cursor"]
        if not cursor:
            return ids


def test_three_instances_behind_haproxy(tmp_path: Path) -> None:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    upgrade(POSTGRES_URL)
    with ExitStack() as stack:
        redis = stack.enter_context(private_redis())
        servers: dict[str, ProdServer] = {}
        for name in ("a", "b", "c"):
            (tmp_path / name).mkdir()
            env = prod_env(
                tmp_path / name, POSTGRES_URL,
                RATE_LIMIT_STORAGE_URI=redis.url, RATE_LIMIT_DEFAULT=f"{RATE_LIMIT}/minute",
                IDEMPOTENCY_LOCK_SECONDS="3", DATABASE_POOL_SIZE="3",
            )  # fmt: skip
            servers[name] = stack.enter_context(prod_server(tmp_path / name, env))
        env = servers["a"].env
        backends = {name: server.base for name, server in servers.items()}
        api = stack.enter_context(haproxy(tmp_path, backends)) + "/api/v1"

        # -- the rate limit is one budget across the instances -------------------------
        limited = _merchant(env, api, "one budget")
        calls = RATE_LIMIT + 100 - 1  # the catalog upload counted one already

        def catalog_read(_: int) -> tuple[int, str]:
            response = httpx.get(api + "/voice/catalog", headers=limited, timeout=30)
            return response.status_code, response.headers.get("x-served-by", "?")

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            reads = list(pool.map(catalog_read, range(calls)))
        statuses = Counter(status for status, _ in reads)
        assert statuses == {200: RATE_LIMIT - 1, 429: 100}, statuses
        assert {instance for _, instance in reads} == {"a", "b", "c"}

        # -- an order session's turns on different instances ---------------------------
        shop = _merchant(env, api, "session shop")
        session = httpx.post(api + "/voice/sessions", json={}, headers=shop).json()["data"]
        served = set()
        for text in ("two lattes and a scone", "make the lattes large", "one more latte",
                     "swap the scone for a brownie"):  # fmt: skip
            turn = httpx.post(
                f"{api}/voice/sessions/{session['session_id']}/turns",
                json={"text": text}, headers=shop, timeout=30,
            )  # fmt: skip
            assert turn.status_code == 200, turn.text
            served.add(turn.headers["x-served-by"])
        lines = turn.json()["data"]["session"]["cart"]["lines"]
        assert [(ln["sku"], ln["quantity"], ln["modifiers"]) for ln in lines] == [
            ("LATTE", 3, ["LARGE"]),
            ("BROWNIE", 1, []),
        ]
        assert len(served) >= 2, served

        # -- an Idempotency-Key retried on another instance replays the first answer ---
        body = {"text": "a cappuccino and a muffin"}
        first = httpx.post(
            servers["a"].api + "/voice/order", json=body,
            headers={**shop, "Idempotency-Key": "till-7-0001"}, timeout=30,
        )  # fmt: skip
        retried = httpx.post(
            servers["b"].api + "/voice/order", json=body,
            headers={**shop, "Idempotency-Key": "till-7-0001"}, timeout=30,
        )  # fmt: skip
        assert first.status_code == retried.status_code == 201
        assert retried.headers["idempotent-replayed"] == "true"
        assert retried.content == first.content

        # -- one instance SIGKILLed under load -----------------------------------------
        tills = [_merchant(env, api, f"till {n}") for n in range(3)]
        jobs = [
            (headers, f"till-{n}-{i:04d}", TEXTS[i % len(TEXTS)])
            for n, headers in enumerate(tills)
            for i in range(ORDERS_PER_CLIENT)
        ]
        answered: dict[str, tuple[str, str, int]] = {}
        lock = threading.Lock()
        deadline = time.monotonic() + 240

        def place(job: tuple[dict[str, str], str, str]) -> None:
            headers, key, text = job
            result = _order_until_stored(api, headers, key, text, deadline)
            with lock:
                answered[key] = result

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(place, job) for job in jobs]
            wait_for(lambda: len(answered) >= len(jobs) // 3, timeout=120)
            killed_at = len(answered)
            os.killpg(servers["c"].process.pid, signal.SIGKILL)
            for future in futures:
                future.result()
        # Every order answered 201 is stored, once: one stored order per key.
        stored = [order for headers in tills for order in _stored_orders(api, headers)]
        assert sorted(stored) == sorted(order for order, _, _ in answered.values())
        assert len(set(stored)) == len(jobs)
        by_instance = Counter(instance for _, instance, _ in answered.values())
        retried = sum(1 for _, _, attempts in answered.values() if attempts > 1)
        print(
            f"\nFIGURE scale-out: {len(jobs)} orders through haproxy, instance c SIGKILLed "
            f"after {killed_at}; answered by {dict(by_instance)}; {retried} retried by the "
            f"till after a 502/409; stored {len(stored)}, none lost, none twice"
        )
        # Its readiness failing, the killed instance is out of the balancer.
        assert served_by(api + "/healthcheck", 12) == {"a", "b"}
        assert not answers(servers["c"].api + "/readiness")
