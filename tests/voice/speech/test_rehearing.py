"""Readings the catalog suggests, weighed against the audio by the real bundled model.

The clip is the dev set's vietcafe-034 in a piper voice: "I'll have a big coconut
coffee, light ice, less sweet please.", which tiny.en writes "... less wheat please".
"""

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from src.voice.speech.engine import AudioInput
from tests.conftest import RunningApp, load_catalog

pytestmark = pytest.mark.anyio

LESS_SWEET = (
    Path(__file__).parents[2] / "data" / "audio" / "other-voices" / "vietcafe-034-piper.flac"
).read_bytes()
ORDER = "/api/v1/voice/order"


def reheard() -> float:
    return REGISTRY.get_sample_value("speech_reheard_readings_total") or 0.0


async def test_a_garbled_modifier_is_heard_again_as_the_menu_says(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    await client.put(
        "/api/v1/voice/catalog", json=load_catalog("vietcafe"), headers=merchant["headers"]
    )
    before = reheard()
    response = await client.post(
        ORDER, json={"audio": base64.b64encode(LESS_SWEET).decode()}, headers=merchant["headers"]
    )
    assert response.status_code == 201, response.text
    order = response.json()["data"]
    assert [(i["sku"], i["quantity"], sorted(i["modifiers"])) for i in order["items"]] == [
        ("COCONUT_COFFEE", 1, ["LARGE", "LESS_ICE", "LESS_SUGAR"])
    ]
    assert "less sweet" in order["transcript"].lower()
    assert order["unmatched"] == []
    assert reheard() >= before + 1


async def test_only_suggestions_the_audio_bears_out_are_kept(lifespan: RunningApp) -> None:
    engine = lifespan.state["speech"]
    asked: list[tuple[str, ...]] = []
    said = "I'll have a big coconut coffee, light ice, less sweet please"
    far = "Three chicken sandwiches and a large fries please"

    def respell(readings: Sequence[str]) -> tuple[str, Sequence[str]]:
        asked.append(tuple(readings))
        return readings[0], [far, said]

    heard = await engine.transcribe(
        AudioInput(LESS_SWEET), client="test", accept=lambda _: False, respell=respell
    )
    assert len(asked) == 1  # after both listens, once
    readings = (heard.text, *heard.alternatives)
    assert said in readings, readings
    assert far not in readings
    assert heard.reheard == 1
    # Suggestions come after what the recogniser heard itself, with a confidence each.
    assert readings[-1] == said
    assert len(heard.confidences) == len(readings)
    assert 0 < heard.confidences[-1] <= 1


async def test_no_suggestion_is_asked_for_when_a_reading_is_accepted(
    lifespan: RunningApp,
) -> None:
    engine = lifespan.state["speech"]

    def respell(readings: Sequence[str]) -> tuple[str, Sequence[str]]:
        raise AssertionError("not asked: the first listen was accepted")

    heard = await engine.transcribe(
        AudioInput(LESS_SWEET), client="test", accept=lambda _: True, respell=respell
    )
    assert heard.reheard == 0
    assert not heard.second_listen
