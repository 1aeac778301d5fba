"""Live audio into an order session over a WebSocket, against the production server
with the real model: spoken turns in pcm_s16le and in 8 kHz mu-law, `end`, and every
refusal with its close code."""

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from src.auth.security import create_access_token
from src.platform.db.migrate import upgrade
from src.voice.speech.stream import float_to_mulaw
from tests.conftest import DATA, remember_secrets
from tests.processes import (
    JWT_SECRET,
    answers,
    create_api_key,
    create_credentials,
    prod_env,
    prod_server,
    wait_for,
)
from tests.voice.speech.audio_factory import samples_of

EARL_GREY = samples_of(DATA / "audio" / "cafe-022.flac")  # "give me a medium earl grey"
SILENCE = np.zeros(16_000, dtype=np.float32)


@dataclass
class Live:
    api: str
    ws: str
    key: str
    client_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def session(self) -> str:
        started = httpx.post(self.api + "/voice/sessions", json={}, headers=self.headers)
        assert started.status_code == 201, started.text
        return str(started.json()["data"]["session_id"])

    def connect(self, session: str, **options: Any) -> ClientConnection:
        options.setdefault("subprotocols", ["voice.v1", f"bearer.{self.key}"])
        return connect(f"{self.ws}/voice/sessions/{session}/stream", **options)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("live")
    database = f"sqlite+aiosqlite:///{tmp / 'app.db'}"
    upgrade(database)
    env = prod_env(tmp, database, WEB_CONCURRENCY="1", ASR_PRELOAD="true", JWT_LEEWAY_SECONDS="0")
    with prod_server(tmp, env) as server:
        wait_for(lambda: answers(server.api + "/readiness"), timeout=120)
        creds = create_credentials(env, "live till")
        key = create_api_key(env, creds["secret_id"])
        remember_secrets(key)
        catalog = json.loads((DATA / "cafe_catalog.json").read_text())
        httpx.put(
            server.api + "/voice/catalog", json=catalog, headers={"Authorization": f"Bearer {key}"}
        ).raise_for_status()
        yield Live(server.api, server.api.replace("http://", "ws://"), key, creds["client_id"])


def _stream(ws: ClientConnection, frames: list[bytes], pace: float) -> list[dict[str, Any]]:
    """Send `frames` `pace` seconds apart while reading what comes back; the messages."""
    received: list[dict[str, Any]] = []

    def read() -> None:
        try:
            while True:
                message = json.loads(ws.recv())
                message["_received_at"] = time.time()
                received.append(message)
        except ConnectionClosed:
            return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    for frame in frames:
        try:
            ws.send(frame)
        except ConnectionClosed:  # closed by the server: what it said is in `received`
            break
        time.sleep(pace)
    return received


def _pcm_frames(samples: np.ndarray, seconds: float = 0.1) -> list[bytes]:
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    step = int(16_000 * seconds) * 2
    return [pcm[i : i + step] for i in range(0, len(pcm), step)]


def _wait_for_turn(received: list[dict[str, Any]], count: int = 1) -> list[dict[str, Any]]:
    wait_for(lambda: sum(m["type"] == "turn" for m in received) >= count, timeout=30)
    return [m for m in received if m["type"] == "turn"]


def test_spoken_turns_arrive_as_the_speaker_stops_and_confirm_stores_them(live: Live) -> None:
    session = live.session()
    with live.connect(session) as ws:
        assert ws.subprotocol == "voice.v1"
        ws.send(json.dumps({"type": "start", "encoding": "pcm_s16le", "hertz": 16000}))
        assert json.loads(ws.recv()) == {"type": "ready"}
        speech = np.concatenate([SILENCE[:4000], EARL_GREY])
        received = _stream(ws, _pcm_frames(speech), pace=0.1)  # real time
        # A partial while the customer is still speaking (however slow the machine:
        # the first one started is never skipped until the utterance ends).
        wait_for(lambda: any(m["type"] == "partial" and m["text"] for m in received), 30)
        for frame in _pcm_frames(SILENCE):  # then they stop
            ws.send(frame)
            time.sleep(0.05)
        turns = _wait_for_turn(received)
    cart = turns[0]["session"]["cart"]["lines"]
    assert [(line["sku"], line["quantity"]) for line in cart] == [("EARL_GREY", 1)]
    assert turns[0]["turn"]["transcript"]
    confirmed = httpx.post(f"{live.api}/voice/sessions/{session}/confirm", headers=live.headers)
    assert confirmed.status_code == 201, confirmed.text
    assert [i["sku"] for i in confirmed.json()["data"]["items"]] == ["EARL_GREY"]


