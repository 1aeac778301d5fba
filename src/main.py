"""Builds the ASGI app: the root app, the `/api/v1` sub-app, middleware and lifespan.

The root app owns the lifespan (a mounted app's lifespan never runs) and the
middleware that must wrap everything; the sub-app owns routes, docs and handlers.
Exception handlers are registered on both: they do not cross a Mount.
"""

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI
from fastapi.middleware.asyncexitstack import AsyncExitStackMiddleware
from fastapi.routing import APIRoute
from fastapi.telemetry import TelemetryConfig
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.types import ASGIApp

from src.api import OPENAI_PATHS, include_routers
from src.auth.service import AuthCaches
from src.config import Settings, SettingsError, get_settings
from src.demo.router import add_demo
from src.exceptions import register_exception_handlers, unhandled_exception_handler
from src.models import document_errors
from src.platform.db.engine import create_engine, create_sessionmaker
from src.platform.http.docs import add_offline_docs
from src.platform.http.middleware import (
    BodySizeLimitMiddleware,
    EnvelopeCORSMiddleware,
    MountShortcut,
    RequestContextMiddleware,
    RootPathMiddleware,
    UnhandledErrorMiddleware,
)
from src.platform.observability.log_shipping import shipping_for
from src.platform.observability.logging import configure_logging
from src.platform.observability.metrics import instrument_app
from src.rate_limiter import build_limiter, build_window_counter, storage_is_shared
from src.voice.lifespan import voice_lifespan
from src.voice.speech.openai_compat.errors import OpenAIErrorMiddleware

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"


def _operation_id(route: APIRoute) -> str:
    # Clean names in generated clients: "voice-create_order" rather than a path soup.
    tag = route.tags[0] if route.tags else "api"
    return f"{tag}-{route.name}"


def _lifespan(settings: Settings) -> Any:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        shipping = shipping_for(settings)
        runtime = configure_logging(
            settings, extra_handlers=[shipping.handler] if shipping is not None else []
        )
        if shipping is not None:
            shipping.start()
        if not storage_is_shared(settings) and settings.ENVIRONMENT.is_deployed:
            logger.warning("rate limits are counted per process: set RATE_LIMIT_STORAGE_URI")
        engine = create_engine(settings)
        sessionmaker = create_sessionmaker(engine)
        logger.info(
            "started",
            extra={"environment": str(settings.ENVIRONMENT), "database": engine.dialect.name},
        )
        try:
            async with voice_lifespan(settings, sessionmaker) as voice_state:
                # Everything built so far lives as long as the process: out of the
                # collector's sight, a full collection does not pause every request.
                gc.freeze()
                try:
                    yield {
                        "engine": engine,
                        "sessionmaker": sessionmaker,
                        "auth_caches": AuthCaches(),
                        "password_hashing": anyio.CapacityLimiter(
                            settings.AUTH_HASHING_CONCURRENCY
                        ),
                        **voice_state,
                    }
                finally:
                    gc.unfreeze()  # a process that makes apps again (tests) can collect
        finally:
            await engine.dispose()
            if app.state.window_counter is not None:
                await app.state.window_counter.aclose()
            logger.info("stopped")
            runtime.stop()  # drains the log queue into the spool first
            if shipping is not None:
                shipping.stop()

    return lifespan


# Metrics are Prometheus's and traces are not collected: FastAPI's OpenTelemetry hooks
# would otherwise look up the global providers (and read the environment) per request.
NO_OPENTELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


class ServiceApp(FastAPI):
    """FastAPI without the two layers it adds for features this service leaves off.

    FastAPI's stack is Starlette's (ServerErrorMiddleware, the user's middleware,
    ExceptionMiddleware) plus its exit stack for closing files, its exception
    telemetry (off: NO_OPENTELEMETRY) and its app-wide body limit (not set; the body
    limit is BodySizeLimitMiddleware's). Every request passes both apps' stacks, and
    the two idle layers of each cost ~3 us a request.
    """

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            self.openapi_schema = document_errors(super().openapi())
        return self.openapi_schema

    def build_middleware_stack(self) -> ASGIApp:
        if self.max_body_size is not None:  # asked for after all: FastAPI's own stack
            return super().build_middleware_stack()
        error_handler = None
        handlers: dict[Any, Any] = {}
        for key, value in self.exception_handlers.items():  # as Starlette sorts them
            if key in (500, Exception):
                error_handler = value
            else:
                handlers[key] = value
        app: ASGIApp = AsyncExitStackMiddleware(self.router)
        app = ExceptionMiddleware(app, handlers=handlers, debug=self.debug)
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        return ServerErrorMiddleware(app, handler=error_handler, debug=self.debug)


