"""Live audio into an order session: `GET /voice/sessions/{id}/stream` (WebSocket).

The client sends `{"type": "start", "encoding", "hertz"}`, then binary audio frames;
the server answers `ready`, `partial` transcripts while the customer speaks, and a
`turn` (the session and the turn, as `POST .../turns` answers) each time voice
activity detection hears the speaker stop, or on `{"type": "end"}`. Errors are
`{"type": "error", "code", "msg"}` followed by a close with a code that says why.
"""

import asyncio
import contextlib
import logging
import time
from typing import Any

import anyio.to_thread
import numpy as np
import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.websockets import WebSocketState

from src.auth.dependencies import API_SCOPES, client_for_bearer, spend_request
from src.auth.service import AuthenticatedClient
from src.exceptions import DomainError, ServiceBusy
from src.platform.http.context import client_id_var
from src.platform.observability.metrics import (
    LIVE_PARTIALS,
    LIVE_STREAMS_ACTIVE,
    LIVE_STREAMS_CLOSED,
    LIVE_UTTERANCES,
)
from src.voice.catalog.service import PreparedCatalog, get_recent_prepared_catalog
from src.voice.exceptions import AudioInvalid
from src.voice.sessions import service
from src.voice.sessions.stream_lease import StreamLease
from src.voice.speech.audio import SAMPLE_RATE
from src.voice.speech.engine import AudioInput
from src.voice.speech.service import SpeechService
from src.voice.speech.stream import (
    ENCODINGS,
    MAX_REAL_TIME_FACTOR,
    Endpointer,
    FrameRefused,
    LiveAudio,
    silero_speech,
)
from src.voice.speech.webm_stream import WebmAudio

logger = logging.getLogger(__name__)
router = APIRouter()

SUBPROTOCOL = "voice.v1"
BEARER_PREFIX = "bearer."
IDLE_SECONDS = 30.0
# A partial transcript about this often while speech goes on (skipped while a decode
# of this stream is still running: partials never queue).
PARTIAL_EVERY_SECONDS = 0.75
# No partial once the speaker has been silent this long: the utterance may be ending,
# and its final decode should not wait behind a partial for the decode slot.
PARTIAL_SILENCE_SECONDS = 0.25
# Audio may arrive ahead of real time by this much before the rate limit applies.
RATE_SLACK_SECONDS = 2.0

# Close codes (RFC 6455): policy (auth, rate), unsupported data, invalid payload,
# too big, server error.
POLICY, UNSUPPORTED, INVALID, TOO_BIG, SERVER_ERROR = 1008, 1003, 1007, 1009, 1011


class StreamClosed(Exception):
    """The stream ends with this close code, after an error message to the client."""

    def __init__(self, close_code: int, code: str, msg: str) -> None:
        super().__init__(msg)
        self.close_code, self.code, self.msg = close_code, code, msg


def _bearer(websocket: WebSocket) -> tuple[str | None, bool]:
    """The token (subprotocol `bearer.<token>` or Authorization), and whether the client
    offered our subprotocol."""
    offered = [
        p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",") if p
    ]
    for protocol in offered:
        if protocol.startswith(BEARER_PREFIX):
            return protocol.removeprefix(BEARER_PREFIX), SUBPROTOCOL in offered
    authorization = websocket.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token:
        return token.strip(), SUBPROTOCOL in offered
    return None, SUBPROTOCOL in offered


async def _authenticate(websocket: WebSocket, token: str | None) -> AuthenticatedClient | None:
    if token is None:
        return None
    try:
        client = await client_for_bearer(websocket, token)
    except DomainError:
        return None
    if any(scope not in client.scopes for scope in API_SCOPES):
        return None
    return client


async def _send(websocket: WebSocket, message: dict[str, Any]) -> None:
    await websocket.send_text(orjson.dumps(message).decode())


