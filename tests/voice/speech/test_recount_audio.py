"""Counts suggested for uncounted items, weighed against the audio by the real bundled
model.

The clip is one of the generated spoken orders, in an espeak-ng voice: "so I'll have
a couple cannoli, um, 2 chicken parmesan subs mushrooms, that's it", which tiny.en
writes on AMD machines "... a couple, canoli, do chicken, Parmesan Sub, Mushrooms,
that's it": one chicken parmesan sub, read cleanly, where two were said (on an Intel
Xeon it writes "to kick in Parmesan subs", two by the homophone).
"""

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from src.voice.orders.respelling import HeardOrder
from src.voice.speech.engine import AudioInput
from tests.conftest import RunningApp, catalog_index_of, load_catalog

pytestmark = pytest.mark.anyio

TWO_SUBS = (Path(__file__).parents[2] / "data" / "audio" / "gen-spoken-deli-0011.flac").read_bytes()
ORDER = "/api/v1/voice/order"


def challenged() -> float:
    return REGISTRY.get_sample_value("speech_challenged_readings_total") or 0.0


async def test_the_order_route_reads_both_counts_of_the_clip(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    await client.put(
        "/api/v1/voice/catalog", json=load_catalog("deli"), headers=merchant["headers"]
    )
    response = await client.post(
        ORDER, json={"audio": base64.b64encode(TWO_SUBS).decode()}, headers=merchant["headers"]
    )
    assert response.status_code == 201, response.text
    order = response.json()["data"]
    assert sorted((i["sku"], i["quantity"], i["modifiers"]) for i in order["items"]) == [
        ("CANNOLI", 2, []),
        ("CHICKEN_PARM", 2, ["MUSHROOMS"]),
    ]


async def test_a_count_the_audio_bears_out_replaces_the_words_heard_for_it(
    lifespan: RunningApp,
) -> None:
    # The beam's readings of a clip differ a little between CPUs (feature extraction
    # and voice activity detection pick their own kernels): this one is the reading
    # AMD machines give, the one that needs the recount. The parser suggests counts
    # for its uncounted item; the real model weighs them against the audio.
    engine = lifespan.state["speech"]
    heard_elsewhere = (
        "so I'll have a couple, canoli, do chicken, Parmesan Sub, Mushrooms, that's it"
    )
    order = HeardOrder(catalog_index_of("deli"))

    def challenge(_readings: Sequence[str]) -> tuple[str, Sequence[str]]:
        return order.recounts([heard_elsewhere])

    before = challenged()
    heard = await engine.transcribe(AudioInput(TWO_SUBS), client="test", challenge=challenge)
    assert heard.challenged
    assert "two chicken" in heard.text.lower()
    assert challenged() == before + 1


async def test_a_challenger_the_audio_does_not_bear_out_changes_nothing(
    lifespan: RunningApp,
) -> None:
    engine = lifespan.state["speech"]
    asked: list[tuple[str, ...]] = []

    def challenge(readings: Sequence[str]) -> tuple[str, Sequence[str]]:
        asked.append(tuple(readings))
        return readings[0], ["Three cheeseburgers and a large fries please"]

    plain = await engine.transcribe(AudioInput(TWO_SUBS), client="test")
    heard = await engine.transcribe(AudioInput(TWO_SUBS), client="test", challenge=challenge)
    assert len(asked) == 1
    assert (heard.text, heard.alternatives) == (plain.text, plain.alternatives)
    assert not heard.challenged


async def test_a_challenger_about_as_likely_comes_first(lifespan: RunningApp) -> None:
    engine = lifespan.state["speech"]
    plain = await engine.transcribe(AudioInput(TWO_SUBS), client="test")
    # The beam's runner-up: by the recogniser's own scores, as likely as its best.
    runner_up = plain.alternatives[0]
    assert abs(plain.confidences[0] - plain.confidences[1]) < 0.05

    def challenge(readings: Sequence[str]) -> tuple[str, Sequence[str]]:
        return readings[0], ["Three cheeseburgers and a large fries please", runner_up]

    heard = await engine.transcribe(AudioInput(TWO_SUBS), client="test", challenge=challenge)
    assert heard.challenged
    assert heard.text == runner_up
    # What the recogniser heard itself stays, after it, once each.
    assert heard.alternatives[0] == plain.text
    assert sorted((heard.text, *heard.alternatives)) == sorted((plain.text, *plain.alternatives))
    assert len(heard.confidences) == 1 + len(heard.alternatives)
