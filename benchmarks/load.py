"""Closed-loop load and its statistics: ``window`` calls in flight, each slot sending the next
call as soon as its previous one is done, so the in-flight window is exactly what is asked."""

from __future__ import annotations

import asyncio
import itertools
import math
import statistics
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from .bus import Timing


async def run_window(n: int, window: int, call: Callable[[int], Awaitable[Timing]]) -> list[Timing]:
    """``call(0)`` … ``call(n - 1)``, at most ``window`` at once; their timings in order."""
    timings: list[Timing | None] = [None] * n
    numbers = itertools.count()

    async def slot() -> None:
        while (i := next(numbers)) < n:
            timings[i] = await call(i)

    await asyncio.gather(*(slot() for _ in range(min(window, n))))
    return [t for t in timings if t is not None]


def throughput(timings: Sequence[Timing]) -> float:
    """Calls per second, from the first publish to the last outcome seen."""
    elapsed = max(t.seen for t in timings) - min(t.started for t in timings)
    return len(timings) / elapsed


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100), interpolated linearly between the closest ranks."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Latency:
    """p50 and p99 in milliseconds."""

    p50: float
    p99: float

    @classmethod
    def of(cls, timings: Sequence[Timing]) -> Latency:
        ms = [t.latency * 1000 for t in timings]
        return cls(percentile(ms, 50), percentile(ms, 99))


def median(values: Sequence[float]) -> float:
    return statistics.median(values)
