"""JSON logging: python-json-logger records, request context, redaction, a queue.

Request code only enqueues a record (a `put_nowait` on a bounded queue); formatting,
redaction and I/O happen on the listener thread, so no request waits on log I/O and a
full queue drops (and counts) instead of blocking. Log shipping to Elasticsearch plugs
in as one more handler on the listener (`extra_handlers`).
"""

import logging
import logging.handlers
import queue
import re
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.orjson import OrjsonFormatter

from src.config import Settings
from src.platform.http.context import client_id_var, request_id_var

REDACTED = "[REDACTED]"
# The Elasticsearch client's own loggers: kept at WARNING here, and never shipped
# (their records would come back through the shipper: elastic/elasticsearch-py#2177).
QUIET_LOGGERS = ("elastic_transport", "elasticsearch", "urllib3")

# Keys whose values are secrets wherever they appear (extras, nested dicts).
SECRET_KEYS = frozenset(
    {
        "authorization",
        "secret_key",
        "password",
        "access_token",
        "refresh_token",
        "token",
        "jwt_secret",
        "api_key",
        "cookie",
        "set-cookie",
        "audio",
    }
)

# Secrets that may hide inside free text (messages, exception strings).
_SECRET_PATTERNS = (
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),  # JWT
    re.compile(r"\bsk_[A-Za-z0-9_-]{16,}"),  # API secret keys
    re.compile(r"\brt_[A-Za-z0-9_-]{16,}"),  # refresh tokens
    re.compile(
        r"(?i)(\"?(?:secret_key|password|refresh_token|access_token|jwt_secret)\"?\s*[:=]\s*)"
        r"(\"[^\"]*\"|'[^']*'|[^\s,}]+)"
    ),
)


# What every pattern above needs to find first, lower-cased: most text has none of
# these. Substring tests on the lower-cased text take under a microsecond; one
# case-insensitive regex alternation of the same words took about 11.
_SECRET_TRIGGERS = (
    "bearer", "eyj", "sk_", "rt_", "secret_key", "password", "refresh_token", "access_token",
    "jwt_secret",
)  # fmt: skip


def may_hold_secret(text: str) -> bool:
    """False when `text` cannot match any secret pattern (the common case)."""
    lowered = text.lower()
    return any(trigger in lowered for trigger in _SECRET_TRIGGERS)


def redact_text(text: str) -> str:
    """Mask tokens and keys that appear inside free text."""
    if not may_hold_secret(text):
        return text
    for pattern in _SECRET_PATTERNS[:-1]:
        text = pattern.sub(REDACTED, text)
    return _SECRET_PATTERNS[-1].sub(lambda m: f"{m.group(1)}{REDACTED}", text)


def redact(value: Any, key: str | None = None) -> Any:
    """Recursively mask secrets by key name and by pattern."""
    if key is not None and key.lower() in SECRET_KEYS:
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value


