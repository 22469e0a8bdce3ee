"""A run's event log: every numbered event, readable from any cursor, then live.

The cursor is ``seq``. A reader asks for "the entries after the last seq I have", never for
"whatever arrives from now on", so the hand-over from replay to live has no gap and no
duplicate by construction: an entry appended between two reads is in the next read's answer.
Readers are woken when entries arrive (push, never poll), and each reads at its own pace: the
writer never waits for a reader.

What is kept is bytes: each event once, encoded as the spec's chunk frame, minus the part every
frame of a run shares (``data: {"id":…,"model":…,"choices":[{"index":0,"delta":``, the log's
``head``). That is almost half of a progress event's frame, and a log that is kept for minutes
is mostly such events. A viewer writes ``head + tail`` for each.

``EventLog`` is the interface; ``InMemoryEventLog`` the in-process implementation. A Redis log
implements the same calls (``XADD`` / ``XRANGE`` then ``XREAD BLOCK`` from the last id).
"""

from __future__ import annotations

import asyncio
import contextlib
from array import array
from collections.abc import Callable, Iterator
from itertools import accumulate
from typing import Protocol

from ..events import StreamingEvent
from ..exceptions import MasaiError
from ._decode import decode_chunk


class LogWriter(Protocol):
    """Synchronous appends to one run's log, for the run's own task (``EventLog.writer``)."""

    #: A reader waits for the next entry (write now, not later).
    waiting: bool

    def write(self, first: int, tails: list[bytes]) -> None:
        """Append entries ``first``, ``first + 1``, … (their frames without the head)."""

    def before_read(self, flush: Callable[[], None]) -> None:
        """Call ``flush`` before each read (the writer holds entries back until then)."""


__all__ = ("EventLog", "InMemoryEventLog", "LogBatch", "LogEntry", "LogGone")

#: Most entries one read returns, so a long replay goes out in bounded writes.
READ_BATCH = 1024


class LogGone(MasaiError):
    """The log, or the part of it a cursor asks for, is no longer kept (retention)."""

    public_message = "Those events are no longer kept."
    code = "gone"


class LogBatch:
    """Consecutive entries of one log, ``seq`` ``first``, ``first + 1``, …: each entry's frame
    without the log's ``head`` (``tails``). ``terminal``: the last one is the run's end (its
    ``stop`` chunk or its ``error`` event), and the log is closed."""

    __slots__ = ("first", "head", "live_since", "tails", "terminal")

    def __init__(
        self, first: int, tails: list[bytes], terminal: bool = False, *, head: bytes = b""
    ) -> None:
        self.first = first
        self.tails = tails
        self.terminal = terminal
        #: What each frame starts with (set on what a log returns).
        self.head = head
        #: For a read that waited for these entries (live, not replayed): the loop time they
        #: were appended at, so a viewer can tell how late it writes them.
        self.live_since: float | None = None

    def __len__(self) -> int:
        return len(self.tails)

    @property
    def last(self) -> int:
        """The ``seq`` of the last entry (``first - 1`` if there is none)."""
        return self.first + len(self.tails) - 1

    @property
    def data(self) -> bytes:
        """Every frame, in order, as one string (what a viewer writes)."""
        head = self.head
        return head + head.join(self.tails) if self.tails else b""

    @property
    def frames(self) -> list[bytes]:
        head = self.head
        return [head + tail for tail in self.tails]

    def entries(self) -> Iterator[LogEntry]:
        end, head, first = len(self.tails) - 1, self.head, self.first
        for i, tail in enumerate(self.tails):
            yield LogEntry(first + i, head + tail, self.terminal and i == end)

    def __repr__(self) -> str:
        return f"LogBatch(first={self.first}, size={len(self.tails)}, terminal={self.terminal})"


