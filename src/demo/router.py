"""The demo till at `/demo`: a page that takes an order from a microphone through the
live stream, for an integrator's first hour and a merchant's first look.

Plain HTML, CSS and JavaScript from `static/`, no build step and nothing from a CDN;
the page talks to the public API like any other client. Served when DEMO_ENABLED
(by default everywhere but in PRODUCTION).
"""

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from src.config import PROJECT_ROOT

STATIC = Path(__file__).parent / "static"
# Uploaded by the page for a client that has no catalog yet.
EXAMPLE_CATALOG = PROJECT_ROOT / "examples" / "catalog.json"
# The page loads only its own files and talks only to this origin (HTTP and WebSocket).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; media-src 'self' blob:; form-action 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)

router = APIRouter(include_in_schema=False)


@router.get("/demo")
async def demo_page() -> FileResponse:
    """The till: sign in, speak, watch the cart fill, confirm."""
    return FileResponse(
        STATIC / "index.html",
        headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-store"},
    )


@router.get("/demo/catalog.json")
async def example_catalog() -> FileResponse:
    """The example cafe menu the page uploads when the client has none."""
    return FileResponse(EXAMPLE_CATALOG, media_type="application/json")


def add_demo(app: FastAPI) -> None:
    """Serve the demo page and its assets from `app` (the root app)."""
    app.include_router(router)
    app.mount("/demo/static", StaticFiles(directory=STATIC), name="demo-static")
