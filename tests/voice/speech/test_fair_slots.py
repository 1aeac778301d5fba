"""Decode slots are shared fairly: no client holds more than its share while others wait."""

import asyncio
from typing import Any

import httpx
import pytest

from src.config import Settings
from src.voice.speech.slots import FairSlots, SlotsBusy
from tests.conftest import RunningApp, create_api_client, other_app, token_for
from tests.voice.speech.test_speech_api import SPEECH, b64, clip

pytestmark = pytest.mark.anyio


async def test_a_freed_slot_goes_to_the_client_holding_fewest() -> None:
    slots = FairSlots(1)
    await slots.acquire("A", timeout=1)
    served: list[str] = []

    async def decode(client: str) -> None:
        await slots.acquire(client, timeout=5)
        served.append(client)
        await asyncio.sleep(0.01)
        slots.release(client)

    # A queues three more clips before B and C ask once each.
    tasks = []
    for client in ("A", "A", "A", "B", "C"):
        tasks.append(asyncio.create_task(decode(client)))
        await asyncio.sleep(0)
    slots.release("A")
    await asyncio.gather(*tasks)
    # A was served first already: B and C, who waited, come before A's next clips.
    assert served == ["B", "C", "A", "A", "A"]


async def test_a_waiter_that_times_out_leaves_no_trace() -> None:
    slots = FairSlots(1)
    await slots.acquire("A", timeout=1)
    with pytest.raises(SlotsBusy):
        await slots.acquire("B", timeout=0.05)
    slots.release("A")
    assert slots.in_use == 0
    await slots.acquire("C", timeout=0.05)  # taken at once: nobody is waiting
    assert slots.held_by("C") == 1


async def test_one_client_cannot_starve_another(lifespan: RunningApp, settings: Settings) -> None:
    """ASR_MAX_CONCURRENCY=1. Client A sends three clips at once; client B's clip,
    sent while A's first decodes, is decoded next, before A's second and third."""
    async with other_app(settings, ASR_QUEUE_TIMEOUT=60.0) as http:
        for _ in range(600):  # this app loads its own model
            if (await http.get("/api/v1/readiness")).status_code == 200:
                break
            await asyncio.sleep(0.1)
        headers = {}
        for name in ("A", "B"):
            tokens = await token_for(http, await create_api_client(lifespan, name))
            headers[name] = {"Authorization": f"Bearer {tokens['access_token']}"}
        finished: list[str] = []

        async def speak(name: str, audio: bytes) -> httpx.Response:
            response = await http.post(SPEECH, json={"audio": b64(audio)}, headers=headers[name])
            finished.append(name)
            return response

        long_clip, short_clip = clip("fastfood-103"), clip("cafe-002")
        a_clips: list[Any] = [asyncio.create_task(speak("A", long_clip)) for _ in range(3)]
        await asyncio.sleep(0.3)  # A's first clip is decoding, two more wait
        b_clip = asyncio.create_task(speak("B", short_clip))
        answers = await asyncio.gather(*a_clips, b_clip)
    assert [a.status_code for a in answers] == [200] * 4
    assert finished == ["A", "B", "A", "A"]
