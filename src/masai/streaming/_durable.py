"""The stream of a run executed from its journal, so another worker can take it over.

A worker that takes over a run executes it again from the start, with the run's journal: the
steps it records (model decisions, tool results) return their recorded results instead of
running again, and the events they emit were delivered already. So while the journal replays,
this stream drops every event; once the run passes its last recorded resume point it goes
live, numbering on from where the log stops (``seq`` stays gap-free). What the lost worker
logged after that resume point is covered by one ``retracted`` event, emitted first.

A resume point may be saved only once every event before it is in the log: otherwise a crash
right after saving it would lose events the journal says were delivered. ``checkpointed``
waits for that (the pump reports each append with ``logged``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Container
from typing import Any, Protocol

from ..events import StreamingEvent
from ._stream import EventStream

__all__ = ("DurableStream", "ReplayGate")


class ReplayGate(Protocol):
    """What the stream asks before taking an event (a ``Journal``)."""

    @property
    def replaying(self) -> bool: ...


class DurableStream(EventStream):
    """An ``EventStream`` that drops events while its gate replays, starts numbering at
    ``first_seq`` and knows how far its events have been logged."""

    __slots__ = ("_emitted", "_gate", "_logged", "_logged_waiters", "first_seq")

    def __init__(
        self,
        run: Callable[[], Awaitable[Any]],
        *,
        gate: ReplayGate,
        first_seq: int,
        accepts: Container[str] | None = None,
        max_buffered_events: int = 256,
        run_id: str | None = None,
        session_id: str | None = None,
        created: int | None = None,
    ) -> None:
        super().__init__(
            run,
            accepts=accepts,
            max_buffered_events=max_buffered_events,
            run_id=run_id,
            session_id=session_id,
            created=created,
        )
        self._gate = gate
        #: The seq the run's first live event gets: what the log held when it was taken over.
        self.first_seq = first_seq
        self.start_at(first_seq)
        self._logged = first_seq
        self._logged_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._emitted = 0  # live events taken (numbered or still buffered)
        live_offer = self.offer

        def offer(event: StreamingEvent) -> bool:
            if gate.replaying:
                return True  # (replayed: delivered by the run's first worker already)
            if live_offer(event):
                self._emitted += 1
                return True
            return False

        self.offer = offer

    @property
    def position(self) -> int:
        """The ``seq`` the next live event will get."""
        return self.first_seq + self._emitted

    async def send(self, event: StreamingEvent) -> None:
        if not self._gate.replaying:
            self._emitted += 1
            await super().send(event)

    def send_sync(self, event: StreamingEvent) -> None:
        if not self._gate.replaying:
            self._emitted += 1
            super().send_sync(event)

    def logged(self, next_seq: int) -> None:
        """Every event before ``next_seq`` is in the log now."""
        self._logged = next_seq
        waiters = self._logged_waiters
        if waiters:
            self._logged_waiters = [(s, w) for s, w in waiters if s > next_seq]
            for seq, waiter in waiters:
                if seq <= next_seq and not waiter.done():
                    waiter.set_result(None)

    async def checkpointed(self, seq: int) -> None:
        """Wait until every event before ``seq`` is in the log."""
        if self._logged >= seq:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._logged_waiters.append((seq, waiter))
        self.wake()  # (the pump takes what is buffered now)
        await waiter
