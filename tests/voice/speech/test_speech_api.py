"""Speech through the API with the real bundled model: transcripts, audio orders, refusals."""

import asyncio
import base64
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from prometheus_client import REGISTRY

from src.voice.speech.audio import decode_audio
from src.voice.speech.engine import AudioInput, SpeechModel, has_speech, slowed
from src.voice.speech.service import SpeechService
from tests.conftest import DATA, RunningApp, assert_envelope_error, load_catalog
from tests.voice.speech.audio_factory import (
    brown_noise,
    chord,
    cough,
    melody,
    samples_of,
    tone,
    wav_bytes,
)

pytestmark = pytest.mark.anyio

AUDIO = Path(__file__).parents[2] / "data" / "audio"
SPEECH = "/api/v1/voice/speech"
ORDER = "/api/v1/voice/order"


def clip(name: str) -> bytes:
    return (AUDIO / f"{name}.flac").read_bytes()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def lines(response: httpx.Response) -> list[tuple[str, int, list[str]]]:
    assert response.status_code == 201, response.text
    return sorted(
        (i["sku"], i["quantity"], i["modifiers"]) for i in response.json()["data"]["items"]
    )


async def test_json_speech_transcribes_real_audio(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    response = await client.post(
        SPEECH, json={"audio": b64(clip("cafe-002")), "language": "en"}, headers=merchant["headers"]
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert "scones" in data["text"].lower()
    assert data["language"] == "en"
    assert data["duration"] == pytest.approx(1.5, abs=1.0)
    assert data["segments"] and data["segments"][0]["text"] == data["text"]


async def test_multipart_speech_gives_the_same_text(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    as_json = await client.post(
        SPEECH, json={"audio": b64(clip("cafe-022"))}, headers=merchant["headers"]
    )
    as_form = await client.post(
        SPEECH,
        files={"file": ("order.flac", clip("cafe-022"), "audio/flac")},
        data={"language": "en"},
        headers=merchant["headers"],
    )
    assert as_form.status_code == 200, as_form.text
    assert as_form.json()["data"]["text"] == as_json.json()["data"]["text"]
    assert "earl grey" in as_form.json()["data"]["text"].lower()


async def test_raw_pcm_with_hertz_is_transcribed(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    samples = decode_audio(clip("cafe-002"), encoding=None, hertz=None, max_seconds=60).samples
    pcm = (samples * 32767).astype("<i2").tobytes()
    response = await client.post(
        SPEECH,
        json={"audio": b64(pcm), "encoding": "pcm_s16le", "hertz": 16000},
        headers=merchant["headers"],
    )
    assert response.status_code == 200, response.text
    assert "scones" in response.json()["data"]["text"].lower()


@pytest.mark.parametrize("name", ["cafe-002", "cafe-022"])
async def test_audio_order_equals_its_transcript_typed(
    client: httpx.AsyncClient, merchant: dict[str, Any], name: str
) -> None:
    spoken = await client.post(
        ORDER, json={"audio": b64(clip(name)), "encoding": "flac"}, headers=merchant["headers"]
    )
    transcript = spoken.json()["data"]["transcript"]
    assert transcript
    typed = await client.post(ORDER, json={"text": transcript}, headers=merchant["headers"])
    assert lines(spoken) == lines(typed)
    stored = await client.get(
        f"{ORDER}s/{spoken.json()['data']['order_id']}", headers=merchant["headers"]
    )
    assert stored.json()["data"]["transcript"] == transcript


async def test_spoken_number_homophones_are_numbers(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    # tiny.en hears "Two hot chocolates" as "to hot chocolate" (on this CPU; int8
    # kernels differ between CPUs, so the clip was chosen for a stable reading).
    await client.put(
        "/api/v1/voice/catalog", json=load_catalog("cafe"), headers=merchant["headers"]
    )
    response = await client.post(
        ORDER, json={"audio": b64(clip("cafe-009"))}, headers=merchant["headers"]
    )
    assert lines(response) == [("HOT_CHOCOLATE", 2, [])]


async def test_audio_order_replay_does_not_transcribe_again(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    headers = {**merchant["headers"], "Idempotency-Key": "speech-replay-1"}
    body = {"audio": b64(clip("cafe-002"))}
    first = await client.post(ORDER, json=body, headers=headers)
    assert first.status_code == 201, first.text
    heard = REGISTRY.get_sample_value("speech_audio_seconds_total")
    again = await client.post(ORDER, json=body, headers=headers)
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert REGISTRY.get_sample_value("speech_audio_seconds_total") == heard


@pytest.mark.parametrize(
    ("body", "status", "msg", "says"),
    [
        ({"audio": "not base64!!"}, 422, "AUDIO_INVALID", "base64"),
        ({"audio": ""}, 422, "AUDIO_INVALID", "empty"),
        ({"audio": b64(b"hello, this is text")}, 415, "UNSUPPORTED_MEDIA_TYPE", "unrecognised"),
        ({"audio": b64(b"\x01\x02" * 800), "encoding": "pcm_s16le"}, 422, "AUDIO_INVALID", "hertz"),
        ({"audio": b64(wav_bytes(np.zeros(16000, np.float32)))}, 422, "AUDIO_INVALID", "silent"),
        ({"audio": b64(clip("cafe-002")[:300])}, 422, "AUDIO_INVALID", ""),
        ({"audio": b64(wav_bytes(tone(61.0, hertz=8000), hertz=8000))}, 422, "AUDIO_INVALID", "longer than 60"),
        ({"audio": b64(b"\x00"), "encoding": "aac"}, 422, "VALIDATION_ERROR", ""),
        ({"audio": b64(b"\x00"), "hertz": 4000, "encoding": "pcm_s16le"}, 422, "VALIDATION_ERROR", ""),
        ({}, 422, "VALIDATION_ERROR", ""),
    ],
    ids=[
        "bad-base64", "empty", "unknown-format", "pcm-without-hertz", "silence",
        "truncated-flac", "too-long", "unknown-encoding", "hertz-out-of-range", "no-audio",
    ],
)  # fmt: skip
async def test_bad_audio_gets_a_clear_error(
    client: httpx.AsyncClient,
    merchant: dict[str, Any],
    body: dict[str, Any],
    status: int,
    msg: str,
    says: str,
) -> None:
    for url in (SPEECH, ORDER):
        response = await client.post(url, json=body, headers=merchant["headers"])
        data = assert_envelope_error(response, status, msg)
        assert says in str(data.get("errors"))
    orders = await client.get("/api/v1/voice/orders", headers=merchant["headers"])
    assert orders.json()["data"]["orders"] == []


async def test_other_content_types_are_415(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    response = await client.post(
        SPEECH,
        content=clip("cafe-002"),
        headers={**merchant["headers"], "Content-Type": "audio/flac"},
    )
    assert_envelope_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


async def test_multipart_without_a_file_part_is_422(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    response = await client.post(
        SPEECH, files={"other": ("x.flac", b"abc")}, data={"language": "en"},
        headers=merchant["headers"],
    )  # fmt: skip
    data = assert_envelope_error(response, 422, "VALIDATION_ERROR")
    assert data["errors"][0]["loc"] == ["body", "file"]


async def test_speech_needs_a_token(client: httpx.AsyncClient) -> None:
    response = await client.post(SPEECH, json={"audio": b64(clip("cafe-002"))})
    assert_envelope_error(response, 401, "AUTHENTICATION_REQUIRED")


async def test_full_queue_is_503_service_busy(
    lifespan: RunningApp, client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    speech = lifespan.state["speech"]
    # ASR_MAX_CONCURRENCY is 1: another client takes the only slot as a long decode would.
    await speech.slots.acquire("another client", timeout=1)
    try:
        response = await client.post(
            SPEECH, json={"audio": b64(clip("cafe-002"))}, headers=merchant["headers"]
        )
    finally:
        speech.slots.release("another client")
    assert_envelope_error(response, 503, "SERVICE_BUSY")
    assert response.headers["retry-after"] == "1"


async def test_event_loop_answers_while_speech_decodes(
    lifespan: RunningApp, client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    engine = lifespan.state["speech"]
    speech = asyncio.create_task(
        client.post(SPEECH, json={"audio": b64(clip("fastfood-103"))}, headers=merchant["headers"])
    )
    while engine.slots.in_use == 0 and not speech.done():
        await asyncio.sleep(0.005)
    answered = 0
    while not speech.done():
        health = await client.get("/api/v1/healthcheck")
        order = await client.post(ORDER, json={"text": "a latte"}, headers=merchant["headers"])
        assert health.status_code == 200 and order.status_code == 201
        answered += 1
    assert (await speech).status_code == 200
    # A blocked loop would have let through at most one round before the decode ended.
    assert answered >= 3


def second_listens() -> float:
    return REGISTRY.get_sample_value("speech_second_listens_total") or 0.0


def third_listens() -> float:
    return REGISTRY.get_sample_value("speech_third_listens_total") or 0.0


def accepting_after(
    rejections: int, asked: list[tuple[str, ...]]
) -> Callable[[Sequence[str]], bool]:
    """A reading check that notes what it is asked and rejects the first `rejections`."""

    def check(readings: Sequence[str]) -> bool:
        asked.append(tuple(readings))
        return len(asked) > rejections

    return check


async def test_a_reading_that_is_not_an_order_is_heard_again_slower(
    lifespan: RunningApp,
) -> None:
    engine = lifespan.state["speech"]
    asked: list[tuple[str, ...]] = []
    reject = accepting_after(99, asked)
    before, third_before = second_listens(), third_listens()
    heard = await engine.transcribe(AudioInput(clip("cafe-022")), client="test", accept=reject)
    assert second_listens() == before + 1
    assert third_listens() == third_before + 1
    assert heard.second_listen and heard.third_listen
    # Asked after each listen, about every reading so far: the first listen's stay
    # first and in order, each slower listen's follow.
    assert len(asked) == 3
    assert asked[1][: len(asked[0])] == asked[0]
    assert asked[2][: len(asked[1])] == asked[1]
    readings = (heard.text, *heard.alternatives)
    assert readings == asked[2]
    original = decode_audio(clip("cafe-022"), encoding=None, hertz=None, max_seconds=60)
    assert heard.duration == pytest.approx(original.duration, abs=0.01)  # as sent, not slowed

    await engine.transcribe(AudioInput(clip("cafe-022")), client="test", accept=lambda _: True)
    assert second_listens() == before + 1
    assert third_listens() == third_before + 1


async def test_readings_that_read_cleanly_after_the_second_listen_need_no_third(
    lifespan: RunningApp,
) -> None:
    engine = lifespan.state["speech"]
    asked: list[tuple[str, ...]] = []
    before, third_before = second_listens(), third_listens()
    heard = await engine.transcribe(
        AudioInput(clip("cafe-022")), client="test", accept=accepting_after(1, asked)
    )
    assert len(asked) == 2
    assert heard.second_listen and not heard.third_listen
    assert (second_listens(), third_listens()) == (before + 1, third_before)


async def test_an_operator_can_turn_the_third_listen_off(lifespan: RunningApp) -> None:
    engine = lifespan.state["speech"].model
    two_listens = SpeechModel(engine._model, replace(engine.options, third_listen=False))
    asked: list[tuple[str, ...]] = []
    reject = accepting_after(99, asked)
    heard = await asyncio.to_thread(
        two_listens.transcribe, AudioInput(clip("cafe-022")), None, reject
    )
    assert heard.second_listen and not heard.third_listen
    assert len(asked) == 2


async def test_only_orders_that_do_not_read_cleanly_cost_a_second_listen(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    await client.put(
        "/api/v1/voice/catalog", json=load_catalog("cafe"), headers=merchant["headers"]
    )
    before = second_listens()
    clean = await client.post(
        ORDER, json={"audio": b64(clip("cafe-009"))}, headers=merchant["headers"]
    )
    assert lines(clean) == [("HOT_CHOCOLATE", 2, [])]
    assert second_listens() == before
    transcribed = await client.post(
        SPEECH, json={"audio": b64(clip("fastfood-103"))}, headers=merchant["headers"]
    )
    assert transcribed.status_code == 200
    assert second_listens() == before  # plain transcription never listens twice

    third_before = third_listens()
    # Nuggets are not sold here: the words stay unmatched after all three listens.
    off_menu = await client.post(
        ORDER, json={"audio": b64(clip("fastfood-103"))}, headers=merchant["headers"]
    )
    assert off_menu.status_code == 422, off_menu.text
    assert off_menu.json()["msg"] == "NOTHING_ORDERED"
    assert off_menu.json()["data"]["unmatched"]
    assert second_listens() == before + 1
    assert third_listens() == third_before + 1


def test_slowed_audio_is_longer_and_keeps_its_shape() -> None:
    ramp = np.linspace(-1.0, 1.0, 16000, dtype=np.float32)
    slower = slowed(ramp)
    assert slower.dtype == np.float32
    assert len(slower) == 17600
    assert slower[0] == ramp[0] and slower[-1] == ramp[-1]
    assert np.all(np.diff(slower) > 0)  # still a ramp, only longer


NOT_SPEECH = {
    "silence": lambda: np.zeros(3 * 16000, dtype=np.float32),
    "white noise": lambda: np.random.default_rng(7).uniform(-0.5, 0.5, 48000).astype(np.float32),
    "brown noise": brown_noise,
    "a melody": melody,
    "a chord": chord,
    "a cough": cough,
    "a 440 Hz tone": lambda: tone(3.0),
}


@pytest.mark.parametrize("kind", sorted(NOT_SPEECH))
async def test_noise_and_silence_order_nothing(
    client: httpx.AsyncClient, merchant: dict[str, Any], kind: str
) -> None:
    """Whatever a recogniser hears in noise ("Thank you.") or in a menu's hot words
    prompted by it ("Cappuccino."), nothing is stored."""
    samples = NOT_SPEECH[kind]()
    response = await client.post(
        ORDER, json={"audio": b64(wav_bytes(samples))}, headers=merchant["headers"]
    )
    assert response.status_code == 422, response.text
    assert response.json()["msg"] in ("NOTHING_ORDERED", "AUDIO_INVALID")
    orders = await client.get("/api/v1/voice/orders", headers=merchant["headers"])
    assert orders.json()["data"]["orders"] == []


async def test_a_long_stretch_of_speech_is_never_taken_for_silence(
    lifespan: RunningApp,
) -> None:
    """tiny.en's no-speech probability grows with the speech in its window (20 s of
    an order: over 0.5), but it reads that speech fluently: the gate lets it through."""
    engine = lifespan.state["speech"]
    order = samples_of(AUDIO / "cafe-022.flac")
    twenty_seconds = np.tile(order, int(20 * 16000 / len(order)) + 1)[: 20 * 16000]
    heard = await engine.transcribe(AudioInput(wav_bytes(twenty_seconds)), client="test")
    assert heard.text.lower().count("earl") >= 5, heard.text


def test_the_recogniser_gate_stops_what_voice_activity_detection_lets_through() -> None:
    # Silero VAD hears speech in the melody and in the cough: the second gate, the
    # recogniser's own no-speech probability, is what keeps them from ordering (above).
    assert has_speech(melody())
    assert has_speech(cough())


async def test_a_partial_reading_hears_the_words_so_far(lifespan: RunningApp) -> None:
    speech: SpeechService = lifespan.state["speech"]
    clip = samples_of(DATA / "audio" / "cafe-022.flac")  # "give me a medium earl grey"
    hotwords = speech.hotwords_for(("Earl Grey", "Medium", "Latte"))
    whole = await speech.transcribe_partial(clip, client="partial", hotwords=hotwords)
    assert "medium earl grey" in whole.lower()
    first_half = await speech.transcribe_partial(clip[: clip.size // 2], client="partial")
    assert "give me" in first_half.lower() and "grey" not in first_half.lower()
    assert speech.slots.in_use == 0