class LiveTurns:
    """One stream of one session: audio in, partials and turns out."""

    def __init__(self, websocket: WebSocket, client: AuthenticatedClient, session_id: str) -> None:
        self.websocket = websocket
        self.client = client
        self.session_id = session_id
        state = websocket.state
        self.lease = StreamLease(state.sessionmaker, client.client_id, session_id)
        self.speech: SpeechService = state.speech
        self.sessionmaker = state.sessionmaker
        self.caches = state.catalog_caches
        self.settings = websocket.app.state.settings
        self.endpointer = Endpointer(silero_speech)
        self.partial_task: asyncio.Task[None] | None = None
        self.audio: LiveAudio | WebmAudio | None = None
        self.last_partial = 0.0

    async def run(self) -> None:
        self.audio = audio = await self._start()
        started = time.monotonic()
        await _send(self.websocket, {"type": "ready"})
        while True:
            try:
                message = await asyncio.wait_for(self.websocket.receive(), IDLE_SECONDS)
            except TimeoutError:
                raise StreamClosed(POLICY, "IDLE", f"no audio for {IDLE_SECONDS:g} s") from None
            if message["type"] == "websocket.disconnect":
                return
            if not await self.lease.keep():
                raise StreamClosed(POLICY, "STREAM_IN_USE", "another stream took the session")
            if message.get("bytes") is not None:
                await self._audio(audio, message["bytes"], started)
            elif message.get("text") is not None and self._control(message["text"]) == "end":
                self.endpointer.add(self._flushed(audio))
                await self._finish_utterance()

    async def _start(self) -> LiveAudio | WebmAudio:
        try:
            message = await asyncio.wait_for(self.websocket.receive(), IDLE_SECONDS)
        except TimeoutError:
            raise StreamClosed(POLICY, "IDLE", "no start message") from None
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect()
        if message.get("text") is None:
            raise StreamClosed(UNSUPPORTED, "START_EXPECTED", "send the start message first")
        start = self._json(message["text"])
        encoding, hertz = start.get("encoding"), start.get("hertz", 16_000)
        if start.get("type") != "start" or encoding not in ENCODINGS:
            raise StreamClosed(
                INVALID, "VALIDATION_ERROR", f"start with an encoding of {', '.join(ENCODINGS)}"
            )
        if encoding == "webm":
            return WebmAudio()  # its rate is in the stream
        if encoding == "mulaw":
            hertz = 8_000
        if not isinstance(hertz, int) or not 8_000 <= hertz <= 48_000:
            raise StreamClosed(INVALID, "VALIDATION_ERROR", "hertz is 8000-48000")
        return LiveAudio(encoding, hertz)

    def _json(self, text: str) -> dict[str, Any]:
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise StreamClosed(INVALID, "VALIDATION_ERROR", "messages are JSON") from None
        if not isinstance(value, dict):
            raise StreamClosed(INVALID, "VALIDATION_ERROR", "messages are JSON objects")
        return value

    def _control(self, text: str) -> str:
        kind = self._json(text).get("type")
        if kind != "end":
            raise StreamClosed(INVALID, "VALIDATION_ERROR", f"unknown message type {kind!r}")
        return "end"

    @staticmethod
    def _flushed(audio: LiveAudio | WebmAudio) -> np.ndarray:
        try:
            return audio.flush()
        except AudioInvalid as exc:
            raise StreamClosed(INVALID, "AUDIO_INVALID", exc.reason) from None

    async def _audio(self, audio: LiveAudio | WebmAudio, frame: bytes, started: float) -> None:
        try:
            samples = audio.take(frame)
        except FrameRefused as exc:
            raise StreamClosed(TOO_BIG, "FRAME_TOO_LARGE", str(exc)) from None
        except AudioInvalid as exc:
            raise StreamClosed(INVALID, "AUDIO_INVALID", exc.reason) from None
        elapsed = time.monotonic() - started
        if audio.seconds > MAX_REAL_TIME_FACTOR * elapsed + RATE_SLACK_SECONDS:
            raise StreamClosed(
                POLICY, "TOO_FAST", f"audio arrives over {MAX_REAL_TIME_FACTOR:g}x real time"
            )
        if self._expired() and not self.endpointer.heard_speech:
            raise StreamClosed(POLICY, "TOKEN_EXPIRED", "the access token expired")
        # Voice activity (Silero, a few ms each 0.2 s of audio) off the event loop.
        ended = await anyio.to_thread.run_sync(self.endpointer.add, samples)
        if self.endpointer.seconds > self.settings.ASR_MAX_AUDIO_SECONDS:
            raise StreamClosed(
                TOO_BIG,
                "AUDIO_INVALID",
                f"an utterance is at most {self.settings.ASR_MAX_AUDIO_SECONDS:g} s",
            )
        if ended:
            await self._finish_utterance()
            if self._expired():  # the utterance under way was finished first
                raise StreamClosed(POLICY, "TOKEN_EXPIRED", "the access token expired")
        elif self.endpointer.heard_speech:
            self._maybe_partial()

    def _expired(self) -> bool:
        expires = self.client.expires_at
        return expires is not None and time.time() > expires

    def _maybe_partial(self) -> None:
        now = time.monotonic()
        busy = self.partial_task is not None and not self.partial_task.done()
        pausing = self.endpointer.trailing_silence > PARTIAL_SILENCE_SECONDS
        if busy or pausing or now - self.last_partial < PARTIAL_EVERY_SECONDS:
            return
        self.last_partial = now
        self.partial_task = asyncio.create_task(self._partial(self.endpointer.utterance()))

    async def _partial(self, samples: np.ndarray) -> None:
        try:
            text = await self.speech.transcribe_partial(
                samples, client=self.client.client_id, hotwords=await self._hotwords()
            )
        except DomainError:
            LIVE_PARTIALS.labels(outcome="skipped").inc()
            return  # every slot busy: this partial is skipped, the final never is
        if text:
            LIVE_PARTIALS.labels(outcome="sent").inc()
            await _send(self.websocket, {"type": "partial", "text": text})

    async def _hotwords(self) -> str | None:
        """The catalog's hot words (the catalog is cached: rarely a database read)."""
        async with self.sessionmaker() as db_session:
            catalog = await self._catalog(db_session)
        return self.speech.hotwords_for(catalog.speech_phrases) if catalog else None

    async def _catalog(self, db_session: AsyncSession) -> PreparedCatalog | None:
        return await get_recent_prepared_catalog(
            db_session=db_session,
            caches=self.caches,
            client_id=self.client.client_id,
            max_age=self.settings.CATALOG_CACHE_SECONDS,
        )

    async def _finish_utterance(self) -> None:
        samples = self.endpointer.utterance()
        heard_speech = self.endpointer.heard_speech
        self.endpointer.reset()
        if self.partial_task is not None:
            self.partial_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.partial_task
            self.partial_task = None
        if not heard_speech or samples.size < 0.2 * SAMPLE_RATE:
            return
        # An utterance does a turn's work: it is counted as the request a turn would be.
        wait = await spend_request(self.websocket, self.client)
        if wait is not None:
            raise StreamClosed(POLICY, "RATE_LIMIT_EXCEEDED", f"rate limit: retry in {wait} s")
        async with self.sessionmaker() as db_session:
            catalog = await self._catalog(db_session)
            if catalog is None:
                raise StreamClosed(POLICY, "VALIDATION_ERROR", "no catalog: PUT /voice/catalog")
            try:
                result = await service.take_turn(
                    db_session=db_session,
                    settings=self.settings,
                    client_id=self.client.client_id,
                    session_id=self.session_id,
                    text=None,
                    audio=_pcm(samples),
                    speech=self.speech,
                    catalog=catalog,
                    if_match=None,
                    request_id=None,
                )
            except ServiceBusy:
                await _send(self.websocket, {"type": "error", "code": "SERVICE_BUSY",
                                             "msg": "every decoder is busy; that utterance "
                                             "was not heard, say it again"})  # fmt: skip
                return
        LIVE_UTTERANCES.inc()
        await _send(self.websocket, {"type": "turn", **result.jsonable()})


