"""Live streams that come and go leave the worker as they found it: 200 connect / start
/ disconnect cycles (pcm and webm) and 50 streams abandoned mid-speech (the TCP
connection dropped without a close, a partial decode under way) leave its memory, its
threads and its decode slot as they were (under gunicorn, one worker)."""

import contextlib
import json
import socket
import time
from pathlib import Path

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from src.platform.db.migrate import upgrade
from tests.conftest import DATA
from tests.processes import (
    answers,
    create_api_key,
    create_credentials,
    prod_env,
    prod_server,
    rss_mib,
    wait_for,
)
from tests.voice.speech.audio_factory import encode, samples_of

CLIP = samples_of(DATA / "audio" / "cafe-022.flac")
PCM = (CLIP * 32767).astype("<i2").tobytes()
WEBM = encode(CLIP, "webm")


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no Threads line")


def _active_streams(metrics: str) -> float:
    for line in httpx.get(metrics, timeout=5).text.splitlines():
        if line.startswith("voice_live_streams_active "):
            return float(line.split()[1])
    return 0.0


def test_streams_that_come_and_go_leave_the_worker_as_it_was(tmp_path: Path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    upgrade(database)
    # Two malloc arenas: with glibc's default (up to 8 per core) the worker's RSS
    # depends on which threads happened to allocate last, +-50 MiB from run to run,
    # which would hide a leak or fake one. A leak grows the worker under either.
    env = prod_env(
        tmp_path, database, WEB_CONCURRENCY="1", ASR_PRELOAD="true", MALLOC_ARENA_MAX="2"
    )
    with prod_server(tmp_path, env) as server:
        wait_for(lambda: answers(server.api + "/readiness"), timeout=120)
        key = create_api_key(env, create_credentials(env, "cycles")["secret_id"])
        headers = {"Authorization": f"Bearer {key}"}
        catalog = json.loads((DATA / "cafe_catalog.json").read_text())
        httpx.put(server.api + "/voice/catalog", json=catalog, headers=headers).raise_for_status()
        protocols = ["voice.v1", f"bearer.{key}"]

        def url() -> str:
            """A new session's stream (one stream per session at a time)."""
            started = httpx.post(server.api + "/voice/sessions", json={}, headers=headers)
            session = started.json()["data"]["session_id"]
            return f"{server.api.replace('http://', 'ws://')}/voice/sessions/{session}/stream"

        (worker,) = server.workers()

        def cycle(encoding: str) -> None:
            with connect(url(), subprotocols=protocols) as ws:
                ws.send(json.dumps({"type": "start", "encoding": encoding, "hertz": 16000}))
                ws.recv()
                ws.send(PCM[:6400] if encoding == "pcm_s16le" else WEBM[:4000])

        def abandon() -> None:
            with (
                contextlib.suppress(ConnectionClosed, OSError),
                connect(url(), subprotocols=protocols) as ws,
            ):
                ws.send(json.dumps({"type": "start", "encoding": "pcm_s16le", "hertz": 16000}))
                ws.recv()
                for start in range(0, 32_000, 3200):  # 1 s of speech: partials decode
                    ws.send(PCM[start : start + 3200])
                ws.socket.shutdown(socket.SHUT_RDWR)
                ws.socket.close()

        # Warm up as much: the first streams and decodes allocate what a worker then
        # keeps, and its thread pools grow to what the load asks of them at once.
        for n in range(20):
            cycle("pcm_s16le" if n % 2 else "webm")
        for _ in range(50):
            abandon()
        wait_for(lambda: _active_streams(server.metrics) == 0, timeout=30)
        threads_before = _threads(worker)

        def batch() -> tuple[float, int]:
            """200 streams that end and 50 that drop mid-speech; RSS and threads after."""
            for n in range(200):
                cycle("pcm_s16le" if n % 2 else "webm")
            threads_cycled = _threads(worker)
            for _ in range(50):  # mid-speech, then the connection just drops
                abandon()
            wait_for(lambda: _active_streams(server.metrics) == 0, timeout=30)
            with contextlib.suppress(AssertionError):
                wait_for(lambda: _threads(worker) <= threads_before + 4, timeout=20)
            # The least of a few readings: buffers of the last decode still being freed.
            readings = []
            for _ in range(5):
                readings.append(rss_mib(worker))
                time.sleep(0.2)
            return min(readings), threads_cycled

        # Two equal batches: a leak grows the worker in both, by as much; what the
        # allocator and the thread pools settle into after the warm-up (tens of MiB,
        # up or down, from run to run) shows in the first only.
        rss_first, threads_cycled = batch()
        # No decoder thread left behind: 100 webm streams would have left 100.
        assert threads_cycled <= threads_before + 4
        rss_second, _threads_cycled = batch()
        print(
            f"\nFIGURE live streams: two batches of 200 cycles + 50 abandoned: worker RSS "
            f"{rss_first:.0f} -> {rss_second:.0f} MiB, threads {threads_before} -> "
            f"{threads_cycled} after the first cycles -> {_threads(worker)} at the end"
        )
        assert _threads(worker) <= threads_before + 4
        assert rss_second <= rss_first * 1.05 + 5
        # The decode slot is free: a transcription right away is not 503 SERVICE_BUSY.
        heard = httpx.post(
            server.api + "/voice/speech", files={"file": ("a.flac", (DATA / "audio" / "cafe-022.flac").read_bytes())},
            headers=headers, timeout=30,
        )  # fmt: skip
        assert heard.status_code == 200, heard.text
