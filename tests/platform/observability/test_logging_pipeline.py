"""The log queue's listener: every record, in order, in batches rather than one
wake-up per record."""

import io
import logging
import queue
import threading
import time
from typing import Any

import orjson

from src.config import Settings
from src.platform.observability.logging import (
    ACCESS_LOGGER,
    BatchedStreamHandler,
    BatchingQueueListener,
    VoiceJsonFormatter,
    _plainly_clean,
    build_formatter,
    log_access,
)
from tests.processes import wait_for


class Collecting(logging.Handler):
    """Remembers each record's message and the thread that handled it, per batch."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []
        self.handled_at: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        self.handled_at.append(time.monotonic())


def _record(n: int) -> logging.LogRecord:
    return logging.LogRecord("t", logging.INFO, __file__, 1, f"record {n}", None, None)


def test_every_record_arrives_in_order_and_stop_drains() -> None:
    log_queue: queue.Queue[logging.LogRecord] = queue.Queue()
    sink = Collecting()
    listener = BatchingQueueListener(log_queue, sink, interval=0.05)
    listener.start()
    for n in range(5000):
        log_queue.put_nowait(_record(n))
    listener.stop()
    assert sink.messages == [f"record {n}" for n in range(5000)]


def test_a_burst_is_handled_in_few_batches_and_soon() -> None:
    log_queue: queue.Queue[logging.LogRecord] = queue.Queue()
    sink = Collecting()
    listener = BatchingQueueListener(log_queue, sink, interval=0.05)
    listener.start()
    sent_at = time.monotonic()

    def produce() -> None:  # 2,000 records over about 0.2 s, as a busy worker would
        for n in range(2000):
            log_queue.put_nowait(_record(n))
            if n % 100 == 0:
                time.sleep(0.01)

    producer = threading.Thread(target=produce)
    producer.start()
    producer.join()
    wait_for(lambda: len(sink.messages) == 2000, timeout=5)
    listener.stop()
    # Consecutive handling times more than 10 ms apart mark a new batch (a wake-up).
    gaps = sum(
        1 for a, b in zip(sink.handled_at, sink.handled_at[1:], strict=False) if b - a > 0.01
    )
    assert gaps + 1 <= 20  # not one wake-up per record
    assert sink.handled_at[0] - sent_at < 0.5  # and no record waits long


class WritesCounted(io.StringIO):
    """A stream that counts how often its contents were pushed out."""

    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1


def test_a_batch_reaches_the_stream_with_one_flush() -> None:
    log_queue: queue.Queue[logging.LogRecord] = queue.Queue()
    stream = WritesCounted()
    listener = BatchingQueueListener(log_queue, BatchedStreamHandler(stream), interval=0.05)
    listener.start()
    for n in range(300):
        log_queue.put_nowait(_record(n))
    wait_for(lambda: stream.getvalue().count("\n") == 300, timeout=5)
    flushed = stream.flushes
    listener.stop()
    assert stream.getvalue().splitlines() == [f"record {n}" for n in range(300)]
    assert 1 <= flushed <= 10  # once per batch, not once per record


def test_an_access_line_takes_the_redaction_fast_path_and_a_secret_does_not() -> None:
    formatter = build_formatter(Settings())
    access = logging.LogRecord(
        "voice_api.access", logging.INFO, __file__, 1, "GET /api/v1/healthcheck 200", None, None
    )
    access.__dict__.update({"route": "/api/v1/healthcheck", "status": 200, "duration_ms": 0.1})
    seen: list[bool] = []
    original = formatter.process_log_record

    def spy(log_data: dict[str, Any]) -> dict[str, Any]:
        seen.append(_plainly_clean(log_data))
        return original(log_data)

    formatter.process_log_record = spy  # type: ignore[method-assign]
    assert orjson.loads(formatter.format(access))["status"] == 200
    leaky = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "sent Bearer abc.def.ghi to the shipper", None, None
    )
    assert "abc.def.ghi" not in formatter.format(leaky)
    assert seen == [True, False]  # the timestamp (a datetime) does not defeat it


class Keeping(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _access_records(*paths: str) -> list[logging.LogRecord]:
    keeping = Keeping()
    ACCESS_LOGGER.addHandler(keeping)
    level = ACCESS_LOGGER.level
    ACCESS_LOGGER.setLevel(logging.INFO)
    try:
        for path in paths:
            log_access("GET", path, "/api/v1/voice/orders/{order_id}", 404, 1.5, "cli_1", "rid-1")
    finally:
        ACCESS_LOGGER.removeHandler(keeping)
        ACCESS_LOGGER.setLevel(level)
    return keeping.records


def test_an_access_line_is_the_document_python_json_logger_writes() -> None:
    formatter = build_formatter(Settings())
    (record,) = _access_records("/api/v1/voice/orders/ord_1")
    # What a plain handler sees is an ordinary record...
    assert record.getMessage() == "GET /api/v1/voice/orders/ord_1 404"
    assert (record.levelname, record.name, record.module) == ("INFO", "voice_api.access", "")
    # ...and the direct build is python-json-logger's own document, key for key.
    generic = super(VoiceJsonFormatter, formatter).format(record)
    assert formatter.format(record) == generic
    document = orjson.loads(generic)
    assert list(document) == [
        "level", "logger", "message", "service", "environment", "http_method", "path",
        "route", "status", "duration_ms", "client_id", "request_id", "timestamp",
    ]  # fmt: skip
    assert (document["status"], document["client_id"], document["request_id"]) == (
        404,
        "cli_1",
        "rid-1",
    )


def test_a_secret_in_an_access_line_is_redacted() -> None:
    formatter = build_formatter(Settings())
    (record,) = _access_records("/api/v1/voice/orders/Bearer eyJhbGciOi.eyJzdWIiOi.c2ln")
    line = formatter.format(record)
    assert "eyJhbGciOi" not in line and "[REDACTED]" in line