def _pcm(samples: np.ndarray) -> AudioInput:
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    return AudioInput(data=pcm, encoding="pcm_s16le", hertz=SAMPLE_RATE)


@router.websocket("/sessions/{session_id}/stream")
async def stream_session(websocket: WebSocket, session_id: str) -> None:
    """Live audio into an open order session (see the module's docstring)."""
    token, offered = _bearer(websocket)
    client = await _authenticate(websocket, token)
    if client is None:
        logger.info("live stream refused: no valid bearer token")
        await websocket.close(code=POLICY)
        return
    client_id_var.set(client.client_id)
    async with websocket.state.sessionmaker() as db_session:
        try:
            session = await service.read_session(
                db_session=db_session, client_id=client.client_id, session_id=session_id
            )
        except DomainError:
            await websocket.close(code=POLICY, reason="no such session")
            return
    await websocket.accept(subprotocol=SUBPROTOCOL if offered else None)
    live = LiveTurns(websocket, client, session_id)
    try:
        if session.status != "open":
            raise StreamClosed(POLICY, "SESSION_CLOSED", f"the session is {session.status}")
        wait = await spend_request(websocket, client)
        if wait is not None:
            raise StreamClosed(POLICY, "RATE_LIMIT_EXCEEDED", f"rate limit: retry in {wait} s")
        if not await live.lease.claim():
            raise StreamClosed(POLICY, "STREAM_IN_USE", "the session already has a stream")
        LIVE_STREAMS_ACTIVE.inc()
        try:
            await live.run()
        finally:
            LIVE_STREAMS_ACTIVE.dec()
        LIVE_STREAMS_CLOSED.labels(reason="done").inc()
    except StreamClosed as closed:
        LIVE_STREAMS_CLOSED.labels(reason=closed.code).inc()
        logger.info("live stream closed", extra={"code": closed.code, "reason": closed.msg})
        with contextlib.suppress(Exception):
            await _send(websocket, {"type": "error", "code": closed.code, "msg": closed.msg})
            await websocket.close(code=closed.close_code)
    except WebSocketDisconnect:
        LIVE_STREAMS_CLOSED.labels(reason="done").inc()
    except DomainError as error:
        LIVE_STREAMS_CLOSED.labels(reason=error.code).inc()
        with contextlib.suppress(Exception):
            await _send(websocket, {"type": "error", "code": error.code, "msg": error.code})
            await websocket.close(code=POLICY if error.status_code < 500 else SERVER_ERROR)
    except Exception:  # a send to a client already gone, or a bug: logged, closed 1011
        LIVE_STREAMS_CLOSED.labels(reason="INTERNAL_ERROR").inc()
        logger.warning("live stream failed", exc_info=True)
    finally:
        if live.partial_task is not None:
            live.partial_task.cancel()
        if live.audio is not None:
            # A webm decoder thread ends with its input (in a thread: it may be busy).
            await asyncio.to_thread(live.audio.close)
        try:
            await live.lease.release()
        except Exception:  # the database is away: the lease runs out on its own
            logger.warning("live stream lease not given back", exc_info=True)
        if websocket.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close()
