"""Slow clients against one gunicorn worker: a thousand slowloris connections do not
slow the healthcheck down, and every trickling connection is closed at the header
deadline; a body that trickles in is answered 408 at the body deadline."""

import asyncio
import os
import statistics
import time
from pathlib import Path

import httpx
import orjson

from src.platform.db.migrate import upgrade
from tests.processes import prod_env, prod_server

HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 2.0
SLOW_CONNECTIONS = 300 if os.environ.get("CI") == "true" else 1000


async def _trickle_headers(port: int, opened: list[float], closed: list[float]) -> bytes:
    """Send a request line, then one header line every half second, until closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    opened.append(time.monotonic())
    writer.write(b"GET /api/v1/healthcheck HTTP/1.1\r\nHost: shop\r\n")
    answer = b""
    try:
        for n in range(60):
            await writer.drain()
            try:
                chunk = await asyncio.wait_for(reader.read(4096), timeout=0.5)
            except TimeoutError:
                writer.write(b"X-Trickle-%d: x\r\n" % n)
                continue
            answer += chunk
            if not chunk:
                break
    except ConnectionError:
        pass
    closed.append(time.monotonic())
    writer.close()
    return answer


async def _probe(url: str, until: float) -> list[float]:
    timings: list[float] = []
    async with httpx.AsyncClient(timeout=5) as http:
        while time.monotonic() < until:
            started = time.perf_counter()
            response = await http.get(url)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
            await asyncio.sleep(0.01)
    return timings


async def _slowloris(port: int, probe_url: str) -> tuple[list[float], list[float], list[bytes]]:
    opened: list[float] = []
    closed: list[float] = []
    tricklers = [
        asyncio.create_task(_trickle_headers(port, opened, closed)) for _ in range(SLOW_CONNECTIONS)
    ]
    await asyncio.sleep(0.5)  # all connected and trickling
    timings = await _probe(probe_url, until=time.monotonic() + HEADER_TIMEOUT + 1)
    answers = await asyncio.gather(*tricklers)
    held = [c - o for o, c in zip(sorted(opened), sorted(closed), strict=True)]
    return timings, held, answers


def test_slowloris_probe_stays_fast_and_tricklers_are_cut_off(tmp_path: Path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    upgrade(database)
    env = prod_env(
        tmp_path, database, WEB_CONCURRENCY="1",
        HTTP_HEADER_TIMEOUT=str(HEADER_TIMEOUT), HTTP_BODY_TIMEOUT=str(BODY_TIMEOUT),
    )  # fmt: skip
    with prod_server(tmp_path, env) as server:
        port = int(env["PORT"])
        timings, held, answers = asyncio.run(_slowloris(port, server.api + "/healthcheck"))
        body_answer = asyncio.run(_trickle_body(port))
    p99 = statistics.quantiles(timings, n=100)[98]
    print(
        f"\nFIGURE slowloris, {SLOW_CONNECTIONS} connections on one worker: healthcheck p99 "
        f"{p99:.1f} ms over {len(timings)} probes; longest trickling connection held "
        f"{max(held):.1f} s (header deadline {HEADER_TIMEOUT} s)"
    )
    assert p99 < 250
    assert max(held) < HEADER_TIMEOUT + 1.5  # closed at the deadline, not kept
    assert all(answer.startswith(b"HTTP/1.1 408") for answer in answers)
    envelope = orjson.loads(answers[0].split(b"\r\n\r\n", 1)[1])
    assert envelope["code"] == 408 and envelope["msg"] == "REQUEST_TIMEOUT"
    assert envelope["data"]["request_id"]
    status, body = body_answer
    assert status == 408
    assert body["msg"] == "REQUEST_TIMEOUT" and body["data"]["request_id"]


async def _trickle_body(port: int) -> tuple[int, dict[str, object]]:
    """Headers promptly, then a JSON body one byte a second: 408 at the body deadline."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /api/v1/auth/token HTTP/1.1\r\nHost: shop\r\n"
        b"Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{"
    )
    started = time.monotonic()
    answer = b""
    while time.monotonic() - started < BODY_TIMEOUT + 5:
        await writer.drain()
        try:
            chunk = await asyncio.wait_for(reader.read(4096), timeout=1)
        except TimeoutError:
            writer.write(b" ")
            continue
        answer += chunk
        if not chunk or (b"\r\n\r\n" in answer and answer.endswith(b"}")):
            break
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), orjson.loads(body)
