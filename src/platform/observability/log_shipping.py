"""Log shipping to Elasticsearch that never blocks a request and never loses a record.

    request -> QueueHandler (bounded, drops and counts when full)
            -> QueueListener thread -> SpoolHandler: JSON lines appended to a segment
               file in LOG_SPOOL_PATH (size-capped; fsync'd at least once a second)
            -> shipper thread: closed segments -> `_bulk` (create, stable `_id`)
               -> deleted only when every line is acknowledged

Each line carries an id made when it was written, so a segment sent twice (a crash
between the bulk answer and the delete) creates nothing new: `create` of an existing
id is a 409, which counts as delivered. Items refused for what they are (mapping
conflicts, 400) go to a dead-letter file instead of the retry loop; a refused or
unreachable cluster (connection errors, 429, 5xx) is retried with backoff while the
spool grows up to LOG_SPOOL_MAX_BYTES. Segments live on disk, so a restart resumes
where the last process stopped; several worker processes share one spool directory
and claim segments by renaming them.
"""

import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from src.config import Settings
from src.platform.observability.logging import QUIET_LOGGERS
from src.platform.observability.metrics import (
    LOG_RECORDS_DROPPED,
    SHIPPER_LAST_SUCCESS,
    SHIPPER_RECORDS,
    SHIPPER_SPOOL_BYTES,
)

ACTIVE, READY, CLAIMED = ".active", ".ready", ".shipping"
DEAD_LETTER_FILE = "dead-letter.jsonl"

INDEX_TEMPLATE: dict[str, Any] = {
    "priority": 200,
    "template": {
        "settings": {"number_of_shards": 1},
        "mappings": {
            "dynamic_templates": [
                {"strings": {"match_mapping_type": "string", "mapping": {"type": "keyword"}}}
            ],
            "properties": {
                "timestamp": {"type": "date"},
                "message": {"type": "text"},
                "level": {"type": "keyword"},
                "logger": {"type": "keyword"},
                "service": {"type": "keyword"},
                "environment": {"type": "keyword"},
                "request_id": {"type": "keyword"},
                "client_id": {"type": "keyword"},
                "path": {"type": "keyword"},
                "route": {"type": "keyword"},
                "status": {"type": "integer"},
                "duration_ms": {"type": "float"},
                "exc_info": {"type": "text"},
            },
        },
    },
}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Spool:
    """Segment files in one directory, shared by the processes of one service."""

    def __init__(self, path: Path, segment_bytes: int, max_bytes: int) -> None:
        self.path = path
        self.segment_bytes = segment_bytes
        self.max_bytes = max_bytes
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._file: Any = None
        self._file_path: Path | None = None
        self._opened_at = 0.0
        self._synced_at = 0.0
        self._bytes = self._measure()
        self.recover()

    def _measure(self) -> int:
        return sum(f.stat().st_size for f in self.path.glob("seg-*") if f.is_file())

    def recover(self) -> None:
        """Hand back the segments of processes that died (written or being shipped)."""
        for segment in self.path.glob("seg-*"):
            name = segment.name
            pid_text = name.split("-")[1] if name.count("-") >= 2 else ""
            owner = int(pid_text) if pid_text.isdigit() else -1
            if owner == os.getpid() or _pid_alive(owner):
                continue
            if name.endswith(ACTIVE) or CLAIMED in name:
                stem = name.split(".")[0]
                with contextlib.suppress(FileNotFoundError):
                    segment.rename(self.path / f"{stem}{READY}")

    # -- writing (the listener thread) ---------------------------------------------

    def append(self, line: bytes) -> bool:
        """Append one JSON line; False when the spool is full (the line is dropped)."""
        with self._lock:
            if self._bytes + len(line) > self.max_bytes:
                return False
            if self._file is None:
                self._open()
            self._file.write(line)
            self._bytes += len(line)
            now = time.monotonic()
            if now - self._synced_at >= 1.0:
                # At most the last second of records can be lost in a crash.
                self._file.flush()
                os.fsync(self._file.fileno())
                self._synced_at = now
            if self._file.tell() >= self.segment_bytes:
                self._close()
            return True

    def _open(self) -> None:
        stem = f"seg-{os.getpid()}-{time.time_ns():020d}"
        self._file_path = self.path / f"{stem}{ACTIVE}"
        self._file = self._file_path.open("ab")
        self._opened_at = time.monotonic()

    def _close(self) -> None:
        if self._file is None or self._file_path is None:
            return
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file_path.rename(self._file_path.with_suffix(READY))
        self._file = None
        self._file_path = None

    def seal(self, older_than: float = 0.0) -> None:
        """Close the segment being written if it is older than `older_than` seconds."""
        with self._lock:
            if self._file is not None and time.monotonic() - self._opened_at >= older_than:
                self._close()

    # -- shipping (the shipper thread) ---------------------------------------------

    def claim(self) -> Path | None:
        """The oldest sealed segment, renamed so that no other process ships it."""
        for segment in sorted(self.path.glob(f"seg-*{READY}")):
            claimed = segment.with_name(segment.name.replace(READY, f"{CLAIMED}.{os.getpid()}"))
            try:
                segment.rename(claimed)
            except FileNotFoundError:
                continue  # another process took it
            return claimed
        return None

    def release(self, segment: Path) -> None:
        """Put a claimed segment back (shipping failed; try again later)."""
        with contextlib.suppress(FileNotFoundError):
            segment.rename(segment.with_name(segment.name.split(".")[0] + READY))

    def remove(self, segment: Path) -> None:
        size = segment.stat().st_size if segment.exists() else 0
        segment.unlink(missing_ok=True)
        with self._lock:
            self._bytes = max(0, self._bytes - size)

    @property
    def bytes(self) -> int:
        return self._bytes

    def refresh(self) -> int:
        """Re-measure the spool on disk (after segments were rewritten or removed)."""
        with self._lock:
            self._bytes = self._measure()
            return self._bytes


