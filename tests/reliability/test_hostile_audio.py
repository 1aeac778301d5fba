"""Hostile audio against a real worker with the speech model loaded: every file of the
corpus is refused (413/415/422) in under a second, the worker's memory does not grow,
and nothing ever reaches out to a file or a socket named inside the audio."""

import base64
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from src.platform.db.migrate import upgrade
from tests.processes import bearer, create_credentials, prod_env, prod_server, rss_mib, wait_for
from tests.reliability.hostile_audio import AUDIO, corpus

ROUNDS = 2 if os.environ.get("CI") == "true" else 5


class CountingListener:
    """A TCP listener that only counts who connects to it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[CountingListener]:
    counting = CountingListener()
    yield counting
    counting.close()


def test_hostile_audio_is_refused_fast_without_growth(
    tmp_path: Path, listener: CountingListener
) -> None:
    files = corpus(listener.port)
    database = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    upgrade(database)
    env = prod_env(tmp_path, database, WEB_CONCURRENCY="1", ASR_PRELOAD="true")
    with prod_server(tmp_path, env) as server:
        headers = bearer(server.api, create_credentials(env))
        wait_for(
            lambda: (
                httpx.get(server.api + "/readiness").json()["data"]["checks"]["speech_model"]
                == "ok"
            ),
            timeout=60,
        )
        worker = server.workers()[0]
        speech = server.api + "/voice/speech"
        with httpx.Client(headers=headers, timeout=30) as http:
            real = base64.b64encode((AUDIO / "cafe-022.flac").read_bytes()).decode()
            assert http.post(speech, json={"audio": real}).status_code == 200  # warm
            for name, data in files.items():  # warm every path once
                http.post(speech, files={"file": (name, data)})
            before = rss_mib(worker)
            slowest: dict[str, float] = {}
            answers: dict[str, set[int]] = {}
            for _ in range(ROUNDS):
                for name, data in files.items():
                    for as_json in (True, False):
                        started = time.perf_counter()
                        if as_json:
                            response = http.post(
                                speech, json={"audio": base64.b64encode(data).decode()}
                            )
                        else:
                            response = http.post(speech, files={"file": ("audio", data)})
                        took = time.perf_counter() - started
                        slowest[name] = max(slowest.get(name, 0.0), took)
                        answers.setdefault(name, set()).add(response.status_code)
                        assert response.json()["code"] == response.status_code
            after = rss_mib(worker)
    print(
        f"\nFIGURE hostile audio, {len(files)} files x {ROUNDS} rounds x (JSON, multipart): "
        f"statuses {sorted(set().union(*answers.values()))}, slowest "
        f"{max(slowest.values()):.2f} s ({max(slowest, key=slowest.__getitem__)}), worker RSS "
        f"{before:.0f} -> {after:.0f} MiB, listener connections {listener.connections}"
    )
    for name, statuses in answers.items():
        assert statuses <= {413, 415, 422}, (name, statuses)
    assert max(slowest.values()) < 1.0, slowest
    assert after - before < 50
    assert listener.connections == 0
