"""Interactive API docs served from local assets: Swagger UI (with "try it out") at
`/docs` and ReDoc at `/docs/redoc`; nothing is fetched from a CDN."""

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

# The Swagger UI and ReDoc bundles that fastapi-offline ships (and keeps current).
ASSETS = Path(fastapi_offline.__file__).parent / "static"


def add_offline_docs(api: FastAPI, *, docs_url: str = "/docs") -> None:
    """Serve the docs pages of `api`, whose schema is at `api.openapi_url`."""
    assert api.openapi_url is not None
    openapi_url = api.openapi_url
    assets_url = f"{docs_url}/assets"
    redirect_url = f"{docs_url}/oauth2-redirect"
    api.mount(assets_url, StaticFiles(directory=ASSETS), name="docs-assets")

    @api.get(docs_url, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{api.title} - Swagger UI",
            oauth2_redirect_url=f"{root}{redirect_url}",
            swagger_js_url=f"{root}{assets_url}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{assets_url}/swagger-ui.css",
            swagger_favicon_url=f"{root}{assets_url}/favicon.png",
            swagger_ui_parameters={"persistAuthorization": True, "tryItOutEnabled": True},
        )

    @api.get(redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @api.get(f"{docs_url}/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{api.title} - ReDoc",
            redoc_js_url=f"{root}{assets_url}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{assets_url}/favicon.png",
            with_google_fonts=False,
        )
