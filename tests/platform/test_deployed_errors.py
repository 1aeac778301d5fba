"""What a deployed environment shows of an error, and paths with a stray slash."""

from typing import Any

import httpx
import pytest
from fastapi import APIRouter

from src.config import Settings
from src.constants import Environment
from tests.conftest import assert_envelope_error, checked_client, running

pytestmark = pytest.mark.anyio


async def _crash() -> dict[str, Any]:
    raise RuntimeError("SELECT secret FROM somewhere WHERE customer = 'c-42'")


async def _five_hundred(settings: Settings, environment: Environment) -> httpx.Response:
    from src.main import create_app

    app_settings = settings.model_copy(update={"ENVIRONMENT": environment})
    application = create_app(app_settings)
    router = APIRouter()
    router.add_api_route("/crash", _crash)
    api = next(r.app for r in application.routes if getattr(r, "path", "") == "/api/v1")
    api.include_router(router)
    async with running(application) as started, checked_client(started.asgi, "10.1.1.1") as http:
        return await http.get("/api/v1/crash")


@pytest.mark.parametrize("environment", [Environment.STAGING, Environment.PRODUCTION])
async def test_deployed_500_says_nothing_but_the_request_id(
    settings: Settings, environment: Environment
) -> None:
    response = await _five_hundred(settings, environment)
    data = assert_envelope_error(response, 500, "INTERNAL_ERROR")
    assert set(data) == {"request_id"}
    assert "SELECT" not in response.text


async def test_local_500_names_the_exception(settings: Settings) -> None:
    response = await _five_hundred(settings, Environment.LOCAL)
    data = assert_envelope_error(response, 500, "INTERNAL_ERROR")
    assert data["detail"].startswith("RuntimeError")


async def test_staging_keeps_the_docs(settings: Settings) -> None:
    """Operators of STAGING try the API in the browser; PRODUCTION serves no docs."""
    from src.main import create_app

    for environment, status in ((Environment.STAGING, 200), (Environment.PRODUCTION, 404)):
        application = create_app(settings.model_copy(update={"ENVIRONMENT": environment}))
        async with (
            running(application) as started,
            checked_client(started.asgi, "10.1.1.2") as http,
        ):
            assert (await http.get("/api/v1/docs/openapi.json")).status_code == status


async def test_a_stray_slash_is_404_not_a_redirect_built_from_host(
    client: httpx.AsyncClient, merchant: dict[str, Any]
) -> None:
    for path in ("/api/v1/voice/catalog/", "/api/v1/healthcheck/", "/api/v1/auth/token/"):
        response = await client.get(path, headers={**merchant["headers"], "Host": "evil.example"})
        assert "location" not in response.headers
        assert_envelope_error(response, 404, "NOT_FOUND")