def test_telephone_mulaw_and_an_end_message(live: Live) -> None:
    session = live.session()
    eight_khz = EARL_GREY[::2]  # 16 kHz -> 8 kHz (the clip holds nothing above 4 kHz)
    data = float_to_mulaw(np.concatenate([np.zeros(2000, np.float32), eight_khz]))
    frames = [data[i : i + 800] for i in range(0, len(data), 800)]  # 0.1 s each
    with live.connect(session) as ws:
        ws.send(json.dumps({"type": "start", "encoding": "mulaw", "hertz": 8000}))
        assert json.loads(ws.recv()) == {"type": "ready"}
        received = _stream(ws, frames, pace=0.05)
        ws.send(json.dumps({"type": "end"}))  # no trailing silence: the turn comes now
        turns = _wait_for_turn(received)
    skus = [line["sku"] for line in turns[0]["session"]["cart"]["lines"]]
    assert skus == ["EARL_GREY"]


def test_a_missing_or_wrong_token_is_refused_in_the_handshake(live: Live) -> None:
    session = live.session()
    for protocols in (["voice.v1"], ["voice.v1", "bearer.vk_" + "x" * 43]):
        with pytest.raises(InvalidStatus) as refused:
            live.connect(session, subprotocols=protocols)
        assert refused.value.response.status_code == 403
    with live.connect(
        session, subprotocols=None, additional_headers=live.headers
    ) as ws:  # Authorization works too
        ws.send(json.dumps({"type": "start", "encoding": "pcm_s16le", "hertz": 16000}))
        assert json.loads(ws.recv()) == {"type": "ready"}


def _closed_with(ws: ClientConnection) -> tuple[int | None, list[dict[str, Any]]]:
    messages = []
    try:
        while True:
            messages.append(json.loads(ws.recv(timeout=10)))
    except ConnectionClosed as closed:
        return (closed.rcvd.code if closed.rcvd else None), messages


@pytest.mark.parametrize(
    ("first", "code", "error"),
    [
        (b"\x00\x01" * 100, 1003, "START_EXPECTED"),
        ("not json", 1007, "VALIDATION_ERROR"),
        (json.dumps({"type": "start", "encoding": "opus"}), 1007, "VALIDATION_ERROR"),
    ],
)
def test_a_bad_start_closes_with_a_code_that_says_why(
    live: Live, first: str | bytes, code: int, error: str
) -> None:
    with live.connect(live.session()) as ws:
        ws.send(first)
        closed, messages = _closed_with(ws)
    assert closed == code and messages[-1]["code"] == error


def test_big_frames_fast_audio_and_a_second_stream_are_refused(live: Live) -> None:
    start = json.dumps({"type": "start", "encoding": "pcm_s16le", "hertz": 16000})
    session = live.session()
    with live.connect(session) as ws:
        ws.send(start)
        ws.recv()
        # A second stream on the same session while this one is open.
        with live.connect(session) as second:
            closed, messages = _closed_with(second)  # refused at once, before any start
        assert closed == 1008 and messages[-1]["code"] == "STREAM_IN_USE"
        ws.send(b"\x00" * (64 * 1024 + 2))
        closed, messages = _closed_with(ws)
    assert closed == 1009 and messages[-1]["code"] == "FRAME_TOO_LARGE"
    with live.connect(live.session()) as ws:
        ws.send(start)
        ws.recv()
        for frame in _pcm_frames(np.zeros(16_000 * 20, dtype=np.float32), seconds=1.0):
            try:
                ws.send(frame)  # 20 s of audio at once: far over 4x real time
            except ConnectionClosed:
                break
        closed, messages = _closed_with(ws)
    assert closed == 1008 and messages[-1]["code"] == "TOO_FAST"


