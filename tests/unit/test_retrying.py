"""retrying.retry_transient: what is retried, the backoff, and each way it gives up."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from pymongo.errors import AutoReconnect

from invoicebus.retrying import Backoff, GaveUp, Shutdown, retry_transient

FAST = Backoff(0.001, 0.002)


class Failing:
    """A step that fails ``times`` times, then returns how often it was called."""

    def __init__(self, times: int, error: Exception | None = None) -> None:
        self.times = times
        self.error = error or AutoReconnect("down")
        self.calls = 0
        self.called = asyncio.Event()

    async def __call__(self) -> int:
        self.calls += 1
        self.called.set()
        if self.calls <= self.times:
            raise self.error
        return self.calls


async def retried(step: Failing, **kw: Any) -> int:
    options: dict[str, Any] = {"backoff": FAST, "deadline": time.monotonic() + 3600}
    options["shutdown"] = Shutdown()
    return await retry_transient(step, **(options | kw))


def test_the_delay_doubles_up_to_the_maximum() -> None:
    backoff = Backoff(0.5, 10.0)
    assert [backoff.delay(n) for n in range(1, 8)] == [0.5, 1, 2, 4, 8, 10, 10]
    assert backoff.delay(10_000) == 10.0  # no overflow after a long outage


async def test_transient_failures_are_retried_until_it_works() -> None:
    seen: list[BaseException] = []
    assert await retried(Failing(3), on_failure=seen.append) == 4
    assert len(seen) == 3 and all(isinstance(e, AutoReconnect) for e in seen)


async def test_any_other_error_is_raised_at_once() -> None:
    step = Failing(5, ZeroDivisionError("bug"))
    with pytest.raises(ZeroDivisionError):
        await retried(step)
    assert step.calls == 1


@pytest.mark.parametrize(
    ("kw", "reason"),
    [({"gone": lambda: True}, "channel_closed"), ({"deadline": 0.0}, "retry_window")],
)
async def test_it_gives_up_with_the_reason(kw: dict[str, Any], reason: str) -> None:
    with pytest.raises(GaveUp) as info:
        await retried(Failing(1000), **kw)
    assert info.value.reason == reason
    assert isinstance(info.value.__cause__, AutoReconnect)


async def test_shutdown_wakes_a_long_backoff_at_once() -> None:
    shutdown = Shutdown()
    step = Failing(1000)
    task = asyncio.create_task(retried(step, backoff=Backoff(600, 600), shutdown=shutdown))
    await step.called.wait()
    shutdown.begin()
    with pytest.raises(GaveUp) as info:
        await asyncio.wait_for(task, 5)  # not the 600 s backoff
    assert info.value.reason == "shutdown"
    assert step.calls == 2  # the attempt the wait led to, and no more after it failed
