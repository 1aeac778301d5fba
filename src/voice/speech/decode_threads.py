"""`DecodeThreads`: the threads that run decodes, as many as there are decode slots.

A decode cannot be interrupted once it runs. If the task awaiting it is cancelled (a
live stream's client goes away mid-partial) and the slot were given back then, the
next decode would start beside the one still running, and a burst of abandoned
streams would pile up decodes (and threads, and memory) past ASR_MAX_CONCURRENCY.
So a slot goes back when its decode ends, whatever became of its caller, and the
decodes run on a fixed pool whose size is the slot count.
"""

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from src.voice.speech.slots import FairSlots

T = TypeVar("T")


class DecodeThreads:
    """A fixed pool of decode threads, one per slot of `slots`."""

    def __init__(self, slots: FairSlots) -> None:
        self.slots = slots
        self._pool = ThreadPoolExecutor(
            max_workers=slots.capacity, thread_name_prefix="speech-decode"
        )

    async def call(self, client: str, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in a decode thread, holding one of `client`'s slots (taken by
        the caller), which goes back when `fn` has returned, not before."""
        future = self._pool.submit(fn, *args)
        self.release_when_done(future, client)
        return await asyncio.wrap_future(future)

    def submit(self, fn: Callable[..., T], *args: Any) -> "Future[T]":
        """`fn(*args)` in a decode thread, the caller keeping its slot (several steps
        of one decode); pair with `release_when_done` for the last one."""
        return self._pool.submit(fn, *args)

    def release_when_done(self, future: "Future[Any]", client: str) -> None:
        """Give `client`'s slot back once `future` is done (at once if it is)."""
        loop = asyncio.get_running_loop()

        def release(_: "Future[Any]") -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed first: shutting down
                loop.call_soon_threadsafe(self.slots.release, client)

        future.add_done_callback(release)

    def shutdown(self) -> None:
        """Drop decodes not yet started; the running ones finish on their own."""
        self._pool.shutdown(wait=False, cancel_futures=True)
