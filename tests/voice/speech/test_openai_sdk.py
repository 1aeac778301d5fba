"""The OpenAI-compatible route through clients nobody here wrote: the official `openai`
package and curl, against the production server (gunicorn) with the real model."""

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import openai
import pytest

from src.platform.db.migrate import upgrade
from tests.conftest import DATA, assert_openai_error, remember_secrets
from tests.processes import (
    answers,
    create_api_key,
    create_credentials,
    prod_env,
    prod_server,
    wait_for,
)
from tests.voice.speech.audio_factory import wav_bytes, wav_claiming

CLIP = DATA / "audio" / "cafe-002.flac"  # "2 scones"
MAX_BODY_SIZE = 200_000
RATE_LIMIT = "30/10 seconds"


@dataclass
class Server:
    api: str
    env: dict[str, str]

    def new_key(self, name: str) -> str:
        """A fresh client and its API key, through the operator CLI."""
        key = create_api_key(self.env, create_credentials(self.env, name)["secret_id"])
        remember_secrets(key)
        return key

    def sdk(self, key: str, **options: object) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.api, api_key=key, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("openai")
    database = f"sqlite+aiosqlite:///{tmp / 'app.db'}"
    upgrade(database)
    env = prod_env(
        tmp,
        database,
        WEB_CONCURRENCY="1",
        ASR_PRELOAD="true",
        MAX_BODY_SIZE=str(MAX_BODY_SIZE),
        RATE_LIMIT_DEFAULT=RATE_LIMIT,
    )
    with prod_server(tmp, env) as running:
        wait_for(lambda: answers(running.api + "/readiness"), timeout=120)
        yield Server(running.api, env)


@pytest.fixture(scope="module")
def key(server: Server) -> str:
    return server.new_key("openai sdk")