class SpoolHandler(logging.Handler):
    """Runs on the QueueListener thread: formats a record and appends it to the spool."""

    def __init__(self, spool: Spool) -> None:
        super().__init__()
        self.spool = spool
        self.addFilter(lambda record: not record.name.startswith(QUIET_LOGGERS))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            document = orjson.loads(self.format(record))
            line = orjson.dumps({"id": uuid.uuid4().hex, "doc": document}) + b"\n"
        except Exception:
            self.handleError(record)
            return
        if self.spool.append(line):
            SHIPPER_RECORDS.labels(outcome="queued").inc()
        else:
            LOG_RECORDS_DROPPED.labels(reason="spool_full").inc()


def _index_name(prefix: str, document: dict[str, Any]) -> str:
    stamp = str(document.get("timestamp") or "")
    try:
        day = datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        day = datetime.now(UTC)
    return f"{prefix}-{day:%Y.%m.%d}"


def read_segment(segment: Path) -> Iterator[dict[str, Any]]:
    """The spooled lines of a segment; a torn last line (a crash mid-write) is skipped."""
    with segment.open("rb") as handle:
        for raw in handle:
            try:
                entry = orjson.loads(raw)
            except orjson.JSONDecodeError:
                LOG_RECORDS_DROPPED.labels(reason="spool_corrupt").inc()
                continue
            if isinstance(entry, dict) and "id" in entry and "doc" in entry:
                yield entry