class LogEntry:
    """One entry of a log, for code that reads entry by entry (the Python API)."""

    __slots__ = ("frame", "seq", "terminal")

    def __init__(self, seq: int, frame: bytes, terminal: bool = False) -> None:
        self.seq = seq
        self.frame = frame
        self.terminal = terminal

    @property
    def event(self) -> StreamingEvent | None:
        """The event this entry's frame carries (decoded: the same as a remote client gets);
        ``None`` for the final ``stop`` chunk."""
        return decode_chunk(self.frame[6:-2])  # (``data: `` … ``\n\n``)

    def __repr__(self) -> str:
        return f"LogEntry(seq={self.seq}, terminal={self.terminal})"


class EventLog(Protocol):
    """Per run (by its internal key): append-only, bounded, readable from any ``seq``."""

    async def open(self, key: str, *, head: bytes, max_entries: int) -> None:
        """Start an empty log whose frames all begin with ``head``, keeping at most
        ``max_entries`` (oldest dropped first)."""

    async def append(self, key: str, batch: LogBatch) -> None:
        """Add the batch (its ``first`` is the next ``seq``); a ``terminal`` one closes it."""

    async def read(self, key: str, after: int, *, idle: float | None = None) -> LogBatch | None:
        """The entries with ``seq > after`` (at most ``READ_BATCH``), ``head`` set; waits
        while there are none yet.

        An empty batch: ``idle`` seconds passed first (time for a keep-alive). ``None``: the
        log is closed and nothing is after ``after``. ``LogGone``: the log, or entry
        ``after + 1``, is no longer kept."""

    async def drop(self, key: str) -> None:
        """Forget the log (retention); readers get ``LogGone`` from now on."""

    def writer(self, key: str) -> LogWriter | None:
        """A way to append synchronously, if this log has one (in process): the run's own task
        then writes its events into its log. ``None``: the run's events are appended in
        batches, by a task of their own."""

    async def size(self, key: str) -> int:
        """How many bytes a closed log's entries hold, about (0 for an unknown log; a log
        still being written is not counted)."""


class _Log:
    """One run's log. While the run goes on, a list of tails; once it is closed, one string and
    its entries' end offsets: a kept log then holds no object the garbage collector walks (a
    server keeping minutes of finished runs would otherwise have every full collection visit
    each of their hundreds of thousands of entries)."""

    __slots__ = (
        "appended_at",
        "bytes",
        "closed",
        "data",
        "ends",
        "first",
        "flush",
        "head",
        "max_entries",
        "start",
        "tails",
        "waiters",
        "waiting",
    )

    def __init__(self, head: bytes, max_entries: int) -> None:
        self.head = head
        self.tails: list[bytes] = []
        self.start = 0  # index in ``tails`` of the oldest kept entry (trimmed lazily)
        self.first = 0  # its seq
        self.max_entries = max_entries
        self.bytes = len(head)  # of the kept entries, once closed (``_close``)
        self.closed = False
        #: What the writer holds back, written before each read.
        self.flush: Callable[[], None] | None = None
        self.data = b""  # once closed: the kept tails, joined
        self.ends = array("Q")  # and where each ends in ``data``
        self.appended_at = 0.0
        # One future per waiting reader (so one reader's cancel touches no other), all
        # resolved on the next append.
        self.waiters: list[asyncio.Future[bool]] = []
        self.waiting = False  # (``bool(waiters)``, read on every emit)

    @property
    def next(self) -> int:
        """The ``seq`` the next entry gets (the one after the last, once closed)."""
        return self.first + (len(self.ends) if self.closed else len(self.tails) - self.start)

    def add(self, batch: LogBatch) -> None:
        self.write(batch.first, batch.tails)
        if batch.terminal:
            self._close()
            self.wake()

    # -- LogWriter ---------------------------------------------------------------------------
    def write(self, first: int, tails: list[bytes]) -> None:
        """The path of every batch: no byte counting here (``size`` is asked of finished
        logs, and ``_close`` counts them once)."""
        if self.closed:
            raise ValueError("the log is closed")
        kept = self.tails
        if first != self.first + len(kept) - self.start:
            raise ValueError(f"expected seq {self.next}, got {first}")
        kept += tails
        over = len(kept) - self.start - self.max_entries
        if over > 0:
            self.start += over
            self.first += over
            if self.start > len(kept) // 2:  # compact: amortised O(1) per entry
                del kept[: self.start]
                self.start = 0
        if self.waiting:
            self.appended_at = asyncio.get_running_loop().time()
            self.wake()

    def before_read(self, flush: Callable[[], None]) -> None:
        self.flush = flush

    def _close(self) -> None:
        kept = self.tails[self.start :]
        self.data = b"".join(kept)
        self.ends = array("Q", accumulate(map(len, kept)))
        self.tails, self.start, self.closed = [], 0, True
        self.bytes = len(self.head) + len(self.data) + 8 * len(self.ends)

    def wake(self) -> None:
        waiters, self.waiters = self.waiters, []
        self.waiting = False
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(True)

    def after(self, after: int) -> LogBatch:
        if self.flush is not None and not self.closed:
            self.flush()
        wanted = after + 1
        if wanted < self.first:
            raise LogGone(f"events before seq {self.first} are no longer kept")
        if not self.closed:
            begin = self.start + (wanted - self.first)
            return LogBatch(wanted, self.tails[begin : begin + READ_BATCH], head=self.head)
        data, ends = self.data, self.ends
        begin = wanted - self.first
        end = min(begin + READ_BATCH, len(ends))
        start = ends[begin - 1] if 0 < begin <= len(ends) else 0
        tails = []
        for k in range(begin, end):
            stop = ends[k]
            tails.append(data[start:stop])
            start = stop
        return LogBatch(wanted, tails, end == len(ends), head=self.head)


