"""When a consumer counts as stalled (runtime/progress.py), on a clock of the test's own."""

from __future__ import annotations

from invoicebus.runtime.progress import Progress

Q = "invoicebus.customer.list"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_messages_ready_with_nothing_settled_for_the_threshold_is_a_stall() -> None:
    clock = Clock()
    progress = Progress(60, clock)
    assert not progress.stalled(Q, 5)  # first seen waiting now
    clock.now += 59
    assert not progress.stalled(Q, 5)
    clock.now += 1
    assert progress.stalled(Q, 5)
    progress.settled(Q)  # it moved again
    assert not progress.stalled(Q, 5)
    clock.now += 60
    assert progress.stalled(Q, 5)


def test_an_idle_consumer_with_an_empty_queue_is_not_stalled() -> None:
    clock = Clock()
    progress = Progress(60, clock)
    clock.now += 3600
    assert not progress.stalled(Q, 0)
    # A message arrives after an hour of quiet: it has to wait the threshold first.
    assert not progress.stalled(Q, 1)
    clock.now += 30
    assert not progress.stalled(Q, 1)


def test_a_queue_that_empties_starts_the_wait_afresh() -> None:
    clock = Clock()
    progress = Progress(60, clock)
    progress.stalled(Q, 3)
    clock.now += 50
    assert not progress.stalled(Q, 0)
    clock.now += 20
    assert not progress.stalled(Q, 3)  # waiting for 0 s, not 70 s


def test_a_steady_consumer_of_a_long_queue_is_not_stalled() -> None:
    clock = Clock()
    progress = Progress(60, clock)
    for _ in range(10):
        progress.stalled(Q, 20_000)
        clock.now += 30
        progress.settled(Q)
    assert not progress.stalled(Q, 20_000)
