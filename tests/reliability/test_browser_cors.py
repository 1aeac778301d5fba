"""CORS in a real browser: headless Chromium (Debian's `chromium`, driven by Playwright)
on a page from another origin gets a token, places an order, replays it, reads the
headers the API exposes, and transcribes a clip with the headers OpenAI's JavaScript
SDK sends (X-Stainless-*) and an API key; a page from an origin not allowed is refused."""

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
from tests.processes import (
    answers,
    bearer,
    create_api_key,
    create_credentials,
    free_port,
    prod_env,
    prod_server,
    wait_for,
)

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
// What the official OpenAI JavaScript SDK sends with every request (openai-node).
const STAINLESS = {"X-Stainless-Lang": "js", "X-Stainless-Package-Version": "5.0.0",
  "X-Stainless-OS": "Linux", "X-Stainless-Arch": "x64", "X-Stainless-Runtime": "browser:chrome",
  "X-Stainless-Runtime-Version": "120.0.0", "X-Stainless-Retry-Count": "0",
  "X-Stainless-Timeout": "600"};
async function transcribe(api, key) {
  const form = new FormData();
  form.append("file", await (await fetch("clip.flac")).blob(), "clip.flac");
  form.append("model", "whisper-1");
  const send = (bearer) => fetch(api + "/audio/transcriptions", {method: "POST",
    headers: {...STAINLESS, "Authorization": "Bearer " + bearer}, body: form});
  const ok = await send(key);
  const refused = await send("vk_" + "x".repeat(43));
  return {status: ok.status, text: (await ok.json()).text,
          refusedStatus: refused.status, refusedCode: (await refused.json()).error.code,
          shouldRetry: refused.headers.get("x-should-retry")};
}
</script></body></html>"""


@contextmanager
def _page_server(directory: Path) -> Iterator[str]:
    """A static page on an origin of its own, with a spoken order beside it."""
    (directory / "index.html").write_text(PAGE)
    (directory / "clip.flac").write_bytes((DATA / "audio" / "cafe-022.flac").read_bytes())
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(  # noqa: E731
        *a, directory=str(directory)
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_a_browser_on_another_origin_orders_transcribes_and_reads_the_exposed_headers(
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
        env = prod_env(
            tmp_path, database, CORS_ORIGINS=allowed, WEB_CONCURRENCY="1", ASR_PRELOAD="true"
        )
        with prod_server(tmp_path, env) as server:
            wait_for(lambda: answers(server.api + "/readiness"), timeout=120)
            creds = create_credentials(env, "browser shop")
            catalog = (DATA / "cafe_catalog.json").read_text()
            httpx.put(
                server.api + "/voice/catalog",
                content=catalog,
                headers={**bearer(server.api, creds), "content-type": "application/json"},
            ).raise_for_status()
            login = {"secret_id": creds["secret_id"], "secret_key": creds["secret_key"]}
            api_key = create_api_key(env, creds["secret_id"])
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
                    # OpenAI's SDK headers (X-Stainless-*) pass the preflight, with a key.
                    heard = page.evaluate(
                        "([api, key]) => transcribe(api, key)", [server.api, api_key]
                    )
                    assert heard["status"] == 200 and "grey" in heard["text"].lower(), heard
                    assert heard["refusedStatus"] == 401, heard
                    assert heard["refusedCode"] == "invalid_token"
                    assert heard["shouldRetry"] == "false"
                    # The same page from an origin not in CORS_ORIGINS: the browser refuses.
                    page.goto(other + "/index.html")
                    refused = page.evaluate(
                        "([api, login]) => order(api, login).then(() => 'read', e => e.name)",
                        [server.api, login],
                    )
                    assert refused == "TypeError"
                finally:
                    browser.close()