def create_api(settings: Settings) -> FastAPI:
    """The versioned API (mounted at /api/v1) with its docs and error handlers."""
    docs = settings.ENVIRONMENT.serves_docs
    api = ServiceApp(
        title="Voice API",
        version=settings.APP_VERSION,
        summary="Take a merchant's orders by voice: speech or text in, priced orders out.",
        # Swagger UI and ReDoc from local assets (add_offline_docs), not FastAPI's CDN pages.
        docs_url=None,
        redoc_url=None,
        openapi_url="/docs/openapi.json" if docs else None,
        # A path with a stray slash is 404, not a redirect built from the Host header.
        redirect_slashes=False,
        generate_unique_id_function=_operation_id,
        telemetry=NO_OPENTELEMETRY,
    )
    include_routers(api)
    if docs:
        add_offline_docs(api)
    return api


def create_app(settings: Settings | None = None) -> FastAPI:
    """The root ASGI app for uvicorn/gunicorn (`src.main:app`)."""
    if settings is None:
        try:
            settings = get_settings()
        except SettingsError as exc:
            # One line naming the setting, not a traceback (uvicorn, gunicorn, docker logs).
            raise SystemExit(f"voice-api: {exc}") from None
    app = ServiceApp(
        title="Voice API",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=_lifespan(settings),
        telemetry=NO_OPENTELEMETRY,
        redirect_slashes=False,
    )
    api = create_api(settings)
    limiter = build_limiter(settings)
    window_counter = build_window_counter(settings)
    for each in (app, api):
        each.state.settings = settings
        each.state.limiter = limiter
        each.state.window_counter = window_counter
        register_exception_handlers(each)
    app.mount(API_PREFIX, api)
    if settings.demo_enabled:
        add_demo(app)

    instrument_app(app, settings)
    # add_middleware prepends: the last added runs first (outermost).
    app.add_middleware(MountShortcut, prefix=API_PREFIX, mounted=api, router=app.router)
    app.add_middleware(UnhandledErrorMiddleware, handler=unhandled_exception_handler)
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_body_size=settings.MAX_BODY_SIZE,
        body_timeout=settings.HTTP_BODY_TIMEOUT,
    )
    app.add_middleware(
        EnvelopeCORSMiddleware,
        allow_origins=settings.CORS_ORIGINS,
        allow_origin_regex=settings.CORS_ORIGINS_REGEX,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=[h for h in settings.CORS_HEADERS if not h.endswith("*")],
        allow_header_prefixes=[h[:-1] for h in settings.CORS_HEADERS if h.endswith("*")],
        # What browser code may read: replays, request ids, back-off, limits, versions.
        expose_headers=[
            "X-Request-ID",
            "Idempotent-Replayed",
            "ETag",
            "Retry-After",
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
            "X-Should-Retry",  # read by the OpenAI SDKs on the OpenAI-compatible routes
        ],
        allow_credentials=False,  # bearer tokens, not cookies
        max_age=600,
    )
    # Outside CORS and the body limit: a refused preflight and a 413 reach OpenAI
    # clients in their shape too.
    app.add_middleware(
        OpenAIErrorMiddleware, prefixes=tuple(API_PREFIX + path for path in OPENAI_PATHS)
    )
    app.add_middleware(RequestContextMiddleware)
    if settings.ENVIRONMENT.is_deployed:
        # Behind the production proxy the service lives under /v{APP_VERSION}.
        app.add_middleware(RootPathMiddleware, root_path=f"/v{settings.APP_VERSION}")
    return app


app = create_app()
