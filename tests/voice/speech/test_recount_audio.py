"""Counts suggested for uncounted items, weighed against the audio by the real bundled
model.

The clips are generated spoken orders in espeak-ng voices. "so I'll have a couple
cannoli, um, 2 chicken parmesan subs mushrooms, that's it", which tiny.en writes on
AMD machines "... a couple, canoli, do chicken, Parmesan Sub, Mushrooms, that's it":
one chicken parmesan sub, read cleanly, where two were said (on an Intel Xeon it
writes "to kick in Parmesan subs", two by the homophone). And "let me get Chicken
Baguette, and then three fried egg baguettes, extra egg, that's it", which it writes
on AMD machines with no count for the egg baguettes at all.
"""

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from src.voice.orders.recount import counts_added
from src.voice.orders.respelling import HeardOrder
from src.voice.speech.engine import AudioInput, Challenge
from tests.conftest import RunningApp, catalog_index_of, load_catalog

pytestmark = pytest.mark.anyio

AUDIO = Path(__file__).parents[2] / "data" / "audio"
TWO_SUBS = (AUDIO / "gen-spoken-deli-0011.flac").read_bytes()
THREE_BAGUETTES = (AUDIO / "gen-spoken-vietcafe-0017.flac").read_bytes()
BAGUETTES_HEARD = "Let me get Chicken Baguette, and then Fried Egg Baguette, extra egg, that's it"
ORDER = "/api/v1/voice/order"


def challenged() -> float:
    return REGISTRY.get_sample_value("speech_challenged_readings_total") or 0.0


async def ordered(
    client: httpx.AsyncClient, merchant: dict[str, Any], catalog: str, clip: bytes
) -> list[tuple[str, int, list[str]]]:
    """The items the order route takes from `clip` against `catalog`."""
    await client.put(
        "/api/v1/voice/catalog", json=load_catalog(catalog), headers=merchant["headers"]
    )
    response = await client.post(
        ORDER, json={"audio": base64.b64encode(clip).decode()}, headers=merchant["headers"]
    )
    assert response.status_code == 201, response.text
    items = response.json()["data"]["items"]
    return sorted((i["sku"], i["quantity"], i["modifiers"]) for i in items)


async def test_the_order_route_reads_both_counts_of_the_clip(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    assert await ordered(client, merchant, "deli", TWO_SUBS) == [
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

    def challenge(_readings: Sequence[str]) -> Challenge:
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

    def challenge(readings: Sequence[str]) -> Challenge:
        asked.append(tuple(readings))
        return Challenge(readings[0], ["Three cheeseburgers and a large fries please"])

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

    def challenge(readings: Sequence[str]) -> Challenge:
        return Challenge(readings[0], ["Three cheeseburgers and a large fries please", runner_up])

    heard = await engine.transcribe(AudioInput(TWO_SUBS), client="test", challenge=challenge)
    assert heard.challenged
    assert heard.text == runner_up
    # What the recogniser heard itself stays, after it, once each.
    assert heard.alternatives[0] == plain.text
    assert sorted((heard.text, *heard.alternatives)) == sorted((plain.text, *plain.alternatives))
    assert len(heard.confidences) == 1 + len(heard.alternatives)


async def test_the_order_route_puts_back_a_count_the_recogniser_ran_into_the_name(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    assert await ordered(client, merchant, "vietcafe", THREE_BAGUETTES) == [
        ("BANH_MI_GA", 1, []),
        ("BANH_MI_OP_LA", 3, ["EXTRA_EGG"]),
    ]


async def test_counts_the_audio_does_not_bear_out_are_not_added(lifespan: RunningApp) -> None:
    # The chicken baguette was said with no count: none put before it is kept.
    engine = lifespan.state["speech"]
    before_chicken = [
        text for text in counts_added(BAGUETTES_HEARD, catalog_index_of("vietcafe"))
        if "Chicken Baguettes" in text
    ]  # fmt: skip
    assert len(before_chicken) == 3

    def challenge(_readings: Sequence[str]) -> Challenge:
        return Challenge(BAGUETTES_HEARD, added=before_chicken)

    plain = await engine.transcribe(AudioInput(THREE_BAGUETTES), client="test")
    heard = await engine.transcribe(AudioInput(THREE_BAGUETTES), client="test", challenge=challenge)
    assert not heard.challenged
    assert (heard.text, heard.alternatives) == (plain.text, plain.alternatives)


async def test_a_count_the_audio_bears_out_goes_before_a_bare_name_and_is_challenged_once(
    lifespan: RunningApp,
) -> None:
    # The reading AMD machines give. The first round puts counts before both bare
    # items, and the audio bears out only "three" before the egg baguettes; the second
    # asks about the reading that made, whose chicken baguette (said with no count)
    # gets none.
    engine = lifespan.state["speech"]
    order = HeardOrder(catalog_index_of("vietcafe"))
    asked: list[str] = []

    def challenge(readings: Sequence[str]) -> Challenge:
        asked.append(readings[0])
        return order.recounts([BAGUETTES_HEARD] if len(asked) == 1 else [readings[0]])

    heard = await engine.transcribe(AudioInput(THREE_BAGUETTES), client="test", challenge=challenge)
    three = "Let me get Chicken Baguette, and then three Fried Egg Baguettes, extra egg, that's it"
    assert heard.challenged
    assert heard.text == three
    assert asked[1:] == [three]
