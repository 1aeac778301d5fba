"""The log queue's listener: every record, in order, in batches rather than one
wake-up per record."""

import logging
import queue
import threading
import time

from src.logging import BatchingQueueListener
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