class RequestContextFilter(logging.Filter):
    """Copies the request id and client id onto each record (on the caller's thread)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get()
        if getattr(record, "client_id", None) is None:
            record.client_id = client_id_var.get()
        return True


class VoiceJsonFormatter(OrjsonFormatter):
    """Flat JSON documents (ECS-like keys kept simple) with secrets redacted."""

    def format(self, record: logging.LogRecord) -> str:
        """The generic python-json-logger document, built directly for an access record.

        An access record's fields are known in advance, so the document is put together
        in their order without python-json-logger's pass over every attribute of the
        record (half of formatting one); it is the same document, key for key. Text a
        client chose (path, request id) that might hold a secret takes the generic way,
        which redacts.
        """
        if type(record) is not AccessRecord or may_hold_secret(record.msg + record.request_id):
            return super().format(record)
        fields = record.__dict__
        record.message = record.msg
        log_data = {self._get_rename(name): fields.get(name) for name in self._required_fields}
        log_data.update(self.static_fields)
        for name in ACCESS_FIELDS:
            log_data[self._get_rename(name)] = fields[name]
        if self.timestamp:
            log_data[self._timestamp_key] = datetime.fromtimestamp(record.created, tz=UTC)
        return self.serialize_log_record(log_data)

    @property
    def _timestamp_key(self) -> str:
        return self._get_rename(self.timestamp if isinstance(self.timestamp, str) else "timestamp")

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        if _plainly_clean(log_data):
            return log_data
        return {key: redact(value, key) for key, value in log_data.items()}


# python-json-logger adds the timestamp as a datetime (its encoder writes it out).
_SCALAR_TYPES = frozenset({str, int, float, bool, type(None), datetime})
# Field names already found not to be secret keys. Records reuse a small set of names,
# so this stays small; the cap only guards against a caller inventing names per call.
_CLEAN_KEYS: set[str] = set()
_CLEAN_KEYS_CAP = 1024


def _plainly_clean(log_data: dict[str, Any]) -> bool:
    """True for a flat record with no secret key and no trigger in any text: an access
    log line, typically. One pass over the fields and one search over all their text
    (this runs for every record: a loop costs a third of generator expressions)."""
    texts: list[str] = []
    for key, value in log_data.items():
        kind = type(value)
        if kind is str:
            texts.append(value)
        elif kind not in _SCALAR_TYPES:
            return False
        if key not in _CLEAN_KEYS:
            if key.lower() in SECRET_KEYS:
                return False
            if len(_CLEAN_KEYS) < _CLEAN_KEYS_CAP:
                _CLEAN_KEYS.add(key)
    return not may_hold_secret("\n".join(texts))


def build_formatter(settings: Settings) -> VoiceJsonFormatter:
    """The one JSON formatter used for stdout, files and shipped documents."""
    return VoiceJsonFormatter(
        ["levelname", "name", "message"],
        rename_fields={"levelname": "level", "name": "logger"},
        static_fields={"service": settings.SERVICE_NAME, "environment": str(settings.ENVIRONMENT)},
        timestamp="timestamp",
        reserved_attrs=[*RESERVED_ATTRS, "color_message"],
    )


# The fields of an access record beyond the standard ones, in the order they are set.
ACCESS_FIELDS = ("http_method", "path", "route", "status", "duration_ms", "client_id", "request_id")
ACCESS_LOGGER = logging.getLogger("voice_api.access")


class AccessRecord(logging.LogRecord):
    """A LogRecord for one request of the access log, made in a fraction of the time.

    LogRecord.__init__ works out, for every record, what is the same for every access
    record (file and module names, level name, process facts): here that is copied
    from a record made once. What remains is the message, the time and the fields. It
    is an ordinary record to every filter, handler and formatter.
    """

    http_method: str
    path: str
    route: str
    status: int
    duration_ms: float
    client_id: str | None
    request_id: str


# An access record's standard attributes: made after configure_logging decided what
# records collect, and remade by it (a forked worker's process id differs).
_ACCESS_TEMPLATE: dict[str, Any] = {}
# When logging started (LogRecord.relativeCreated counts from it): read off a record.
_logging_started = 0.0


def _remake_access_template() -> None:
    global _logging_started
    template = vars(logging.LogRecord(ACCESS_LOGGER.name, logging.INFO, "", 0, "", None, None))
    _logging_started = template["created"] - template["relativeCreated"] / 1000
    _ACCESS_TEMPLATE.clear()
    _ACCESS_TEMPLATE.update(template)


def log_access(
    method: str,
    path: str,
    route: str,
    status: int,
    duration_ms: float,
    client_id: str | None,
    request_id: str,
) -> None:
    """One line of the access log (`voice_api.access`, INFO), as `logger.info` would."""
    if not ACCESS_LOGGER.isEnabledFor(logging.INFO):
        return
    if not _ACCESS_TEMPLATE:
        _remake_access_template()
    record = AccessRecord.__new__(AccessRecord)
    fields = record.__dict__
    fields.update(_ACCESS_TEMPLATE)
    now = time.time()
    fields["created"] = now
    fields["msecs"] = int((now - int(now)) * 1000) + 0.0  # as LogRecord computes them
    fields["relativeCreated"] = (now - _logging_started) * 1000
    fields["msg"] = f"{method} {path} {status}"
    fields["http_method"] = method
    fields["path"] = path
    fields["route"] = route
    fields["status"] = status
    fields["duration_ms"] = duration_ms
    fields["client_id"] = client_id
    fields["request_id"] = request_id
    ACCESS_LOGGER.handle(record)


class DroppingQueueHandler(logging.handlers.QueueHandler):
    """Enqueue without blocking; count what a full queue forces us to drop.

    The queue is a SimpleQueue (a C deque: a put costs 0.06 us against 1.2 us for
    queue.Queue's lock and condition), bounded here by its size: `max_size` may be
    overshot by the few records that threads put at the same instant.
    """

    def __init__(self, log_queue: "queue.SimpleQueue[logging.LogRecord]", max_size: int) -> None:
        super().__init__(log_queue)
        self.simple_queue = log_queue
        self.max_size = max_size
        self.dropped = 0
        self._lock = threading.Lock()

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        # The stdlib version formats here (on the request path) and throws away
        # exc_info; merge the message only and leave the rest to the listener. No copy:
        # this handler sits on the root logger, so every other handler has run already.
        record.msg = record.getMessage()
        record.args = None
        return record

    def enqueue(self, record: logging.LogRecord) -> None:
        if self.simple_queue.qsize() < self.max_size:
            self.simple_queue.put_nowait(record)
        else:
            with self._lock:
                self.dropped += 1
            from src.platform.observability.metrics import LOG_RECORDS_DROPPED

            LOG_RECORDS_DROPPED.labels(reason="queue_full").inc()


class FlushedPerBatch(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler whose emit() leaves the line in the stream's buffer.

    StreamHandler flushes after every record: one write() system call per log line.
    Behind a BatchingQueueListener the listener flushes once per batch instead, so
    a line reaches the file at most one batch interval later.
    """

    def flush(self) -> None:
        """Per record: nothing (see flush_batch)."""

    def flush_batch(self) -> None:
        """Write out what the batch left in the buffer."""
        super().flush()

    def close(self) -> None:
        self.flush_batch()
        super().close()


class BatchedStreamHandler(FlushedPerBatch):
    """stdout, flushed once per batch."""


class BatchedRotatingFileHandler(FlushedPerBatch, logging.handlers.RotatingFileHandler):
    """The log file, flushed once per batch."""


class BatchingQueueListener(logging.handlers.QueueListener):
    """A QueueListener that handles records in batches.

    The stdlib listener wakes for every record. At thousands of requests a second,
    each wake-up costs the event loop a GIL hand-off, which is a third of a small
    request's time. This listener sleeps until a record arrives, waits `interval`
    for more to gather, and handles all of them, so it wakes at most 1/`interval`
    times a second. Records reach their handlers at most `interval` late.
    """

    def __init__(
        self,
        log_queue: "queue.SimpleQueue[logging.LogRecord]",
        *handlers: logging.Handler,
        respect_handler_level: bool = False,
        interval: float = 0.05,
    ) -> None:
        super().__init__(log_queue, *handlers, respect_handler_level=respect_handler_level)
        self.interval = interval

    def _monitor(self) -> None:
        log_queue: queue.SimpleQueue[Any] = self.queue  # type: ignore[assignment]
        while True:
            record = log_queue.get()
            if self.interval:
                time.sleep(self.interval)
            while True:
                if record is None:  # stop()'s sentinel: everything before it is handled
                    self._flush_batch()
                    return
                self.handle(record)
                try:
                    record = log_queue.get_nowait()
                except queue.Empty:
                    break
            self._flush_batch()

    def _flush_batch(self) -> None:
        for handler in self.handlers:
            if isinstance(handler, FlushedPerBatch):
                handler.flush_batch()


class LoggingRuntime:
    """The running logging pipeline of one process: start once, stop to flush."""

    def __init__(self, listener: logging.handlers.QueueListener, handler: DroppingQueueHandler):
        self.listener = listener
        self.queue_handler = handler
        self._stopped = False

    def stop(self) -> None:
        """Drain the queue into the handlers and detach from the root logger (once)."""
        if self._stopped:
            return
        self._stopped = True
        self.listener.stop()
        logging.getLogger().removeHandler(self.queue_handler)
        for handler in self.listener.handlers:
            handler.flush()
            handler.close()


_runtime: LoggingRuntime | None = None


def configure_logging(
    settings: Settings, extra_handlers: Iterable[logging.Handler] = ()
) -> LoggingRuntime:
    """Route every log record through one bounded queue to JSON handlers.

    Called per process (in the lifespan, after a gunicorn fork). Idempotent: a second
    call replaces the first pipeline.
    """
    global _runtime
    if _runtime is not None:
        _runtime.stop()

    formatter = build_formatter(settings)
    handlers: list[logging.Handler] = []
    stdout = BatchedStreamHandler(sys.stdout)
    stdout.setFormatter(formatter)
    handlers.append(stdout)
    if settings.LOG_FILE_PATH:
        path = Path(settings.LOG_FILE_PATH)
        path.parent.mkdir(parents=True, exist_ok=True)
        file_handler = BatchedRotatingFileHandler(
            path, maxBytes=50 * 1024 * 1024, backupCount=5, encoding="utf-8"
        )
        file_handler.setFormatter(formatter)
        handlers.append(file_handler)
    for handler in extra_handlers:
        if handler.formatter is None:
            handler.setFormatter(formatter)
        handlers.append(handler)

    log_queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    queue_handler = DroppingQueueHandler(log_queue, settings.LOG_QUEUE_SIZE)
    queue_handler.addFilter(RequestContextFilter())
    listener = BatchingQueueListener(
        log_queue, *handlers, respect_handler_level=True, interval=settings.LOG_BATCH_SECONDS
    )

    # The logging HOWTO's "Optimization": these JSON documents never print the caller's
    # file and line or the thread and process names, so records need not collect them
    # (the stack walk alone is about half of a record's cost on the request path).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    _remake_access_template()

    root = logging.getLogger()
    for existing in list(root.handlers):
        if isinstance(existing, DroppingQueueHandler):
            root.removeHandler(existing)
    root.addHandler(queue_handler)
    root.setLevel(settings.LOG_LEVEL.upper())

    # uvicorn's own access log is replaced by ours (voice_api.access); its error log
    # and the libraries' logs go through the same JSON pipeline.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error", "gunicorn.error"):
        named = logging.getLogger(name)
        named.handlers.clear()
        named.propagate = True
    # The Elasticsearch client's transport logs must never feed the shipper.
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)

    listener.start()
    _runtime = LoggingRuntime(listener, queue_handler)
    return _runtime
