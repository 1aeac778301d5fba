"""Log shipping against a fake Elasticsearch: outages, restarts, refusals, secrets."""

import logging
import queue
import time
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import REGISTRY

from src.config import Settings
from src.platform.observability.log_shipping import DEAD_LETTER_FILE, LogShipping
from src.platform.observability.logging import DroppingQueueHandler, build_formatter
from tests.platform.observability.fake_es import FakeElasticsearch
from tests.processes import wait_for


def shipping_settings(es: FakeElasticsearch, spool: Path) -> Settings:
    return Settings(
        ELASTICSEARCH_HOST=es.url,
        LOG_SPOOL_PATH=str(spool),
        LOG_SHIP_INTERVAL=0.1,
        LOG_SHIP_TIMEOUT=1.0,
        LOG_SHIP_MAX_BACKOFF=0.5,
        LOG_SHIP_SHUTDOWN_SECONDS=2.0,
        LOG_SPOOL_SEGMENT_BYTES=8192,
    )


class Pipeline:
    """A logger whose records go only to a LogShipping handler (as the listener does)."""

    def __init__(self, settings: Settings, name: str) -> None:
        self.shipping = LogShipping(settings)
        self.shipping.handler.setFormatter(build_formatter(settings))
        self.logger = logging.getLogger(f"shiptest.{name}")
        self.logger.handlers = [self.shipping.handler]
        self.logger.propagate = False
        self.logger.setLevel(logging.INFO)

    def __enter__(self) -> "Pipeline":
        self.shipping.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shipping.stop()


def test_records_arrive_once_with_the_flat_shape(es: FakeElasticsearch, tmp_path: Path) -> None:
    settings = shipping_settings(es, tmp_path / "spool")
    with Pipeline(settings, "shape") as pipe:
        for n in range(50):
            pipe.logger.info("order %d stored", n, extra={"request_id": f"r-{n}", "route": "/x"})
        wait_for(lambda: len(es.documents) == 50)
    assert sorted(es.messages()) == sorted(f"order {n} stored" for n in range(50))
    assert len(es.creates) == len(set(es.creates)) == 50
    (index, _id), doc = next(iter(es.documents.items()))
    assert index.startswith("voice-api-logs-20") and len(index) == len("voice-api-logs-2026.11.23")
    assert {"timestamp", "level", "logger", "message", "service", "environment"} <= set(doc)
    assert doc["request_id"].startswith("r-") and doc["route"] == "/x"
    template = es.templates["voice-api-logs"]
    assert template["index_patterns"] == ["voice-api-logs-*"]
    assert template["template"]["mappings"]["properties"]["request_id"] == {"type": "keyword"}
    assert not list((tmp_path / "spool").glob("seg-*"))  # delivered segments are deleted


def test_an_outage_loses_nothing_and_duplicates_nothing(
    es: FakeElasticsearch, tmp_path: Path
) -> None:
    settings = shipping_settings(es, tmp_path / "spool")
    with Pipeline(settings, "outage") as pipe:
        pipe.logger.info("before")
        wait_for(lambda: len(es.documents) == 1)
        es.stop()  # connection refused from here on
        for n in range(300):
            pipe.logger.info("during %d", n)
        time.sleep(1.5)  # the shipper retries against a closed port meanwhile
        es.start()  # same port
        for n in range(20):
            pipe.logger.info("after %d", n)
        wait_for(lambda: len(es.documents) == 321)
    assert len(es.creates) == len(set(es.creates)) == 321


def test_a_restart_mid_outage_resumes_from_the_spool(es: FakeElasticsearch, tmp_path: Path) -> None:
    settings = shipping_settings(es, tmp_path / "spool")
    es.stop()
    first = Pipeline(settings, "restart-1")
    with first:
        for n in range(100):
            first.logger.info("spooled %d", n)
    # The process "exits" with ES still down: everything waits on disk.
    assert list((tmp_path / "spool").glob("seg-*"))
    es.start()
    with Pipeline(settings, "restart-2") as second:
        second.logger.info("new process")
        wait_for(lambda: len(es.documents) == 101)
    assert len(es.creates) == len(set(es.creates)) == 101


def test_mapping_errors_go_to_the_dead_letter_file(es: FakeElasticsearch, tmp_path: Path) -> None:
    settings = shipping_settings(es, tmp_path / "spool")
    with Pipeline(settings, "dead") as pipe:
        pipe.logger.info("fine 1")
        pipe.logger.info("MAPPING_CONFLICT here")
        pipe.logger.info("fine 2")
        wait_for(
            lambda: (tmp_path / "spool" / DEAD_LETTER_FILE).exists() and len(es.documents) == 2
        )
        requests = es.bulk_requests
        time.sleep(0.5)
        assert es.bulk_requests == requests  # not retried
    dead = [
        orjson.loads(line)
        for line in (tmp_path / "spool" / DEAD_LETTER_FILE).read_bytes().splitlines()
    ]
    assert [d["doc"]["message"] for d in dead] == ["MAPPING_CONFLICT here"]
    assert dead[0]["error"]["type"] == "mapper_parsing_exception"


def test_429_is_retried_until_accepted(es: FakeElasticsearch, tmp_path: Path) -> None:
    settings = shipping_settings(es, tmp_path / "spool")
    es.mode = "429"
    with Pipeline(settings, "429") as pipe:
        for n in range(10):
            pipe.logger.info("busy %d", n)
        wait_for(lambda: es.bulk_requests >= 1)
        time.sleep(0.3)
        assert es.documents == {}
        es.mode = "ok"
        wait_for(lambda: len(es.documents) == 10)
    assert len(es.creates) == 10


def test_no_secret_reaches_elasticsearch(es: FakeElasticsearch, tmp_path: Path) -> None:
    settings = shipping_settings(es, tmp_path / "spool")
    key = "sk_" + "C" * 43
    with Pipeline(settings, "secrets") as pipe:
        pipe.logger.info("auth header Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln")
        pipe.logger.info("client sent %s", key, extra={"secret_key": key, "audio": "UklGRg=="})
        wait_for(lambda: len(es.documents) == 2)
    shipped = orjson.dumps(list(es.documents.values())).decode()
    assert key not in shipped and "eyJhbGci" not in shipped and "UklGRg" not in shipped
    assert shipped.count("[REDACTED]") >= 4


def test_hung_elasticsearch_never_blocks_the_caller(es: FakeElasticsearch, tmp_path: Path) -> None:
    settings = shipping_settings(es, tmp_path / "spool")
    es.mode = "hang"
    with Pipeline(settings, "hang") as pipe:
        started = time.perf_counter()
        for n in range(2000):
            pipe.logger.info("while hung %d", n)
        writing = time.perf_counter() - started
        es.mode = "ok"
    # The shipper thread is stuck in a request; writing only touched the spool file.
    assert writing < 5, writing


def test_a_full_queue_drops_and_counts_instead_of_blocking() -> None:
    small: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    handler = DroppingQueueHandler(small, max_size=2)
    logger = logging.getLogger("shiptest.queue")
    logger.handlers = [handler]
    logger.propagate = False
    before = REGISTRY.get_sample_value("log_records_dropped_total", {"reason": "queue_full"}) or 0
    for n in range(10):
        logger.warning("record %d", n)  # no listener drains this queue
    assert handler.dropped == 8 and small.qsize() == 2
    after = REGISTRY.get_sample_value("log_records_dropped_total", {"reason": "queue_full"})
    assert after == before + 8