def test_a_browsers_webm_is_decoded_as_it_arrives(live: Live) -> None:
    from tests.voice.speech.audio_factory import encode

    webm = encode(np.concatenate([SILENCE[:4000], EARL_GREY, SILENCE]), "webm")
    chunks = [webm[i : i + 2000] for i in range(0, len(webm), 2000)]  # MediaRecorder-sized
    session = live.session()
    with live.connect(session) as ws:
        ws.send(json.dumps({"type": "start", "encoding": "webm"}))
        assert json.loads(ws.recv()) == {"type": "ready"}
        received = _stream(ws, chunks, pace=0.05)
        turns = _wait_for_turn(received)
    skus = [line["sku"] for line in turns[0]["session"]["cart"]["lines"]]
    assert skus == ["EARL_GREY"]
    with live.connect(live.session()) as ws:
        ws.send(json.dumps({"type": "start", "encoding": "webm"}))
        ws.recv()
        for _ in range(40):  # a client keeps streaming; the next frame hears the verdict
            try:
                ws.send(b"this is not webm " * 64)
            except ConnectionClosed:
                break
            time.sleep(0.05)
        closed, messages = _closed_with(ws)
    assert closed == 1007 and messages[-1]["code"] == "AUDIO_INVALID"


def _token(live: Live, seconds: int) -> str:
    """An access token of the live till's client that expires in `seconds`."""
    return create_access_token(
        client_id=live.client_id, scopes=["voice"], credential_version=1, secret=JWT_SECRET,
        algorithm="HS256", issuer="voice-api", lifetime_seconds=seconds,
    )  # fmt: skip


def test_a_token_that_expires_mid_utterance_finishes_it_then_closes(live: Live) -> None:
    session = live.session()
    # JWTs count whole seconds: this one ends 2-3 s from now, while the customer speaks.
    expires_at = int(time.time()) + 3
    token = _token(live, 3)
    with live.connect(session, subprotocols=["voice.v1", f"bearer.{token}"]) as ws:
        ws.send(json.dumps({"type": "start", "encoding": "pcm_s16le", "hertz": 16000}))
        assert json.loads(ws.recv()) == {"type": "ready"}
        # Speech from about 1.3 s to 2.7 s, then silence.
        audio = np.concatenate([SILENCE, EARL_GREY, SILENCE, SILENCE, SILENCE])
        received = _stream(ws, _pcm_frames(audio), pace=0.1)  # real time
        wait_for(lambda: bool(received) and received[-1]["type"] == "error", timeout=15)
    kinds = [m["type"] for m in received if m["type"] != "partial"]
    assert kinds == ["turn", "error"] and received[-1]["code"] == "TOKEN_EXPIRED"
    # The utterance was still under way (its closing silence not yet heard) when the
    # token ended: it was finished and answered all the same.
    assert received[-2]["_received_at"] > expires_at
    skus = [line["sku"] for line in received[-2]["session"]["cart"]["lines"]]
    assert skus == ["EARL_GREY"]


def test_a_stream_and_each_utterance_count_against_the_clients_rate_limit(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    tmp = tmp_path_factory.mktemp("limited")
    database = f"sqlite+aiosqlite:///{tmp / 'app.db'}"
    upgrade(database)
    env = prod_env(
        tmp, database, WEB_CONCURRENCY="1", ASR_PRELOAD="true", RATE_LIMIT_DEFAULT="4/minute"
    )
    with prod_server(tmp, env) as server:
        wait_for(lambda: answers(server.api + "/readiness"), timeout=120)
        key = create_api_key(env, create_credentials(env, "limited till")["secret_id"])
        remember_secrets(key)
        live = Live(server.api, server.api.replace("http://", "ws://"), key, "")
        catalog = json.loads((DATA / "cafe_catalog.json").read_text())
        httpx.put(live.api + "/voice/catalog", json=catalog, headers=live.headers)  # 1
        session = live.session()  # 2
        with live.connect(session) as ws:  # 3: the handshake
            ws.send(json.dumps({"type": "start", "encoding": "pcm_s16le", "hertz": 16000}))
            assert json.loads(ws.recv()) == {"type": "ready"}
            speech = np.concatenate([SILENCE[:4000], EARL_GREY, SILENCE])
            # 4: the first utterance, 5: the second, over the budget.
            received = _stream(ws, _pcm_frames(np.concatenate([speech, speech])), pace=0.05)
            wait_for(lambda: any(m["type"] == "error" for m in received), timeout=30)
        assert [m["code"] for m in received if m["type"] == "error"] == ["RATE_LIMIT_EXCEEDED"]
        assert sum(m["type"] == "turn" for m in received) == 1
        # A new stream is refused too, until the window ends.
        with live.connect(session) as ws:
            closed, messages = _closed_with(ws)
        assert closed == 1008 and messages[-1]["code"] == "RATE_LIMIT_EXCEEDED"
