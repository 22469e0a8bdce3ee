"""A bounded FIFO between a run's producers and its one consumer.

Why not ``asyncio.Queue``: producers in worker threads must block until their event is taken
(order relative to the tool's own output, and back-pressure), the consumer wants every ready
item in one wake-up (so a burst becomes one write), and events the consumer is still writing
must count against the bound. Nothing here polls: an idle channel is two parked futures.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections import deque
from typing import Generic, TypeVar

from ..exceptions import StreamClosed

__all__ = ("EventChannel",)

T = TypeVar("T")
_Waiter = asyncio.Future[None] | concurrent.futures.Future[None]


class EventChannel(Generic[T]):
    __slots__ = (
        "_closed",
        "_getter",
        "_in_flight",
        "_items",
        "_maxsize",
        "_peak",
        "_putters",
    )

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self._maxsize = maxsize
        self._items: deque[T] = deque()
        # Producers waiting for room, each with the item it brings: moved in strictly in order.
        self._putters: deque[tuple[_Waiter, T]] = deque()
        self._getter: asyncio.Future[None] | None = None
        self._in_flight = 0  # handed to the consumer, not yet released by its next get
        self._closed: StreamClosed | None = None
        self._peak = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def peak(self) -> int:
        """Most items held at once (buffered + being written): the memory high-water mark."""
        return max(self._peak, len(self._items) + self._in_flight)

    @property
    def closed(self) -> bool:
        return self._closed is not None

    # -- producers (all on the loop thread; threads arrive via call_soon_threadsafe) ---------
    def put_nowait(self, item: T) -> bool:
        """Append if there is room and nobody is queued ahead; False means wait."""
        if self._closed is not None:
            raise self._closed
        return self.offer(item)

    def offer(self, item: T) -> bool:
        """``put_nowait`` that answers False rather than raising once closed (the caller's
        slow path reports that). Every event's path, so it does the least: the high-water
        mark is taken when the consumer takes a batch. Producers already waiting go first."""
        items = self._items
        if (
            self._putters
            or len(items) + self._in_flight >= self._maxsize
            or self._closed is not None
        ):
            return False
        items.append(item)
        getter = self._getter
        if getter is not None:
            self._getter = None  # woken once; later items need not look again
            if not getter.done():
                getter.set_result(None)
        return True

    async def put(self, item: T) -> None:
        if self.put_nowait(item):
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (waiter, item)
        self._putters.append(entry)
        try:
            await waiter
        except asyncio.CancelledError:
            if not waiter.done() or waiter.cancelled():
                with contextlib.suppress(ValueError):
                    self._putters.remove(entry)
            raise

    def put_waiting(self, item: T, waiter: concurrent.futures.Future[None]) -> None:
        """From another thread (scheduled onto the loop): settle ``waiter`` once accepted."""
        try:
            accepted = self.put_nowait(item)
        except StreamClosed as exc:
            waiter.set_exception(exc)
            return
        if accepted:
            waiter.set_result(None)
        else:
            self._putters.append((waiter, item))

    def force_put(self, item: T) -> None:
        """Append past the bound; for sync emits on the loop thread, which must not block it."""
        if self._closed is not None:
            raise self._closed
        self._append(item)

    def _append(self, item: T) -> None:
        self._items.append(item)
        held = len(self._items) + self._in_flight
        if held > self._peak:
            self._peak = held
        getter = self._getter
        if getter is not None and not getter.done():
            getter.set_result(None)

    # -- consumer ------------------------------------------------------------------------------
    async def get_batch(self) -> list[T] | None:
        """Everything ready, in order; waits while empty; ``None`` once closed and drained;
        ``[]`` after a ``wake()``.

        The previous batch is released here, so items being written count against the bound.
        """
        batch = self.ready()
        if batch is not None:
            return batch
        if self._closed is not None:
            return None
        await self.waiter()
        if not self._items:
            return None if self._closed is not None else []
        return self.take()

    def ready(self) -> list[T] | None:
        """``get_batch`` without the wait: release the previous batch, then take everything
        ready, or ``None`` if nothing is. With ``waiter`` and ``take``, for a consumer that
        reads in a loop of its own (a coroutine call per batch costs as much as a frame)."""
        held = len(self._items) + self._in_flight  # (at its highest just before a batch is taken)
        if held > self._peak:
            self._peak = held
        self._in_flight = 0
        if self._putters:
            self._admit_waiting()
        return self.take() if self._items else None

    def waiter(self) -> asyncio.Future[None]:
        """A future settled when items arrive, on ``wake()`` or on ``close()`` (then it is
        forgotten, settled or cancelled: the consumer takes what is there)."""
        getter = self._getter = asyncio.get_running_loop().create_future()
        getter.add_done_callback(self._waited)
        return getter

    def _waited(self, getter: asyncio.Future[None]) -> None:
        if self._getter is getter:
            self._getter = None

    def take(self) -> list[T]:
        """Everything buffered, now in flight (counted against the bound until released)."""
        batch = list(self._items)
        self._items.clear()
        self._in_flight = len(batch)
        return batch

    def _admit_waiting(self) -> None:
        putters = self._putters
        while putters and len(self._items) < self._maxsize:
            waiter, item = putters.popleft()
            if waiter.done():  # cancelled while queued
                continue
            self._append(item)
            waiter.set_result(None)

    def wake(self) -> None:
        """Return a waiting consumer an empty batch (a timer wants it, e.g. for a heartbeat)."""
        getter = self._getter
        if getter is not None and not getter.done():
            getter.set_result(None)

    def close(self, reason: StreamClosed | None = None) -> None:
        """No more items. Buffered ones can still be drained; waiting producers are failed."""
        if self._closed is not None:
            return
        self._closed = reason or StreamClosed("stream ended")
        while self._putters:
            waiter, _ = self._putters.popleft()
            if not waiter.done():
                waiter.set_exception(self._closed)
        getter = self._getter
        if getter is not None and not getter.done():
            getter.set_result(None)
