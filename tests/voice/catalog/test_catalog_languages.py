"""A catalog's languages through the API: declared or inferred, shown by GET, and what
the parser reads Vietnamese orders with (both backends)."""

from typing import Any

import httpx
import pytest

from tests.conftest import assert_envelope_error, load_catalog
from tests.voice.speech.test_speech_api import b64, clip

pytestmark = pytest.mark.anyio
CATALOG = "/api/v1/voice/catalog"
ORDER = "/api/v1/voice/order"


async def _order(client: httpx.AsyncClient, merchant: dict[str, Any], text: str) -> dict[str, Any]:
    response = await client.post(ORDER, json={"text": text}, headers=merchant["headers"])
    assert response.status_code in (201, 422), response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def test_languages_are_inferred_declared_and_used(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    shop = load_catalog("quanpho")
    put = await client.put(CATALOG, json=shop, headers=merchant["headers"])
    assert put.status_code == 200, put.text
    shown = await client.get(CATALOG, headers=merchant["headers"])
    assert shown.json()["data"]["languages"] == ["en", "vi"]  # Vietnamese names
    order = await _order(
        client, merchant, "chị ơi cho em hai tô phở gà không hành với 1 ly trà đá nha"
    )
    assert [(i["sku"], i["quantity"], i["modifiers"]) for i in order["items"]] == [
        ("PHO_GA", 2, ["NO_ONION"]),
        ("TRA_DA", 1, []),
    ]
    assert order["unmatched"] == []

    # Declared English only: Vietnamese number words and particles mean nothing.
    put = await client.put(CATALOG, json={**shop, "languages": ["en"]}, headers=merchant["headers"])
    assert put.status_code == 200, put.text
    assert (await client.get(CATALOG, headers=merchant["headers"])).json()["data"]["languages"] == [
        "en"
    ]
    order = await _order(client, merchant, "cho em hai tô phở gà")
    assert order.get("unmatched")

    # An English menu stays English: nothing Vietnamese is read into its orders.
    put = await client.put(CATALOG, json=load_catalog("cafe"), headers=merchant["headers"])
    assert (await client.get(CATALOG, headers=merchant["headers"])).json()["data"]["languages"] == [
        "en"
    ]


async def test_an_unknown_language_is_refused_by_name(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    shop = {**load_catalog("quanpho"), "languages": ["vi", "xx"]}
    response = await client.put(CATALOG, json=shop, headers=merchant["headers"])
    errors = assert_envelope_error(response, 422, "VALIDATION_ERROR")["errors"]
    assert any("unknown language 'xx'" in e["msg"] for e in errors), errors
    shown = await client.get(CATALOG, headers=merchant["headers"])
    assert shown.json()["data"]["currency"] == "USD"  # the cafe menu: nothing changed


async def test_the_first_declared_language_is_the_recognisers(
    client: httpx.AsyncClient, merchant: dict[str, Any], lifespan: Any, monkeypatch: Any
) -> None:
    """A multilingual model is told the catalog's first declared language; an inferred
    one tells it nothing (it detects). The bundled tiny.en ignores the hint, so what
    the recogniser is asked is read on its way in."""
    from src.voice.speech.service import SpeechService

    speech: SpeechService = lifespan.state["speech"]
    asked: list[str | None] = []
    real = speech.transcribe

    async def recording(audio: Any, **options: Any) -> Any:
        asked.append(audio.language)
        return await real(audio, **options)

    monkeypatch.setattr(speech, "transcribe", recording)
    audio = {"audio": b64(clip("cafe-022"))}
    shop = load_catalog("quanpho")
    for declared, expected in ((None, None), (["vi", "en"], "vi"), (["en", "vi"], "en")):
        body = shop if declared is None else {**shop, "languages": declared}
        assert (
            await client.put(CATALOG, json=body, headers=merchant["headers"])
        ).status_code == 200
        heard = await client.post("/api/v1/voice/speech", json=audio, headers=merchant["headers"])
        assert heard.status_code == 200, heard.text
        assert asked[-1] == expected
