"""The OpenAI-compatible route in-process: what the SDK tests cannot send (no file, a
JSON body, no credentials), silence, a busy decoder, and errors in OpenAI's shape."""

from typing import Any

import httpx
import orjson
import pytest

from src.auth import api_keys
from tests.conftest import (
    DATA,
    RunningApp,
    assert_openai_error,
    cafe_catalog,
    create_api_client,
    remember_secrets,
)
from tests.voice.speech.audio_factory import encode, tone, wav_bytes

pytestmark = pytest.mark.anyio

ROUTE = "/api/v1/audio/transcriptions"
CLIP = (DATA / "audio" / "cafe-002.flac").read_bytes()


@pytest.fixture
async def key_headers(lifespan: RunningApp, merchant: dict[str, Any]) -> dict[str, str]:
    async with lifespan.state["sessionmaker"]() as session:
        issued = await api_keys.create_api_key(
            db_session=session, secret_id=merchant["secret_id"], name="route tests"
        )
    remember_secrets(issued.api_key)
    return {"Authorization": f"Bearer {issued.api_key}"}


async def test_no_file_a_json_body_and_no_credentials(
    client: httpx.AsyncClient, key_headers: dict[str, str]
) -> None:
    # multipart with a field but no file part
    missing = await client.post(ROUTE, files={"model": (None, "whisper-1")}, headers=key_headers)
    assert assert_openai_error(missing, 422, "validation_error")["param"] == "file"
    for body in ({"json": {"file": "x"}}, {"data": {"model": "whisper-1"}}):  # JSON, a form
        refused = await client.post(ROUTE, headers=key_headers, **body)  # type: ignore[arg-type]
        assert_openai_error(refused, 415, "unsupported_media_type")
    anonymous = await client.post(ROUTE, files={"file": ("a.flac", CLIP)})
    error = assert_openai_error(anonymous, 401, "authentication_required")
    assert error["type"] == "authentication_error"
    assert anonymous.headers["www-authenticate"] == "Bearer"
    unknown_path = await client.get("/api/v1/audio/translations", headers=key_headers)
    assert_openai_error(unknown_path, 404, "not_found")


async def test_an_english_only_model_refuses_another_language_before_decoding(
    client: httpx.AsyncClient, key_headers: dict[str, str]
) -> None:
    for language, status, code in (("vi", 400, "bad_request"), ("xx", 422, "validation_error")):
        response = await client.post(
            ROUTE, files={"file": ("a.flac", CLIP)}, data={"language": language},
            headers=key_headers,
        )  # fmt: skip
        assert assert_openai_error(response, status, code)["param"] == "language"
    english = await client.post(
        ROUTE, files={"file": ("a.flac", CLIP)}, data={"language": "EN"}, headers=key_headers
    )
    assert english.status_code == 200 and english.json()["text"]


async def test_silence_and_noise_are_heard_as_nothing(
    client: httpx.AsyncClient, key_headers: dict[str, str]
) -> None:
    hum = encode(tone(2.0, frequency=120.0) * 0.05, "flac")
    response = await client.post(
        ROUTE, files={"file": ("hum.flac", hum)}, data={"response_format": "verbose_json"},
        headers=key_headers,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["text"] == "" and body["segments"] == [] and body["duration"] == 2.0
    streamed = await client.post(
        ROUTE, files={"file": ("hum.flac", hum)}, data={"stream": "true"}, headers=key_headers
    )
    assert streamed.headers["content-type"].startswith("text/event-stream")
    events = [orjson.loads(line[6:]) for line in streamed.text.splitlines() if line]
    assert events == [{"type": "transcript.text.done", "text": ""}]


async def test_unknown_fields_are_ignored_and_the_last_value_counts(
    client: httpx.AsyncClient, key_headers: dict[str, str]
) -> None:
    response = await client.post(
        ROUTE,
        files={"file": ("a.wav", wav_bytes(tone(0.5) * 0))},  # silent: refused as audio
        data={"include[]": "logprobs", "chunking_strategy": "auto", "model": "whisper-1"},
        headers=key_headers,
    )
    assert assert_openai_error(response, 422, "audio_invalid")["param"] == "file"
    fine = await client.post(
        ROUTE,
        files={"file": ("a.flac", CLIP)},
        data={"include[]": "logprobs", "chunking_strategy": "auto", "response_format": "text"},
        headers=key_headers,
    )
    assert fine.status_code == 200 and fine.headers["content-type"].startswith("text/plain")


async def test_a_busy_decoder_says_retry(
    lifespan: RunningApp, client: httpx.AsyncClient, key_headers: dict[str, str]
) -> None:
    speech = lifespan.state["speech"]
    await speech.slots.acquire("another client", timeout=1)  # the only slot
    try:
        response = await client.post(ROUTE, files={"file": ("a.flac", CLIP)}, headers=key_headers)
    finally:
        speech.slots.release("another client")
    assert_openai_error(response, 503, "service_busy")  # x-should-retry: true
    assert response.headers["retry-after"] == "1"


async def test_a_catalog_uploaded_now_biases_the_next_transcription(
    lifespan: RunningApp, client: httpx.AsyncClient
) -> None:
    # A client without a catalog (remembered as such for CATALOG_CACHE_SECONDS) that
    # uploads one: this process uses it at once.
    creds = await create_api_client(lifespan, "no menu yet")
    async with lifespan.state["sessionmaker"]() as session:
        issued = await api_keys.create_api_key(
            db_session=session, secret_id=creds["secret_id"], name="menu later"
        )
    remember_secrets(issued.api_key)
    headers = {"Authorization": f"Bearer {issued.api_key}"}
    earl_grey = (DATA / "audio" / "cafe-022.flac").read_bytes()

    async def heard() -> str:
        response = await client.post(ROUTE, files={"file": ("a.flac", earl_grey)}, headers=headers)
        assert response.status_code == 200, response.text
        return str(response.json()["text"]).lower()

    assert "earl grey" not in await heard()
    put = await client.put("/api/v1/voice/catalog", json=cafe_catalog(), headers=headers)
    assert put.status_code == 200
    assert "earl grey" in await heard()
