"""The in-process fixed-window counter: limits' window semantics, and expired windows
dropped so that a long-running worker does not keep every key it ever counted."""

from src.platform.ratelimit.memory_window import SWEEP_SECONDS, MemoryWindowCounter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_window_starts_at_its_first_hit_and_counts_until_it_ends() -> None:
    clock = Clock()
    counter = MemoryWindowCounter(clock)
    assert [counter.count("client:a", 60).count for _ in range(3)] == [1, 2, 3]
    assert counter.count("client:b", 60).count == 1  # keys are counted apart
    clock.now += 59.5
    last = counter.count("client:a", 60, cost=2)
    assert (last.count, last.reset_in) == (5, 0.5)
    clock.now += 0.5  # the window is over: the next hit opens a new one
    fresh = counter.count("client:a", 60)
    assert (fresh.count, fresh.reset_in) == (1, 60)


def test_expired_windows_are_dropped() -> None:
    clock = Clock()
    counter = MemoryWindowCounter(clock)
    for n in range(1000):
        counter.count(f"client:{n}", 1)
    counter.count("long", 3600)
    clock.now += SWEEP_SECONDS
    counter.count("client:new", 1)
    assert len(counter) == 2  # "long" and "client:new"


def test_reset_forgets_every_count() -> None:
    counter = MemoryWindowCounter()
    counter.count("client:a", 60)
    counter.reset()
    assert counter.count("client:a", 60).count == 1
