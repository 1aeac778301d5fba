"""Process faults under gunicorn: SIGTERM lets requests in flight (a speech decode
among them) finish and exits in time; a SIGKILLed worker loses only its own in-flight
requests, is replaced, and retries with the same idempotency key lose nothing."""

import base64
import json
import os
import signal
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import numpy as np

from src.platform.db.migrate import upgrade
from src.voice.speech.audio import decode_audio
from tests.processes import bearer, create_credentials, prod_env, prod_server, wait_for

DATA = Path(__file__).parent.parent / "data"
GRACEFUL_TIMEOUT = 20


def _long_speech(seconds: float) -> dict[str, object]:
    """A real spoken order repeated to `seconds`, as base64 16 kHz PCM."""
    clip = decode_audio(
        (DATA / "audio" / "cafe-022.flac").read_bytes(), encoding=None, hertz=None, max_seconds=60
    )
    repeats = int(seconds / clip.duration) + 1
    samples = np.tile(clip.samples, repeats)[: int(seconds * 16000)]
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    return {"audio": base64.b64encode(pcm).decode(), "encoding": "pcm_s16le", "hertz": 16000}


def _setup(api: str, env: dict[str, str]) -> dict[str, str]:
    headers = bearer(api, create_credentials(env))
    catalog = json.loads((DATA / "cafe_catalog.json").read_text())
    assert httpx.put(api + "/voice/catalog", json=catalog, headers=headers).status_code == 200
    return headers


def test_sigterm_finishes_requests_in_flight(tmp_path: Path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    upgrade(database)
    env = prod_env(
        tmp_path, database, WEB_CONCURRENCY="1", ASR_PRELOAD="true", ASR_QUEUE_TIMEOUT="30",
        GUNICORN_GRACEFUL_TIMEOUT=str(GRACEFUL_TIMEOUT),
    )  # fmt: skip
    with prod_server(tmp_path, env) as server:
        headers = _setup(server.api, env)
        wait_for(lambda: _speech_ready(server.api), timeout=60)
        body = _long_speech(20)  # about 1.5 s of decoding; the second waits for the slot
        answers: dict[str, httpx.Response] = {}
        answered_at: dict[str, float] = {}

        def call(name: str, path: str, payload: dict[str, object]) -> None:
            answers[name] = httpx.post(server.api + path, json=payload, headers=headers, timeout=60)
            answered_at[name] = time.monotonic()

        calls = [
            threading.Thread(target=call, args=(name, "/voice/speech", body))
            for name in ("speech", "speech2")
        ]
        calls += [
            threading.Thread(target=call, args=(f"order{n}", "/voice/order", {"text": "a latte"}))
            for n in range(5)
        ]
        for thread in calls:
            thread.start()
        time.sleep(0.5)  # the first decode is under way
        assert "speech" not in answers and "speech2" not in answers
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        for thread in calls:
            thread.join(60)
        exit_code = server.process.wait(GRACEFUL_TIMEOUT + 10)
        exit_seconds = time.monotonic() - started
    print(
        f"\nFIGURE SIGTERM with a speech decode in flight: answers "
        f"{sorted(r.status_code for r in answers.values())}, exit {exit_code} "
        f"after {exit_seconds:.1f} s, the decodes answered {max(answered_at['speech'], answered_at['speech2']) - started:.1f} s "
        f"after the signal (graceful timeout {GRACEFUL_TIMEOUT} s)"
    )
    for name in ("speech", "speech2"):
        assert answers[name].status_code == 200, answers[name].text
        assert "earl" in answers[name].json()["data"]["text"].lower()
    assert all(answers[f"order{n}"].status_code == 201 for n in range(5))
    assert exit_code == 0
    assert exit_seconds < GRACEFUL_TIMEOUT


def _speech_ready(api: str) -> bool:
    ready = httpx.get(api + "/readiness", timeout=5)
    return bool(ready.json()["data"]["checks"].get("speech_model") == "ok")


def test_sigkilled_worker_loses_only_its_in_flight_requests(tmp_path: Path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    upgrade(database)
    concurrency = 8
    # A request killed mid-way holds its key until its lease ends; keep that short here.
    env = prod_env(tmp_path, database, WEB_CONCURRENCY="2", IDEMPOTENCY_LOCK_SECONDS="3")
    with prod_server(tmp_path, env) as server:
        headers = _setup(server.api, env)
        victim = server.workers()[0]
        outcomes: Counter[str] = Counter()
        failed_keys: list[str] = []
        sent_keys: list[str] = []
        stop = threading.Event()

        def load() -> None:
            while not stop.is_set():
                key = uuid.uuid4().hex
                sent_keys.append(key)
                try:
                    with httpx.Client(timeout=10) as fresh:  # a connection per request
                        status = fresh.post(
                            server.api + "/voice/order",
                            json={"text": "two lattes"},
                            headers={**headers, "Idempotency-Key": key},
                        ).status_code
                    outcomes[str(status)] += 1
                    if status != 201:
                        failed_keys.append(key)
                except httpx.HTTPError as exc:
                    outcomes[type(exc).__name__] += 1
                    failed_keys.append(key)

        threads = [threading.Thread(target=load) for _ in range(concurrency)]
        for thread in threads:
            thread.start()
        time.sleep(1.5)
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: len(server.workers()) == 2 and victim not in server.workers(), 30)
        time.sleep(1.0)  # load on the replacement too
        stop.set()
        for thread in threads:
            thread.join(30)
        # The client retries what failed with the same key, as Retry-After says, until
        # stored: each becomes exactly one order.
        for key in failed_keys:
            deadline = time.monotonic() + 30
            while True:
                retry = httpx.post(
                    server.api + "/voice/order",
                    json={"text": "two lattes"},
                    headers={**headers, "Idempotency-Key": key},
                    timeout=10,
                )
                if retry.status_code != 409 or time.monotonic() > deadline:
                    break
                time.sleep(float(retry.headers["Retry-After"]))
            assert retry.status_code == 201, retry.text
        stored = count_orders(server.api, headers)
    print(
        f"\nFIGURE worker SIGKILLed under load ({concurrency} in flight): outcomes "
        f"{dict(outcomes)}; {len(sent_keys)} keys, {stored} orders stored after retries"
    )
    assert outcomes["201"] > 0
    assert len(failed_keys) <= concurrency  # only what was in flight on that worker
    assert stored == len(sent_keys)  # nothing lost, nothing twice


def count_orders(api: str, headers: dict[str, str]) -> int:
    total, cursor = 0, None
    while True:
        params: dict[str, str | int] = {"limit": 100}
        if cursor:
            params["cursor"] = cursor
        page = httpx.get(api + "/voice/orders", params=params, headers=headers).json()["data"]
        total += len(page["orders"])
        cursor = page.get("next_cursor")
        if not cursor:
            return total
