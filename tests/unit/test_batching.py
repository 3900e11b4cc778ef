"""The micro-batching policy (``commands/batching.py``) on a fake write: message limit, time
limit, concurrency limit, and no wait for a lone message."""

from __future__ import annotations

import asyncio

import pytest

from invoicebus.commands.batching import Batcher


class Recorder:
    """A write that records each batch and finishes when told to."""

    def __init__(self, *, hold: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.running = 0
        self.most_running = 0
        self.release = asyncio.Event()
        if not hold:
            self.release.set()

    async def __call__(self, batch: list[int]) -> None:
        self.batches.append(batch)
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await self.release.wait()
        finally:
            self.running -= 1


async def test_a_lone_message_is_written_at_once_alone() -> None:
    write = Recorder()
    batcher = Batcher(write, size=10, wait_seconds=0, concurrency=1)
    await batcher.submit(1)
    assert write.batches == [[1]]


async def test_messages_arriving_together_make_one_batch() -> None:
    write = Recorder()
    batcher = Batcher(write, size=10, wait_seconds=0, concurrency=1)
    await asyncio.gather(*(batcher.submit(i) for i in range(5)))
    assert write.batches == [[0, 1, 2, 3, 4]]


async def test_a_batch_holds_at_most_size_messages() -> None:
    write = Recorder()
    batcher = Batcher(write, size=3, wait_seconds=0, concurrency=1)
    await asyncio.gather(*(batcher.submit(i) for i in range(7)))
    assert write.batches == [[0, 1, 2], [3, 4, 5], [6]]


async def test_messages_that_arrive_while_the_writers_are_busy_make_the_next_batch() -> None:
    write = Recorder(hold=True)
    batcher = Batcher(write, size=100, wait_seconds=0, concurrency=1)
    first = asyncio.create_task(batcher.submit(0))
    await asyncio.sleep(0.01)
    later = [asyncio.create_task(batcher.submit(i)) for i in range(1, 6)]
    await asyncio.sleep(0.01)
    assert write.batches == [[0]]  # no second batch while the only writer is busy
    write.release.set()
    await asyncio.gather(first, *later)
    assert write.batches == [[0], [1, 2, 3, 4, 5]]


async def test_at_most_concurrency_batches_are_written_at_once() -> None:
    write = Recorder(hold=True)
    batcher = Batcher(write, size=1, wait_seconds=0, concurrency=2)
    tasks = [asyncio.create_task(batcher.submit(i)) for i in range(5)]
    await asyncio.sleep(0.01)
    assert write.running == 2
    write.release.set()
    await asyncio.gather(*tasks)
    assert write.most_running == 2 and sorted(i for batch in write.batches for i in batch) == [
        0,
        1,
        2,
        3,
        4,
    ]


async def test_the_time_limit_lets_a_batch_fill() -> None:
    write = Recorder()
    batcher = Batcher(write, size=10, wait_seconds=0.2, concurrency=1)
    first = asyncio.create_task(batcher.submit(0))
    await asyncio.sleep(0.02)
    second = asyncio.create_task(batcher.submit(1))
    await asyncio.gather(first, second)
    assert write.batches == [[0, 1]]


async def test_a_full_batch_does_not_wait_out_the_time_limit() -> None:
    write = Recorder()
    batcher = Batcher(write, size=2, wait_seconds=60, concurrency=1)
    await asyncio.wait_for(asyncio.gather(batcher.submit(0), batcher.submit(1)), 5)
    assert write.batches == [[0, 1]]


async def test_a_failed_write_is_raised_to_every_message_of_its_batch_only() -> None:
    async def write(batch: list[int]) -> None:
        if 0 in batch:
            raise RuntimeError("boom")

    batcher = Batcher(write, size=2, wait_seconds=0, concurrency=1)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(3)), return_exceptions=True)
    assert [type(r).__name__ for r in results] == ["RuntimeError", "RuntimeError", "NoneType"]


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="at least"):
        Batcher(Recorder(), size=0, wait_seconds=0, concurrency=1)