class Shipper:
    """The background thread that sends sealed segments to Elasticsearch."""

    def __init__(self, settings: Settings, spool: Spool, client: Any | None = None) -> None:
        self.settings = settings
        self.spool = spool
        self.client = client if client is not None else build_client(settings)
        self.dead_letter = spool.path / DEAD_LETTER_FILE
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._template_installed = not settings.ELASTICSEARCH_INSTALL_TEMPLATE
        self._backoff = 0.0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="log-shipper", daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Ship what can be shipped within `timeout` seconds; the rest stays spooled."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(timeout, 0.1))
        self.spool.seal()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.ship_once():
            pass
        self.client.close()

    def _run(self) -> None:
        interval = self.settings.LOG_SHIP_INTERVAL
        while not self._stop.is_set():
            self.spool.seal(older_than=interval)
            try:
                shipped = self.ship_once()
            except Exception:  # never let the thread die; the segment stays spooled
                shipped = False
                self._fail()
            SHIPPER_SPOOL_BYTES.set(self.spool.refresh())
            if not shipped:
                self._stop.wait(self._backoff or interval)

    def _fail(self) -> None:
        ceiling = self.settings.LOG_SHIP_MAX_BACKOFF
        self._backoff = min(ceiling, max(min(0.5, ceiling), self._backoff * 2))

    def ship_once(self) -> bool:
        """Send one sealed segment. True if a segment was fully delivered."""
        if not self._template_installed:
            self._install_template()
        segment = self.spool.claim()
        if segment is None:
            return False
        delivered = self._send(segment)
        if delivered:
            self.spool.remove(segment)
            self._backoff = 0.0
            SHIPPER_LAST_SUCCESS.set(time.time())
        else:
            self.spool.release(segment)
            self._fail()
        return delivered

    def _install_template(self) -> None:
        try:
            self.client.indices.put_index_template(
                name=self.settings.ELASTICSEARCH_INDEX_PREFIX,
                index_patterns=[f"{self.settings.ELASTICSEARCH_INDEX_PREFIX}-*"],
                **INDEX_TEMPLATE,
            )
            self._template_installed = True
        except Exception:
            pass  # retried before the next segment; shipping does not wait for it

    def _send(self, segment: Path) -> bool:
        from elasticsearch import helpers

        entries = list(read_segment(segment))
        if not entries:
            return True
        prefix = self.settings.ELASTICSEARCH_INDEX_PREFIX
        actions = (
            {
                "_op_type": "create",
                "_index": _index_name(prefix, e["doc"]),
                "_id": e["id"],
                "_source": e["doc"],
            }
            for e in entries
        )
        retry: set[str] = set()
        dead: list[bytes] = []
        try:
            for ok, item in helpers.streaming_bulk(
                self.client,
                actions,
                chunk_size=self.settings.LOG_SHIP_BATCH,
                raise_on_error=False,
                raise_on_exception=False,
                max_retries=0,
            ):
                result = next(iter(item.values()))
                status = int(result.get("status", 0))
                if ok or status == 409:  # 409: an earlier attempt already created it
                    SHIPPER_RECORDS.labels(outcome="shipped").inc()
                elif "exception" in result or status == 429 or status >= 500 or status == 0:
                    # The whole request failed (refused, unauthorised, overloaded): the
                    # records are fine, the cluster is not ready for them. Retry.
                    retry.add(str(result.get("_id")))
                    SHIPPER_RECORDS.labels(outcome="retried").inc()
                else:
                    dead.append(
                        orjson.dumps({"id": result.get("_id"), "error": result.get("error")})
                    )
                    SHIPPER_RECORDS.labels(outcome="dead_lettered").inc()
        except Exception:
            return False
        if dead:
            self._dead_letter(dead, {e["id"]: e["doc"] for e in entries})
        if retry:
            # Keep only what is still owed, so nothing delivered or dead-lettered repeats.
            kept = b"".join(orjson.dumps(e) + b"\n" for e in entries if e["id"] in retry)
            partial = segment.with_name(segment.name + ".tmp")
            partial.write_bytes(kept)
            partial.replace(segment)
            return False
        return True

    def _dead_letter(self, items: list[bytes], documents: dict[str, Any]) -> None:
        with self.dead_letter.open("ab") as handle:
            for raw in items:
                entry = orjson.loads(raw)
                entry["doc"] = documents.get(entry["id"])
                handle.write(orjson.dumps(entry) + b"\n")


def build_client(settings: Settings) -> Any:
    """The Elasticsearch client: short timeouts, no retries of its own (we retry)."""
    from elasticsearch import Elasticsearch

    api_key = settings.ELASTICSEARCH_API_KEY
    return Elasticsearch(
        settings.ELASTICSEARCH_HOST,
        api_key=api_key.get_secret_value() if api_key else None,
        request_timeout=settings.LOG_SHIP_TIMEOUT,
        max_retries=0,
        retry_on_timeout=False,
        # The transport's own dead-node timeout must not outlast our backoff.
        max_dead_node_backoff=settings.LOG_SHIP_MAX_BACKOFF,
    )


class LogShipping:
    """The spool handler (for the logging listener) and the shipper thread, together."""

    def __init__(self, settings: Settings, client: Any | None = None) -> None:
        self.settings = settings
        self.spool = Spool(
            Path(settings.LOG_SPOOL_PATH),
            settings.LOG_SPOOL_SEGMENT_BYTES,
            settings.LOG_SPOOL_MAX_BYTES,
        )
        self.handler = SpoolHandler(self.spool)
        self.shipper = Shipper(settings, self.spool, client)

    def start(self) -> None:
        self.shipper.start()

    def stop(self) -> None:
        """After the logging listener has drained: seal and ship within the deadline."""
        self.shipper.stop(self.settings.LOG_SHIP_SHUTDOWN_SECONDS)


def shipping_for(settings: Settings) -> LogShipping | None:
    """Log shipping when ELASTICSEARCH_HOST is set, else None."""
    return LogShipping(settings) if settings.ELASTICSEARCH_HOST else None
