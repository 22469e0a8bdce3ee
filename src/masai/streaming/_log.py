"""A run's event log: every numbered event, readable from any cursor, then live.

The cursor is ``seq``. A reader asks for "the entries after the last seq I have", never for
"whatever arrives from now on", so the hand-over from replay to live has no gap and no
duplicate by construction: an entry appended between two reads is in the next read's answer.
Readers are woken when entries arrive (push, never poll), and each reads at its own pace: the
writer never waits for a reader.

``EventLog`` is the interface; ``InMemoryEventLog`` the in-process implementation. A Redis log
implements the same four calls (``XADD`` / ``XRANGE`` then ``XREAD BLOCK`` from the last id).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from typing import Protocol

from ..events import StreamingEvent
from ..exceptions import MasaiError

__all__ = ("EventLog", "InMemoryEventLog", "LogEntry", "LogGone")

#: Most entries one read returns, so a long replay goes out in bounded writes.
READ_BATCH = 1024


class LogGone(MasaiError):
    """The log, or the part of it a cursor asks for, is no longer kept (retention)."""

    public_message = "Those events are no longer kept."
    code = "gone"


@dataclasses.dataclass(frozen=True, slots=True)
class LogEntry:
    """One entry: its ``seq``, the event (``None`` for the final ``stop`` chunk), and the event
    as the spec's chunk frame (``data: …\\n\\n``), encoded once for every viewer."""

    seq: int
    event: StreamingEvent | None
    frame: bytes
    #: The run's last entry (its ``stop`` chunk or its ``error`` event).
    terminal: bool = False


class EventLog(Protocol):
    """Per run (by its internal key): append-only, bounded, readable from any ``seq``."""

    async def open(self, key: str, *, max_entries: int) -> None:
        """Start an empty log that keeps at most ``max_entries`` (oldest dropped first)."""

    async def append(self, key: str, entries: Sequence[LogEntry]) -> None:
        """Add entries in ``seq`` order; the one marked ``terminal`` closes the log."""

    async def read(
        self, key: str, after: int, *, idle: float | None = None
    ) -> list[LogEntry] | None:
        """Entries with ``seq > after``, oldest first; waits while there are none yet.

        ``[]``: ``idle`` seconds passed first (time for a keep-alive). ``None``: the log is closed
        and nothing is after ``after``. ``LogGone``: the log, or entry ``after + 1``, is no
        longer kept."""

    async def drop(self, key: str) -> None:
        """Forget the log (retention); readers get ``LogGone`` from now on."""

    async def size(self, key: str) -> int:
        """About how many bytes the log's kept entries hold (0 for an unknown log)."""


#: What an entry costs besides its frame, roughly: the entry, its event and the event's data.
ENTRY_OVERHEAD = 400


class _Log:
    __slots__ = ("bytes", "changed", "closed", "entries", "first", "max_entries", "start")

    def __init__(self, max_entries: int) -> None:
        self.entries: list[LogEntry] = []
        self.start = 0  # index in ``entries`` of the oldest kept entry (trimmed lazily)
        self.first = 0  # its seq
        self.max_entries = max_entries
        self.bytes = 0  # of the kept entries' frames, plus ENTRY_OVERHEAD each
        self.closed = False
        # Resolved (and replaced) on every append: every waiting reader wakes once.
        self.changed: asyncio.Future[None] | None = None

    def kept(self) -> int:
        return len(self.entries) - self.start

    def add(self, entries: Sequence[LogEntry]) -> None:
        self.entries.extend(entries)
        self.bytes += sum([len(e.frame) for e in entries]) + ENTRY_OVERHEAD * len(entries)
        over = self.kept() - self.max_entries
        if over > 0:
            dropped = self.entries[self.start : self.start + over]
            self.bytes -= sum([len(e.frame) for e in dropped]) + ENTRY_OVERHEAD * over
            self.start += over
            self.first = self.entries[self.start].seq
            if self.start > len(self.entries) // 2:  # compact: amortised O(1) per entry
                del self.entries[: self.start]
                self.start = 0
        if entries and entries[-1].terminal:
            self.closed = True
        self.wake()

    def wake(self) -> None:
        changed, self.changed = self.changed, None
        if changed is not None and not changed.done():
            changed.set_result(None)

    def after(self, after: int) -> list[LogEntry]:
        wanted = after + 1
        if wanted < self.first:
            raise LogGone(f"events before seq {self.first} are no longer kept")
        begin = self.start + (wanted - self.first)
        return self.entries[begin : begin + READ_BATCH]


class InMemoryEventLog:
    """The in-process ``EventLog``: a list per run, readers parked on one shared future."""

    def __init__(self) -> None:
        self._logs: dict[str, _Log] = {}

    async def open(self, key: str, *, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._logs[key] = _Log(max_entries)

    async def append(self, key: str, entries: Sequence[LogEntry]) -> None:
        self.append_now(key, entries)

    def append_now(self, key: str, entries: Sequence[LogEntry]) -> None:
        """``append`` without the await (the run's pump calls it for every batch)."""
        log = self._logs.get(key)
        if log is None:
            raise LogGone(f"no log {key!r}")
        log.add(entries)

    async def read(
        self, key: str, after: int, *, idle: float | None = None
    ) -> list[LogEntry] | None:
        while True:
            log = self._logs.get(key)
            if log is None:
                raise LogGone("the run's events are no longer kept")
            found = log.after(after)
            if found:
                return found
            if log.closed:
                return None
            if log.changed is None:
                log.changed = asyncio.get_running_loop().create_future()
            # ``asyncio.wait`` never cancels the shared future, whoever times out.
            done, _ = await asyncio.wait((log.changed,), timeout=idle)
            if not done:
                return []

    async def drop(self, key: str) -> None:
        log = self._logs.pop(key, None)
        if log is not None:
            log.wake()  # (its readers look again and find it gone)

    async def size(self, key: str) -> int:
        log = self._logs.get(key)
        return 0 if log is None else log.bytes

    def __len__(self) -> int:
        return len(self._logs)
