"""A decode's slot goes back when the decode ends, not when its caller gives up: a burst
of abandoned live streams cannot pile decodes up past ASR_MAX_CONCURRENCY."""

import asyncio
import threading

import pytest

from src.voice.speech.decode_threads import DecodeThreads
from src.voice.speech.slots import FairSlots, SlotsBusy

pytestmark = pytest.mark.anyio


async def test_a_cancelled_caller_keeps_the_slot_until_its_decode_ends() -> None:
    threads = DecodeThreads(FairSlots(1))
    running, finish = threading.Event(), threading.Event()

    def decode() -> str:
        running.set()
        finish.wait(5)
        return "two lattes"

    await threads.slots.acquire("stream", timeout=1)
    caller = asyncio.create_task(threads.call("stream", decode))
    await asyncio.to_thread(running.wait, 5)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    # The decode still runs: another decode must wait, not start beside it.
    assert threads.slots.in_use == 1
    with pytest.raises(SlotsBusy):
        await threads.slots.acquire("next", timeout=0.05)
    finish.set()
    await threads.slots.acquire("next", timeout=5)  # free once the decode is done
    threads.slots.release("next")
    assert threads.slots.in_use == 0
    threads.shutdown()


async def test_decodes_run_on_as_many_threads_as_there_are_slots() -> None:
    threads = DecodeThreads(FairSlots(2))
    seen: set[str] = set()

    def decode() -> None:
        seen.add(threading.current_thread().name)

    for _ in range(20):
        await threads.slots.acquire("client", timeout=5)
        await threads.call("client", decode)
    assert len(seen) <= 2 and all(name.startswith("speech-decode") for name in seen)
    assert threads.slots.in_use == 0
    threads.shutdown()
