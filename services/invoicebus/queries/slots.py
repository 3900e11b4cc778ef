"""How many list requests run at once, and whose turn it is (pure asyncio, no I/O).

A list request runs only while it holds a slot: at most ``total`` run at once in the process,
and at most ``per_key`` of them for one key (an entity), so one tenant's costly lists can take
only its own share and the others always find a free slot. Requests that cannot start wait in
the process, one queue per key (first come, first served within a key), and a free slot goes
to the key that was given one least recently (a key given none yet first): a tenant with a
hundred waiting requests does not make another tenant's one request wait behind them, only
behind what is already running. A request waits no longer than ``wait_seconds``: a flood is
answered (``NoSlot``) rather than kept, so it leaves the broker's queue sooner.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class NoSlot(Exception):
    """No slot came free before the deadline."""


class Slots:
    def __init__(self, total: int, per_key: int, wait_seconds: float) -> None:
        if total < 1 or per_key < 1:
            raise ValueError("slot limits must be at least 1")
        self.total = total
        self.per_key = min(per_key, total)
        self.wait_seconds = wait_seconds
        self._running: dict[str, int] = {}
        self._in_use = 0
        #: The waiting requests of each key, in the order the keys began to wait.
        self._waiting: dict[str, deque[asyncio.Future[None]]] = {}
        #: When each key busy now was last given a slot (a count, not a time).
        self._served: dict[str, int] = {}
        self._grants = itertools.count(1)

    @property
    def running(self) -> int:
        return self._in_use

    @property
    def waiting(self) -> int:
        return sum(len(queue) for queue in self._waiting.values())

    @asynccontextmanager
    async def slot(self, key: str) -> AsyncIterator[None]:
        """Hold a slot for ``key`` in the block; ``NoSlot`` if none came in ``wait_seconds``."""
        await self._acquire(key, time.monotonic() + self.wait_seconds)
        try:
            yield
        finally:
            self._release(key)

    async def _acquire(self, key: str, deadline: float) -> None:
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, deque()).append(turn)
        self._dispatch()
        try:
            # asyncio.wait, not wait_for: it never cancels ``turn``, so a slot given at the
            # very moment the wait ends is seen below and handed back, never lost.
            await asyncio.wait([turn], timeout=max(deadline - time.monotonic(), 0.0))
        except asyncio.CancelledError:
            self._abandon(key, turn)
            raise
        if not turn.done():
            self._abandon(key, turn)
            raise NoSlot

    def _abandon(self, key: str, turn: asyncio.Future[None]) -> None:
        if turn.done():  # it was given a slot after all
            self._release(key)
            return
        turn.cancel()
        queue = self._waiting[key]
        queue.remove(turn)
        if not queue:
            del self._waiting[key]
            self._forget(key)

    def _release(self, key: str) -> None:
        self._running[key] -= 1
        self._in_use -= 1
        if not self._running[key]:
            del self._running[key]
            self._forget(key)
        self._dispatch()

    def _forget(self, key: str) -> None:
        """A key with nothing running or waiting needs no place in the order: when it comes
        back, it has had no slot for a while."""
        if key not in self._running and key not in self._waiting:
            self._served.pop(key, None)

    def _dispatch(self) -> None:
        """Give free slots to waiting requests, the least recently served key first."""
        while self._in_use < self.total:
            eligible = [k for k in self._waiting if self._running.get(k, 0) < self.per_key]
            if not eligible:
                return
            key = min(eligible, key=lambda k: self._served.get(k, 0))
            queue = self._waiting[key]
            queue.popleft().set_result(None)
            if not queue:
                del self._waiting[key]
            self._running[key] = self._running.get(key, 0) + 1
            self._in_use += 1
            self._served[key] = next(self._grants)
