"""The micro-batching policy of the command service: which messages are written together, and
when. Pure asyncio, no broker or database: what a batch does is the ``write`` it is given.

After MassTransit's batch consumers, three limits:
- **message limit** (``size``): a batch holds at most this many messages;
- **time limit** (``wait_seconds``): a batch is written at most this long after its first
  message arrived, even if it is not full (0: at the next turn of the event loop, with the
  messages that arrived in the same turn);
- **concurrency limit** (``concurrency``): at most this many batches are written at once.

A batch is only formed when a writer is free. So an idle service writes a lone command at
once (no added latency), and under load the messages that arrive while the writers are busy
wait together and make the next batch: the batches grow with the load, as in a database's
group commit, without a timer holding anything back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")

Write = Callable[[list[T]], Awaitable[None]]


class Batcher(Generic[T]):
    def __init__(
        self, write: Write[T], *, size: int, wait_seconds: float, concurrency: int
    ) -> None:
        if size < 1 or concurrency < 1 or wait_seconds < 0:
            raise ValueError("size and concurrency must be at least 1, wait_seconds at least 0")
        self._write = write
        self.size = size
        self.wait_seconds = wait_seconds
        self._slots = asyncio.Semaphore(concurrency)
        #: Waiting messages: each with its future and when it arrived (the loop's clock).
        self._pending: list[tuple[T, asyncio.Future[None], float]] = []
        self._arrived = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._writes: set[asyncio.Task[None]] = set()

    async def submit(self, item: T) -> None:
        """Add ``item`` to the next batch; return once that batch is written (its error, if
        ``write`` raised, is raised here too)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((item, future, loop.time()))
        self._arrived.set()
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.create_task(self._dispatch())
        # Shielded: a cancelled caller does not take its message out of a batch being written.
        await asyncio.shield(future)

    async def _dispatch(self) -> None:
        """Form batches while messages wait; then end (the next ``submit`` starts it again), so
        an idle batcher holds no task."""
        while self._pending:
            await self._slots.acquire()
            try:
                await self._linger()
            except BaseException:
                self._slots.release()
                raise
            batch, self._pending = self._pending[: self.size], self._pending[self.size :]
            task = asyncio.create_task(self._run(batch))
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)

    async def _linger(self) -> None:
        """Let the batch fill: up to ``size`` messages or ``wait_seconds`` after its first."""
        loop = asyncio.get_running_loop()
        await asyncio.sleep(0)  # the messages that arrived in this turn of the loop join
        deadline = self._pending[0][2] + self.wait_seconds
        while len(self._pending) < self.size:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    async def _run(self, batch: list[tuple[T, asyncio.Future[None], float]]) -> None:
        try:
            await self._write([item for item, _, _ in batch])
        except BaseException as exc:  # every message of the batch hears of it
            for _, future, _ in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            for _, future, _ in batch:
                if not future.done():
                    future.set_result(None)
        finally:
            self._slots.release()
