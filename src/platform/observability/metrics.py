"""Prometheus: HTTP metrics from prometheus-fastapi-instrumentator plus domain metrics.

Every metric of the service is declared here, with bounded label sets. Under gunicorn
the start script sets PROMETHEUS_MULTIPROC_DIR before any import, so these objects
write to per-process files that one exporter in the master aggregates.
"""

import inspect
import os
from collections.abc import Callable

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from prometheus_client import start_http_server as _start_http_server
from prometheus_fastapi_instrumentator import Instrumentator, metrics

from src.config import Settings

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
INPROGRESS_METRIC = "http_requests_inprogress"
METRICS_PATH = "/metrics"
# Seconds; p50/p95/p99 by route are read from these (Grafana histogram_quantile).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# --- logging -----------------------------------------------------------------------
LOG_RECORDS_DROPPED = Counter(
    "log_records_dropped_total", "Log records dropped instead of blocking", ["reason"]
)

# --- log shipping ----------------------------------------------------------------------
SHIPPER_RECORDS = Counter(
    "log_shipper_records_total",
    "Log records by shipping outcome: queued, shipped, retried, dead_lettered",
    ["outcome"],
)
SHIPPER_SPOOL_BYTES = Gauge(
    "log_shipper_spool_bytes", "Bytes waiting in the spool", multiprocess_mode="livesum"
)
SHIPPER_LAST_SUCCESS = Gauge(
    "log_shipper_last_success_timestamp_seconds",
    "Unix time of the last segment fully acknowledged",
    multiprocess_mode="livemax",
)

# --- auth ----------------------------------------------------------------------------
AUTH_FAILURES = Counter(
    "auth_failures_total", "Failed authentication attempts by reason", ["endpoint", "reason"]
)
TOKENS_ISSUED = Counter("auth_tokens_issued_total", "Access tokens issued", ["grant"])

# --- rate limits -----------------------------------------------------------------------
RATE_LIMIT_REJECTIONS = Counter(
    "rate_limit_rejections_total", "Requests refused with 429", ["limit"]
)

RATE_LIMIT_STORAGE_ERRORS = Counter(
    "rate_limit_storage_errors_total",
    "Failures of the shared rate-limit storage (requests are counted in memory meanwhile)",
)

# --- dependencies --------------------------------------------------------------------
DEPENDENCY_UNAVAILABLE = Counter(
    "dependency_unavailable_total",
    "Requests answered 503 because a dependency failed: database_pool (no connection "
    "came free in DATABASE_POOL_TIMEOUT), database (down or restarting), connection",
    ["dependency"],
)

# --- orders ---------------------------------------------------------------------------
ORDERS_PARSED = Counter(
    "voice_orders_parsed_total", "Orders parsed, by outcome", ["outcome", "source"]
)
ORDER_LINES = Histogram(
    "voice_order_lines", "Lines per stored order", buckets=(0, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20)
)
UNMATCHED_SPANS = Counter("voice_unmatched_spans_total", "Spans that matched no catalog entry")
IDEMPOTENT_REPLAYS = Counter("voice_idempotent_replays_total", "Responses replayed by key")
SESSION_EVENTS = Counter(
    "voice_sessions_total",
    "Order sessions by event: started, confirmed, cancelled, expired",
    ["event"],
)
SESSION_ACTIONS = Counter(
    "voice_session_turn_actions_total",
    "Cart edits made by session turns, by op (add, remove, set_quantity, ...)",
    ["op"],
)
SESSION_TURNS = Counter(
    "voice_session_turns_total", "Session turns taken, by whether they need review", ["review"]
)

# --- speech ---------------------------------------------------------------------------
LIVE_STREAMS_ACTIVE = Gauge(
    "voice_live_streams_active", "Live audio streams open now", multiprocess_mode="livesum"
)
LIVE_STREAMS_CLOSED = Counter(
    "voice_live_streams_closed_total",
    "Live audio streams ended, by why: done (the client closed), or the error code",
    ["reason"],
)
LIVE_UTTERANCES = Counter(
    "voice_live_utterances_total", "Utterances of live streams applied as session turns"
)
LIVE_PARTIALS = Counter(
    "voice_live_partials_total",
    "Partial transcripts of live streams: sent, or skipped (no free decode slot)",
    ["outcome"],
)
AUDIO_SECONDS = Counter("speech_audio_seconds_total", "Seconds of audio received")
DECODE_SECONDS = Histogram(
    "speech_decode_seconds",
    "Wall time of one transcription",
    buckets=(0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 8, 13, 20, 30, 60),
)
REAL_TIME_FACTOR = Histogram(
    "speech_real_time_factor",
    "Decode time divided by audio duration",
    buckets=(0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 1.5, 2, 4),
)
SPEECH_BUSY = Counter("speech_busy_rejections_total", "Speech requests refused: queue full")
SECOND_LISTENS = Counter(
    "speech_second_listens_total", "Audio orders decoded again, slowed, after a poor first reading"
)
THIRD_LISTENS = Counter(
    "speech_third_listens_total",
    "Audio orders decoded a third time, slower still, after a poor second reading",
)
REHEARD_READINGS = Counter(
    "speech_reheard_readings_total",
    "Readings the catalog suggested for words left unread that the recogniser kept on"
    " hearing the audio again",
)
CHALLENGED_READINGS = Counter(
    "speech_challenged_readings_total",
    "Audio orders and session turns whose best reading gave way to one the catalog"
    " suggested (a count where the recogniser wrote other words) that the recogniser"
    " found about as likely",
)
ASR_MODEL_LOADED = Gauge(
    "speech_model_loaded", "1 when the speech model is loaded", multiprocess_mode="livemax"
)

