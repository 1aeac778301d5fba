"""The demo till in a real browser: headless Chromium (Debian's `chromium`, driven by
Playwright) with a fake microphone that plays two spoken turns from a WAV file. The
page uploads the example menu, streams the microphone over the live WebSocket, shows
the right cart after each turn, and Confirm stores the order it shows. The run saves a
screenshot of the page mid-order into docs/ for the README."""

import os
import shutil
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from src.config import PROJECT_ROOT, load_settings
from src.constants import Environment
from src.platform.db.migrate import upgrade
from tests.processes import answers, create_credentials, prod_env, prod_server, wait_for
from tests.voice.speech.audio_factory import samples_of, wav_bytes

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
EXAMPLES = PROJECT_ROOT / "examples"
SCREENSHOT = PROJECT_ROOT / "docs" / "demo.png"
RATE = 16_000


def _fake_microphone(path: Path) -> Path:
    """What the customer says, as Chromium's fake microphone plays it: a pause, "two hot
    chocolates", a pause long enough to end the utterance, "a medium Earl Grey"."""

    def silence(seconds: float) -> np.ndarray:
        return np.zeros(int(seconds * RATE), dtype=np.float32)

    speech = np.concatenate(
        [
            silence(1.0),
            samples_of(EXAMPLES / "two-hot-chocolates.flac"),
            silence(3.0),
            samples_of(EXAMPLES / "medium-earl-grey.flac"),
            silence(20.0),
        ]
    )
    path.write_bytes(wav_bytes(speech, RATE))
    return path


def _cart(page: Any) -> list[tuple[str, str, str]]:
    lines = page.eval_on_selector_all(
        "#lines .line",
        "els => els.map(e => [e.dataset.sku, e.dataset.quantity, e.dataset.modifiers])",
    )
    return [tuple(line) for line in lines]


def test_demo_is_served_outside_production_only() -> None:
    assert load_settings(ENVIRONMENT=Environment.LOCAL).demo_enabled
    assert not load_settings(
        ENVIRONMENT=Environment.PRODUCTION, JWT_SECRET="x" * 40, CORS_ORIGINS=["https://a"]
    ).demo_enabled
    assert load_settings(
        ENVIRONMENT=Environment.PRODUCTION,
        JWT_SECRET="x" * 40,
        CORS_ORIGINS=["https://a"],
        DEMO_ENABLED=True,
    ).demo_enabled


def test_a_cashier_takes_a_spoken_order_on_the_demo_page(tmp_path: Path) -> None:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs it with apt)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    microphone = _fake_microphone(tmp_path / "customer.wav")
    database = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    upgrade(database)
    env = prod_env(tmp_path, database, WEB_CONCURRENCY="1", ASR_PRELOAD="true", DEMO_ENABLED="true")
    with prod_server(tmp_path, env) as server:
        wait_for(lambda: answers(server.api + "/readiness"), timeout=120)
        creds = create_credentials(env, "demo cafe")  # no catalog: the page uploads one
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=[
                    "--use-fake-ui-for-media-stream",
                    "--use-fake-device-for-media-stream",
                    f"--use-file-for-fake-audio-capture={microphone}%noloop",
                ],
            )
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                errors: list[str] = []
                page.on("pageerror", lambda error: errors.append(str(error)))
                page.goto(server.base + "/demo")
                page.fill("#secret-id", creds["secret_id"])
                page.fill("#secret-key", creds["secret_key"])
                page.click("#sign-in-button")
                expect(page.locator("#till")).to_be_visible(timeout=15_000)
                expect(page.locator("#empty")).to_be_visible()

                page.click("#mic")  # the customer speaks
                expect(page.locator("#mic")).to_have_attribute("aria-pressed", "true")
                page.wait_for_selector('.line[data-sku="HOT_CHOCOLATE"]', timeout=60_000)
                assert _cart(page) == [("HOT_CHOCOLATE", "2", "")]
                page.wait_for_selector('.line[data-sku="EARL_GREY"]', timeout=60_000)
                assert _cart(page) == [("HOT_CHOCOLATE", "2", ""), ("EARL_GREY", "1", "MEDIUM")]
                total = page.text_content("#total")
                assert page.text_content("#readback")
                page.screenshot(path=str(SCREENSHOT))

                page.click("#confirm")
                confirmed = page.locator("#confirmed")
                expect(confirmed).to_contain_text("stored", timeout=30_000)
                order_id = confirmed.get_attribute("data-order-id")
                assert errors == []
            finally:
                browser.close()

        token = httpx.post(
            server.api + "/auth/token",
            json={"secret_id": creds["secret_id"], "secret_key": creds["secret_key"]},
        ).json()["data"]["access_token"]
        stored = httpx.get(
            f"{server.api}/voice/orders/{order_id}", headers={"Authorization": f"Bearer {token}"}
        )
        assert stored.status_code == 200, stored.text
        order = stored.json()["data"]
        items = [(i["sku"], i["quantity"], i["modifiers"]) for i in order["items"]]
        assert items == [("HOT_CHOCOLATE", 2, []), ("EARL_GREY", 1, ["MEDIUM"])]
        assert f"{order['total']} {order['currency']}" == total
        assert order["session_id"]