@pytest.fixture(scope="module")
def catalog_key(server: Server) -> str:
    key = server.new_key("openai sdk with a catalog")
    catalog = json.loads((DATA / "cafe_catalog.json").read_text())
    response = httpx.put(
        server.api + "/voice/catalog", json=catalog, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.text
    return key


def test_every_response_format(server: Server, key: str) -> None:
    sdk = server.sdk(key)
    with CLIP.open("rb") as clip:
        plain = sdk.audio.transcriptions.create(file=clip, model="whisper-1")
    assert plain.text and plain.usage is not None and plain.usage.type == "duration"
    assert plain.usage.seconds == 2  # 1.93 s, rounded up as OpenAI bills it
    text = sdk.audio.transcriptions.create(
        file=CLIP.read_bytes(), model="whisper-1", response_format="text"
    )
    assert text == plain.text + "\n"
    srt = sdk.audio.transcriptions.create(file=CLIP, model="tiny.en", response_format="srt")
    assert srt.startswith("1\n00:00:00,000 --> 00:00:0") and plain.text in srt
    vtt = sdk.audio.transcriptions.create(file=CLIP, model="whisper-1", response_format="vtt")
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:0") and plain.text in vtt


def test_verbose_json_has_segments_and_words_only_when_asked(server: Server, key: str) -> None:
    sdk = server.sdk(key)
    verbose = sdk.audio.transcriptions.create(
        file=CLIP, model="whisper-1", response_format="verbose_json"
    )
    assert verbose.language == "english" and 1.9 < verbose.duration < 2.0
    assert verbose.words is None
    assert verbose.segments and verbose.segments[0].id == 0
    segment = verbose.segments[0]
    assert segment.tokens and 0 <= segment.start < segment.end <= verbose.duration
    assert segment.no_speech_prob >= 0 and segment.avg_logprob <= 0
    worded = sdk.audio.transcriptions.create(
        file=CLIP,
        model="whisper-1",
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
    )
    assert worded.words and worded.text == verbose.text
    assert " ".join(w.word for w in worded.words) == worded.text
    starts = [w.start for w in worded.words]
    assert starts == sorted(starts) and all(w.start <= w.end for w in worded.words)


def test_a_stream_of_deltas_then_the_whole_text(server: Server, key: str) -> None:
    events = list(
        server.sdk(key).audio.transcriptions.create(file=CLIP, model="whisper-1", stream=True)
    )
    assert [e.type for e in events[:-1]] == ["transcript.text.delta"] * (len(events) - 1)
    assert len(events) >= 2 and events[-1].type == "transcript.text.done"
    deltas = "".join(e.delta for e in events[:-1])  # type: ignore[union-attr]
    assert events[-1].text == deltas.strip()  # type: ignore[union-attr]


def test_the_catalog_and_the_prompt_reach_the_recogniser(
    server: Server, key: str, catalog_key: str
) -> None:
    earl_grey = DATA / "audio" / "cafe-022.flac"  # "give me a medium earl grey"

    def heard(api_key: str, prompt: str | None = None) -> str:
        sdk = server.sdk(api_key)
        options = {"prompt": prompt} if prompt else {}
        return sdk.audio.transcriptions.create(file=earl_grey, model="whisper-1", **options).text

    plain = heard(key)
    assert "earl grey" not in plain.lower()  # tiny.en alone hears "Earl Ray"
    assert "earl grey" in heard(catalog_key).lower()  # the menu's words, heard as such
    assert "earl grey" in heard(key, prompt="A cup of Earl Grey tea.").lower()


def test_errors_reach_the_sdk_as_its_own_exceptions(server: Server, key: str) -> None:
    sdk = server.sdk(key, max_retries=0)

    def refused(kind: type[openai.APIStatusError], status: int, code: str, **kw: object) -> None:
        started = time.perf_counter()
        with pytest.raises(kind) as caught:
            sdk.audio.transcriptions.create(**{"file": CLIP, "model": "whisper-1", **kw})  # type: ignore[call-overload]
        assert time.perf_counter() - started < 1.0, code  # refused before any decode
        assert caught.value.status_code == status
        assert isinstance(caught.value.body, dict) and caught.value.body["code"] == code
        assert_openai_error(caught.value.response, status, code)

    with pytest.raises(openai.AuthenticationError) as caught:
        server.sdk("vk_" + "x" * 43, max_retries=0).audio.transcriptions.create(
            file=CLIP, model="whisper-1"
        )
    assert assert_openai_error(caught.value.response, 401, "invalid_token")["type"] == (
        "authentication_error"
    )
    refused(openai.NotFoundError, 404, "model_not_found", model="gpt-9")
    refused(openai.BadRequestError, 400, "bad_request", timestamp_granularities=["word"])
    refused(openai.UnprocessableEntityError, 422, "validation_error", response_format="xml")
    refused(openai.UnprocessableEntityError, 422, "validation_error", temperature=3)
    refused(openai.APIStatusError, 415, "unsupported_media_type", file=b"not audio at all")
    # 30 minutes by its header: refused from the header, without decoding a sample.
    thirty_minutes = wav_claiming(30 * 60 * 32_000)
    refused(openai.UnprocessableEntityError, 422, "audio_invalid", file=thirty_minutes)
    too_big = wav_bytes(__import__("numpy").zeros(MAX_BODY_SIZE // 2 + 1000, dtype="float32"))
    refused(openai.APIStatusError, 413, "payload_too_large", file=too_big)


def test_curl_as_the_readme_shows_it(server: Server, key: str) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    out = subprocess.run(
        ["curl", "-sS", "-H", f"Authorization: Bearer {key}", "-F", f"file=@{CLIP}",
         "-F", "model=whisper-1", server.api + "/audio/transcriptions"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert json.loads(out)["text"]
    models = server.sdk(key).models.list()
    assert [m.id for m in models.data] == ["whisper-1", "tiny.en"]
    assert server.sdk(key).models.retrieve("whisper-1").id == "whisper-1"
    with pytest.raises(openai.NotFoundError):
        server.sdk(key, max_retries=0).models.retrieve("gpt-9")


def test_a_429_says_when_to_retry_and_the_sdk_waits_that_long(server: Server) -> None:
    key = server.new_key("openai sdk rate limit")
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client() as http:
        statuses = [
            http.get(server.api + "/models", headers=headers).status_code for _ in range(30)
        ]
    assert statuses == [200] * 30
    with pytest.raises(openai.RateLimitError) as caught:
        server.sdk(key, max_retries=0).models.list()
    error = assert_openai_error(caught.value.response, 429, "rate_limit_exceeded")
    assert error["type"] == "rate_limit_error"
    retry_after = int(caught.value.response.headers["retry-after"])
    assert 1 <= retry_after <= 10
    # The SDK's own retry honours Retry-After and then succeeds.
    started = time.perf_counter()
    result = server.sdk(key, max_retries=3).audio.transcriptions.create(
        file=CLIP, model="whisper-1"
    )
    assert result.text
    assert time.perf_counter() - started >= retry_after - 1.5


def test_streams_left_early_give_their_decode_slot_back(server: Server, key: str) -> None:
    # One decode slot per worker (ASR_MAX_CONCURRENCY=1): a slot kept by an abandoned
    # stream would make the next request wait ASR_QUEUE_TIMEOUT and get 503.
    headers = {"Authorization": f"Bearer {key}"}
    long_clip = (DATA / "audio" / "fastfood-103.flac").read_bytes()
    for _ in range(5):
        with (
            httpx.Client(timeout=30) as http,
            http.stream(
                "POST", server.api + "/audio/transcriptions", headers=headers,
                files={"file": ("clip.flac", long_clip)}, data={"stream": "true"},
            ) as response,
        ):  # fmt: skip
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            next(response.iter_lines())  # the first event, then the client goes
    sdk = server.sdk(key, max_retries=0)
    assert sdk.audio.transcriptions.create(file=CLIP, model="whisper-1").text