def _quiet(waiter: asyncio.Future[bool]) -> None:
    """A reader's quiet spell is over: it wakes with nothing new."""
    if not waiter.done():
        waiter.set_result(False)


class InMemoryEventLog:
    """The in-process ``EventLog``: a list of tails per run; a waiting reader parks on a
    future of its own, resolved by the next append."""

    def __init__(self) -> None:
        self._logs: dict[str, _Log] = {}

    async def open(self, key: str, *, head: bytes, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._logs[key] = _Log(head, max_entries)

    async def append(self, key: str, batch: LogBatch) -> None:
        log = self._logs.get(key)
        if log is None:
            raise LogGone(f"no log {key!r}")
        log.add(batch)

    async def read(self, key: str, after: int, *, idle: float | None = None) -> LogBatch | None:
        waited = False
        while True:
            log = self._logs.get(key)
            if log is None:
                raise LogGone("the run's events are no longer kept")
            found = log.after(after)
            if found.tails:
                if waited:
                    found.live_since = log.appended_at
                return found
            if log.closed:
                return None
            if not await _woken(log, idle):
                return LogBatch(after + 1, [], head=log.head)
            waited = True

    async def drop(self, key: str) -> None:
        log = self._logs.pop(key, None)
        if log is not None:
            log.wake()  # (its readers look again and find it gone)

    def writer(self, key: str) -> LogWriter | None:
        return self._logs.get(key)

    async def size(self, key: str) -> int:
        log = self._logs.get(key)
        return 0 if log is None else log.bytes

    def __len__(self) -> int:
        return len(self._logs)


async def _woken(log: _Log, idle: float | None) -> bool:
    """Wait for the log's next append (True) or ``idle`` seconds (False)."""
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[bool] = loop.create_future()
    log.waiters.append(waiter)
    log.waiting = True
    timer = None if idle is None else loop.call_later(idle, _quiet, waiter)
    try:
        await waiter
    finally:
        if timer is not None:
            timer.cancel()
        if waiter.cancelled() or not waiter.result():  # not woken by an append
            with contextlib.suppress(ValueError):
                log.waiters.remove(waiter)
            log.waiting = bool(log.waiters)
    return waiter.result()
