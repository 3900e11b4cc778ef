"""Waiting out transient failures (the database or the broker away), one way for both services.

``retry_transient`` runs a step and, while it fails with a transient error
(``adapters.errors.is_transient``), runs it again after a jittered exponential backoff (each
wait 0.8 to 1.2 times the current delay, which doubles up to a maximum). Any other error is
raised at once. Retrying ends with ``GaveUp`` (the last failure as its ``__cause__``) for one
of these reasons, checked in this order after every transient failure:

- ``channel_closed``: the caller's ``gone`` check says the message can no longer be settled;
- ``shutdown``: the service is stopping (a backoff in progress wakes at once, and the
  attempt it was waiting for is the last);
- ``retry_window``: the next wait would end past the caller's deadline.

Built on tenacity; the sleep is ``Shutdown.sleep``, so no retry holds up a stopping service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NoReturn, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from .adapters.errors import is_transient

log = logging.getLogger(__name__)

T = TypeVar("T")
#: Never more than 2**64 times the first delay: the exponent stays a float.
_MAX_DOUBLINGS = 64


class Shutdown:
    """Set once when the service begins to stop; every backoff sleep wakes at once then."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    @property
    def started(self) -> bool:
        return self._event.is_set()

    def begin(self) -> None:
        self._event.set()

    async def sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), seconds)


@dataclass(frozen=True)
class Backoff:
    """Delays of ``start`` seconds, doubling after each failure up to ``maximum``."""

    start: float
    maximum: float

    def delay(self, failures: int) -> float:
        """The delay after the ``failures``-th failure in a row (1 for the first)."""
        return min(self.start * 2.0 ** min(failures - 1, _MAX_DOUBLINGS), self.maximum)


class GaveUp(Exception):
    """Retrying ended without a result; ``reason`` says why (see the module)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def retry_transient(
    step: Callable[[], Awaitable[T]],
    *,
    backoff: Backoff,
    deadline: float,
    shutdown: Shutdown,
    gone: Callable[[], bool] = lambda: False,
    on_failure: Callable[[BaseException], None] = lambda exc: None,
    logger: logging.Logger = log,
) -> T:
    """``await step()``, retried while it fails transiently and it is worth it.

    ``deadline`` is a ``time.monotonic()`` value: no wait is begun that would end after it.
    ``on_failure`` sees every transient failure (to count it), ``gone`` is asked after each.
    Each retry is logged (a warning) to ``logger``: the caller's, so the log says whose it is.
    """
    why: list[str] = []

    def failed(state: RetryCallState) -> None:
        on_failure(_failure(state))

    def stop(state: RetryCallState) -> bool:
        if gone():
            why.append("channel_closed")
        elif shutdown.started:
            why.append("shutdown")
        elif time.monotonic() + backoff.delay(state.attempt_number) > deadline:
            why.append("retry_window")
        return bool(why)

    def jittered(state: RetryCallState) -> float:
        return backoff.delay(state.attempt_number) * random.uniform(0.8, 1.2)

    def announce(state: RetryCallState) -> None:
        delay = backoff.delay(state.attempt_number)
        logger.warning("transient failure (%r); retrying in %.1fs", _failure(state), delay)

    def give_up(state: RetryCallState) -> NoReturn:
        raise GaveUp(why[-1]) from _failure(state)

    retrying = AsyncRetrying(
        retry=retry_if_exception(is_transient),
        after=failed,
        wait=jittered,
        stop=stop,
        before_sleep=announce,
        sleep=shutdown.sleep,
        retry_error_callback=give_up,
    )

    async def attempt() -> T:  # a coroutine function, which tenacity awaits (a lambda isn't)
        return await step()

    result: T = await retrying(attempt)
    return result


def _failure(state: RetryCallState) -> BaseException:
    assert state.outcome is not None
    exc = state.outcome.exception()
    assert exc is not None
    return exc