# --- recommendations ---------------------------------------------------------------------
RECOMMENDATIONS_SERVED = Counter(
    "voice_recommendations_total", "Recommendations served by reason", ["reason"]
)
RECOMMEND_ORDERS_FOLDED = Counter(
    "voice_recommend_orders_folded_total", "Queued orders added to the recommendation counters"
)


def multiprocess_enabled() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


# Made once per process: pfi's factories return None for a metric that already exists,
# so a second app in the process (tests, reloads) would silently record nothing.
_HTTP_METRICS = tuple(
    each
    for each in (metrics.requests(), metrics.latency(buckets=LATENCY_BUCKETS))
    if each is not None
)
HTTP_INPROGRESS = Gauge(
    INPROGRESS_METRIC, "Number of HTTP requests in progress.", multiprocess_mode="livesum"
)


# What one request of a given method, route and status class records, with the
# labelled series looked up once: prometheus_client's labels() takes a lock and
# checks its arguments on every call, a third of recording a request.
Recorder = Callable[[float], None]
_RECORDERS: dict[tuple[str, str, str], tuple[Recorder, ...]] = {}
# Methods are whatever clients send: beyond this many combinations, nothing new is kept.
_RECORDERS_CAP = 4096


def _info(method: str, handler: str, status_class: str, seconds: float) -> metrics.Info:
    return metrics.Info(
        request=None,  # type: ignore[arg-type]  # neither instrumentation reads it
        response=None,
        method=method,
        modified_handler=handler,
        modified_status=status_class,
        modified_duration=seconds,
        modified_duration_without_streaming=seconds,
    )


def _bind(instrumentation: Callable[[metrics.Info], None], info: metrics.Info) -> Recorder:
    """`instrumentation` with the series for `info`'s labels resolved.

    pfi's `requests` and `latency` keep their metric and the Info attributes that
    label it in their closure; anything shaped otherwise is called as pfi calls it.
    """
    closure = inspect.getclosurevars(instrumentation).nonlocals
    metric, names = closure.get("METRIC"), closure.get("info_attribute_names")
    if isinstance(metric, Counter) and isinstance(names, list):
        counted = metric.labels(*[getattr(info, name) for name in names]) if names else metric
        return lambda _seconds: counted.inc()
    if isinstance(metric, Histogram) and isinstance(names, list):
        timed = metric.labels(*[getattr(info, name) for name in names]) if names else metric
        return timed.observe
    method, handler, status_class = info.method, info.modified_handler, info.modified_status
    return lambda seconds: instrumentation(_info(method, handler, status_class, seconds))


def record_request(method: str, handler: str, status: int, seconds: float) -> None:
    """Count and time one request with pfi's `requests` and `latency` instrumentations.

    Called by RequestContextMiddleware, which already knows the route template, the
    status and the duration. pfi's own middleware would be one more layer that matches
    the route again and builds a Response object per request just to read its status.
    """
    key = (method, handler, f"{status // 100}xx")
    recorders = _RECORDERS.get(key)
    if recorders is None:
        info = _info(*key, seconds)
        recorders = tuple(_bind(each, info) for each in _HTTP_METRICS)
        if len(_RECORDERS) < _RECORDERS_CAP:
            _RECORDERS[key] = recorders
    for record in recorders:
        record(seconds)


def instrument_app(app: FastAPI, settings: Settings) -> Instrumentator | None:
    """Serve `/metrics` on the app outside production (pfi's exposition).

    HTTP metrics are recorded by RequestContextMiddleware through `record_request`:
    `http_requests_total{handler,method,status}` and
    `http_request_duration_seconds{handler,method,status}`, the handler being the route
    template (`none` for unknown paths), plus `http_requests_inprogress`. In
    production one exporter on METRICS_PORT serves all workers (gunicorn_conf.py).
    """
    if settings.ENVIRONMENT.is_deployed:
        return None
    instrumentator = Instrumentator(excluded_handlers=[f"^{METRICS_PATH}$"])
    instrumentator.expose(app, endpoint=METRICS_PATH, include_in_schema=False)
    return instrumentator


def start_metrics_server(port: int) -> None:
    """Serve the metrics of every worker (multiprocess) or of this process on `port`."""
    if multiprocess_enabled():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        _start_http_server(port, registry=registry)
    else:
        _start_http_server(port)


def mark_worker_dead(pid: int) -> None:
    """Drop a dead worker's live gauges (gunicorn `child_exit`)."""
    if multiprocess_enabled():
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
