"""CORS in a real browser: headless Chromium (Debian's `chromium`, driven by Playwright)
on a page from another origin gets a token, places an order, replays it, and reads the
headers the API exposes; a page from an origin not allowed is refused."""

import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from src.platform.db.migrate import upgrade
from tests.conftest import DATA
from tests.processes import bearer, create_credentials, free_port, prod_env, prod_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

PAGE = """<!doctype html><html><body><script>
async function order(api, login) {
  const token = await fetch(api + "/auth/token", {method: "POST",
    headers: {"Content-Type": "application/json"}, body: JSON.stringify(login)});
  const access = (await token.json()).data.access_token;
  const send = () => fetch(api + "/voice/order", {method: "POST",
    headers: {"Content-Type": "application/json", "Authorization": "Bearer " + access,
              "Idempotency-Key": "browser-order-1"},
    body: JSON.stringify({text: "two lattes and a croissant"})});
  const first = await send();
  const again = await send();
  return {status: first.status, order: (await first.json()).data.order_id,
          replayStatus: again.status, replayOrder: (await again.json()).data.order_id,
          replayed: again.headers.get("idempotent-replayed"),
          requestId: first.headers.get("x-request-id"),
          limit: first.headers.get("x-ratelimit-limit")};
}
</script></body></html>"""


@contextmanager
def _page_server(directory: Path) -> Iterator[str]:
    """A static page on an origin of its own."""
    (directory / "index.html").write_text(PAGE)
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(  # noqa: E731
        *a, directory=str(directory)
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_a_browser_on_another_origin_orders_and_reads_the_exposed_headers(
    tmp_path: Path,
) -> None:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs it with apt)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    (tmp_path / "allowed").mkdir()
    (tmp_path / "other").mkdir()
    with (
        _page_server(tmp_path / "allowed") as allowed,
        _page_server(tmp_path / "other") as other,
    ):
        database = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
        upgrade(database)
        env = prod_env(tmp_path, database, CORS_ORIGINS=allowed, WEB_CONCURRENCY="1")
        with prod_server(tmp_path, env) as server:
            creds = create_credentials(env, "browser shop")
            catalog = (DATA / "cafe_catalog.json").read_text()
            httpx.put(
                server.api + "/voice/catalog",
                content=catalog,
                headers={**bearer(server.api, creds), "content-type": "application/json"},
            ).raise_for_status()
            login = {"secret_id": creds["secret_id"], "secret_key": creds["secret_key"]}
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
                try:
                    page = browser.new_page()
                    page.goto(allowed + "/index.html")
                    seen: dict[str, Any] = page.evaluate(
                        "([api, login]) => order(api, login)", [server.api, login]
                    )
                    assert seen["status"] == 201 and seen["replayStatus"] == 201, seen
                    assert seen["replayOrder"] == seen["order"]
                    assert seen["replayed"] == "true"
                    assert seen["requestId"] and len(seen["requestId"]) >= 16
                    assert seen["limit"] is not None
                    # The same page from an origin not in CORS_ORIGINS: the browser refuses.
                    page.goto(other + "/index.html")
                    refused = page.evaluate(
                        "([api, login]) => order(api, login).then(() => 'read', e => e.name)",
                        [server.api, login],
                    )
                    assert refused == "TypeError"
                finally:
                    browser.close()
