"""An order session continued through two server processes on one PostgreSQL: turn by
turn alternating between them, then turns sent to both at once, then a confirm."""

import concurrent.futures
import json
from contextlib import ExitStack
from pathlib import Path

import httpx

from src.platform.db.migrate import upgrade
from tests.conftest import DATA, POSTGRES_URL, require_service
from tests.processes import bearer, create_credentials, prod_env, prod_server


def test_a_session_continues_on_another_process(tmp_path: Path) -> None:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    upgrade(POSTGRES_URL)
    with ExitStack() as stack:
        servers = []
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            env = prod_env(tmp_path / name, POSTGRES_URL, WEB_CONCURRENCY="1")
            servers.append(stack.enter_context(prod_server(tmp_path / name, env)))
        a, b = servers
        creds = create_credentials(a.env, "two processes")
        headers = bearer(a.api, creds)
        catalog = json.loads((DATA / "cafe_catalog.json").read_text())
        httpx.put(a.api + "/voice/catalog", json=catalog, headers=headers).raise_for_status()
        started = httpx.post(a.api + "/voice/sessions", json={}, headers=headers)
        session = started.json()["data"]["session_id"]

        def turn(api: str, text: str) -> httpx.Response:
            return httpx.post(
                f"{api}/voice/sessions/{session}/turns",
                json={"text": text},
                headers=headers,
                timeout=30,
            )

        script = [
            (a, "two lattes and a scone", [("LATTE", 2), ("SCONE", 1)]),
            (b, "make the lattes large", [("LATTE", 2), ("SCONE", 1)]),
            (a, "one more latte", [("LATTE", 3), ("SCONE", 1)]),
            (b, "swap the scone for a brownie", [("LATTE", 3), ("BROWNIE", 1)]),
        ]
        for server, text, expected in script:
            response = turn(server.api, text)
            assert response.status_code == 200, response.text
            lines = response.json()["data"]["session"]["cart"]["lines"]
            assert [(ln["sku"], ln["quantity"]) for ln in lines] == expected, text
        assert lines[0]["modifiers"] == ["LARGE"]
        # Ten more at once, half on each process: every one applies, one at a time.
        with concurrent.futures.ThreadPoolExecutor(10) as pool:
            answers = list(
                pool.map(lambda n: turn((a, b)[n % 2].api, "one more brownie"), range(10))
            )
        assert [r.status_code for r in answers] == [200] * 10
        assert sorted(r.json()["data"]["session"]["version"] for r in answers) == list(range(6, 16))
        confirmed = httpx.post(f"{b.api}/voice/sessions/{session}/confirm", headers=headers)
        assert confirmed.status_code == 201, confirmed.text
        items = {i["sku"]: i["quantity"] for i in confirmed.json()["data"]["items"]}
        assert items == {"LATTE": 3, "BROWNIE": 11}
        seen = httpx.get(f"{a.api}/voice/sessions/{session}", headers=headers).json()["data"]
        assert seen["status"] == "confirmed" and seen["version"] == 16
