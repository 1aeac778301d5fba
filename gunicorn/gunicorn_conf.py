"""gunicorn with uvicorn workers. Settings come from the environment (see README)."""

import multiprocessing
import os

from src.config import trusted_proxies

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
worker_class = "src.platform.http.server.VoiceUvicornWorker"
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count())
# CTranslate2 models are not fork-safe: each worker loads its own after the fork.
preload_app = False
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))  # longer than any decode
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "20000"))
max_requests_jitter = max_requests // 10
# X-Forwarded-For is believed only from TRUSTED_PROXIES (none by default): uvicorn
# would otherwise trust loopback and let any local caller pick its own address.
forwarded_allow_ips = trusted_proxies()
# Our JSON access log (voice_api.access) replaces gunicorn's.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()


def when_ready(server):  # type: ignore[no-untyped-def]
    """One metrics exporter for all workers, in the master."""
    from src.platform.observability.metrics import start_metrics_server

    port = int(os.environ.get("METRICS_PORT", "8080"))
    start_metrics_server(port)
    server.log.info("metrics on port %s", port)


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    """Drop the live gauges of a dead worker (also after OOM kills and segfaults)."""
    from src.platform.observability.metrics import mark_worker_dead

    mark_worker_dead(worker.pid)
