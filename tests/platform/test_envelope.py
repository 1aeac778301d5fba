"""The envelope, request ids, security headers, CORS, body limits, docs and startup."""

import os
import re

import anyio
import httpx
import pytest
from fastapi import FastAPI

from src.config import SettingsError, load_settings
from src.constants import Environment
from src.platform.http.middleware import _vary_origin, new_request_id
from tests.conftest import assert_envelope_error, other_app

pytestmark = pytest.mark.anyio


async def test_healthcheck_is_an_envelope(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/healthcheck")
    assert response.status_code == 200
    assert response.json() == {"code": 200, "msg": "OK", "data": {"status": "ok"}}


async def test_readiness_reports_each_check(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/readiness")
    assert response.status_code == 200
    assert response.json()["data"]["checks"] == {
        "database": "ok",
        "ratelimit": "ok",
        "speech_model": "ok",
    }


@pytest.mark.parametrize("unknown_path", ["/nope", "/api/v1/nope", "/api/v2/healthcheck"])
async def test_unknown_paths_are_404_envelopes_on_both_apps(
    client: httpx.AsyncClient, unknown_path: str
) -> None:
    assert_envelope_error(await client.get(unknown_path), 404, "NOT_FOUND")


async def test_wrong_method_is_405_envelope(client: httpx.AsyncClient) -> None:
    assert_envelope_error(await client.delete("/api/v1/healthcheck"), 405, "METHOD_NOT_ALLOWED")


async def test_validation_errors_list_each_problem(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/auth/token", json={"secret_id": 5})
    data = assert_envelope_error(response, 422, "VALIDATION_ERROR")
    locations = {tuple(err["loc"]) for err in data["errors"]}
    assert ("body", "secret_id") in locations
    assert ("body", "secret_key") in locations


async def test_malformed_json_is_422_not_500(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/token", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_envelope_error(response, 422, "VALIDATION_ERROR")


async def test_request_id_is_echoed_when_sane(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/healthcheck", headers={"X-Request-ID": "pos-42.abc"})
    assert response.headers["x-request-id"] == "pos-42.abc"


@pytest.mark.parametrize("bad", ["x" * 200, "has space", "new\\nline", ""])
async def test_request_id_is_regenerated_when_not_sane(client: httpx.AsyncClient, bad: str) -> None:
    response = await client.get("/api/v1/healthcheck", headers={"X-Request-ID": bad})
    generated = response.headers["x-request-id"]
    assert generated != bad
    assert len(generated) == 32


def test_forked_workers_generate_different_request_ids() -> None:
    # gunicorn forks its workers from one master: ids must not repeat across them.
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child only writes its ids and exits
        os.write(write_end, " ".join(new_request_id() for _ in range(100)).encode())
        os._exit(0)
    os.waitpid(child, 0)
    os.close(write_end)
    theirs = os.read(read_end, 1 << 16).decode().split()
    ours = [new_request_id() for _ in range(100)]
    assert len(set(theirs + ours)) == 200
    assert all(re.fullmatch(r"[0-9a-f]{32}", each) for each in theirs + ours)


async def test_security_headers_on_every_response(client: httpx.AsyncClient) -> None:
    for response in (await client.get("/api/v1/healthcheck"), await client.get("/nope")):
        assert response.headers["strict-transport-security"] == (
            "max-age=31536000; includeSubDomains"
        )
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert "referrer-policy" in response.headers


async def test_cors_preflight_allowed_origin(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/api/v1/voice/order",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "access-control-allow-credentials" not in response.headers


@pytest.mark.parametrize(
    ("requested", "allowed"),
    [
        # What OpenAI's SDKs send: the X-Stainless-* family passes by its prefix.
        ("authorization,content-type,x-stainless-lang,x-stainless-retry-count", True),
        ("x-stainless-os, x-stainless-arch", True),
        ("authorization,x-evil", False),
        ("x-stainless-lang,x-evil", False),
    ],
)
async def test_cors_preflight_allows_header_families_by_prefix(
    client: httpx.AsyncClient, requested: str, allowed: bool
) -> None:
    response = await client.options(
        "/api/v1/audio/transcriptions",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": requested,
        },
    )
    assert (response.status_code == 200) is allowed, response.text
    if allowed:
        granted = {
            h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")
        }
        assert {h.strip() for h in requested.split(",")} <= granted


async def test_every_response_varies_by_origin(client: httpx.AsyncClient) -> None:
    # Caches must not serve one origin's CORS answer to another, nor to a plain call.
    plain = await client.get("/api/v1/healthcheck")
    assert plain.headers["vary"] == "Origin"
    assert "access-control-allow-origin" not in plain.headers
    browser = await client.get("/api/v1/healthcheck", headers={"Origin": "http://localhost:3000"})
    assert browser.headers["vary"] == "Origin"
    assert browser.headers["access-control-allow-origin"] == "http://localhost:3000"


def test_origin_joins_a_vary_header_already_there() -> None:
    assert _vary_origin([(b"a", b"1"), (b"Vary", b"Accept"), (b"vary", b"Cookie")]) == [
        (b"a", b"1"),
        (b"vary", b"Accept, Cookie, Origin"),
    ]
    assert _vary_origin([]) == [(b"vary", b"Origin")]


async def test_cors_preflight_refused_origin_gets_no_cors_headers(
    client: httpx.AsyncClient,
) -> None:
    response = await client.options(
        "/api/v1/voice/order",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in response.headers


async def test_declared_body_over_limit_is_413_before_reading(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    limit = app.state.settings.MAX_BODY_SIZE
    response = await client.post(
        "/api/v1/auth/token",
        content=b"x" * (limit + 1),
        headers={"content-type": "application/json"},
    )
    data = assert_envelope_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert data["max_body_size"] == limit


async def test_chunked_body_over_limit_is_413(client: httpx.AsyncClient, app: FastAPI) -> None:
    limit = app.state.settings.MAX_BODY_SIZE
    sent = 0

    async def chunks():  # type: ignore[no-untyped-def]
        nonlocal sent
        chunk = b"x" * 65536
        while sent < limit * 4:  # far more than the limit, if nobody stopped us
            sent += len(chunk)
            yield chunk

    response = await client.post(
        "/api/v1/auth/token", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_envelope_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert sent <= limit + 2 * 65536


async def test_body_slower_than_the_deadline_is_408(settings) -> None:  # type: ignore[no-untyped-def]
    async def trickle():  # type: ignore[no-untyped-def]
        yield b'{"secret_id": '
        await anyio.sleep(5)  # stalls past HTTP_BODY_TIMEOUT
        yield b'"x"}'

    async with other_app(settings, HTTP_BODY_TIMEOUT=0.3) as http:
        with anyio.fail_after(3):
            response = await http.post(
                "/api/v1/auth/token",
                content=trickle(),
                headers={"content-type": "application/json"},
            )
    data = assert_envelope_error(response, 408, "REQUEST_TIMEOUT")
    assert data["body_timeout"] == 0.3
    assert response.headers["connection"] == "close"


async def test_compressed_request_bodies_are_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/token",
        content=b"\x1f\x8b",
        headers={"content-type": "application/json", "content-encoding": "gzip"},
    )
    assert_envelope_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


async def test_docs_served_when_debug(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/api/v1/docs/openapi.json")).json()
    assert "/voice/order" in schema["paths"]
    assert "BearerToken" in schema["components"]["securitySchemes"]


@pytest.mark.parametrize(
    ("page", "assets"),
    [
        ("/api/v1/docs", ["swagger-ui-bundle.js", "swagger-ui.css"]),
        ("/api/v1/docs/redoc", ["redoc.standalone.js"]),
    ],
)
async def test_docs_work_offline(client: httpx.AsyncClient, page: str, assets: list[str]) -> None:
    """Swagger UI (with try it out) and ReDoc load every asset from this server."""
    html = await client.get(page)
    assert html.status_code == 200 and "text/html" in html.headers["content-type"]
    assert "https://" not in html.text and "cdn" not in html.text.lower()
    assert "/api/v1/docs/openapi.json" in html.text
    for asset in assets:
        url = f"/api/v1/docs/assets/{asset}"
        assert url in html.text
        served = await client.get(url)
        assert served.status_code == 200 and len(served.content) > 100_000, asset


async def test_docs_hidden_in_production(settings) -> None:  # type: ignore[no-untyped-def]
    production = load_settings(
        **{
            **settings.model_dump(),
            "ENVIRONMENT": Environment.PRODUCTION,
            "JWT_SECRET": "p" * 40,
            "CORS_ORIGINS": ["https://pos.example"],
        }
    )
    async with other_app(settings, production) as http:
        assert_envelope_error(await http.get("/api/v1/docs"), 404, "NOT_FOUND")
        assert_envelope_error(await http.get("/api/v1/docs/redoc"), 404, "NOT_FOUND")
        assert_envelope_error(
            await http.get("/api/v1/docs/assets/swagger-ui-bundle.js"), 404, "NOT_FOUND"
        )
        assert_envelope_error(await http.get("/api/v1/docs/openapi.json"), 404, "NOT_FOUND")
        assert (await http.get("/metrics")).status_code == 404


def test_production_refuses_to_start_without_jwt_secret() -> None:
    with pytest.raises(SettingsError, match="JWT_SECRET"):
        load_settings(ENVIRONMENT="PRODUCTION", CORS_ORIGINS=["https://pos.example"])


def test_production_refuses_to_start_without_cors_origins() -> None:
    with pytest.raises(SettingsError, match="CORS_ORIGINS"):
        load_settings(ENVIRONMENT="PRODUCTION", JWT_SECRET="s" * 40)


@pytest.mark.parametrize("root_path", ["", "/v9"])
async def test_the_api_sees_the_scope_starlettes_mount_gives(settings, root_path: str) -> None:  # type: ignore[no-untyped-def]
    """MountShortcut hands /api/v1 requests straight to the sub-app: what a route sees
    (root path, url_for) is what it sees when Starlette's Mount routes the request."""
    from fastapi import Request

    from src.main import API_PREFIX, create_app

    application = create_app(settings)
    api = next(r.app for r in application.routes if getattr(r, "path", None) == API_PREFIX)  # type: ignore[attr-defined]

    @api.get("/scope-probe")
    async def scope_probe(request: Request) -> dict[str, str]:
        return {
            "root_path": request.scope["root_path"],
            "app_root_path": request.scope["app_root_path"],
            "healthcheck": str(request.url_for("healthcheck")),
            "url": str(request.url),
        }

    seen = []
    for asgi in (application, application.router):  # the shortcut, then the mount
        transport = httpx.ASGITransport(app=asgi, root_path=root_path)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
            response = await http.get(f"{root_path}/api/v1/scope-probe")
            assert response.status_code == 200, response.text
            seen.append(response.json())
    assert seen[0] == seen[1]
    assert seen[0]["healthcheck"] == f"http://api.test{root_path}/api/v1/healthcheck"
