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
from collections import deque
from collections.abc import Callable, Iterator
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
#: What an entry costs besides its tail's bytes, roughly (the bytes object, its list slot).
ENTRY_OVERHEAD = 40


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

    async def next_seq(self, key: str) -> int:
        """The ``seq`` the next entry gets (how many were appended; 0 for an unknown log)."""


#: Entries per chunk of a log (see ``_Log``).
CHUNK = 512


class _Log:
    """One run's log: its newest entries in a list, the older ones in chunks of ``CHUNK``
    held as tuples. A tuple of bytes holds nothing the garbage collector needs to walk, and
    CPython stops tracking it at its first collection; a server keeping minutes of runs would
    otherwise have every full collection visit each of their hundreds of thousands of
    entries, which cost a fifth of its throughput under load."""

    __slots__ = (
        "appended_at",
        "base",
        "bytes",
        "chunks",
        "closed",
        "first",
        "flush",
        "head",
        "max_entries",
        "recent",
        "waiters",
        "waiting",
    )

    def __init__(self, head: bytes, max_entries: int) -> None:
        self.head = head
        self.chunks: deque[tuple[bytes, ...]] = deque()
        self.recent: list[bytes] = []  # fewer than CHUNK entries, after the chunks
        self.base = 0  # the seq of the first entry of the first chunk (or of ``recent``)
        self.first = 0  # the oldest kept seq (>= base: a chunk is dropped whole)
        self.max_entries = max_entries
        self.bytes = len(head)  # of the kept entries, counted once closed (``_close``)
        self.closed = False
        #: What the writer holds back, written before each read.
        self.flush: Callable[[], None] | None = None
        self.appended_at = 0.0
        # One future per waiting reader (so one reader's cancel touches no other), all
        # resolved on the next append.
        self.waiters: list[asyncio.Future[bool]] = []
        self.waiting = False  # (``bool(waiters)``, read on every emit)

    @property
    def next(self) -> int:
        """The ``seq`` the next entry gets."""
        return self.base + CHUNK * len(self.chunks) + len(self.recent)

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
        if first != self.next:
            raise ValueError(f"expected seq {self.next}, got {first}")
        recent = self.recent
        recent += tails
        if len(recent) >= CHUNK:
            self._chunk()
        if self.next - self.first > self.max_entries:
            self._trim(self.next - self.max_entries)
        if self.waiting:
            self.appended_at = asyncio.get_running_loop().time()
            self.wake()

    def before_read(self, flush: Callable[[], None]) -> None:
        self.flush = flush

    def _chunk(self) -> None:
        recent, chunks = self.recent, self.chunks
        full = len(recent) - len(recent) % CHUNK
        for at in range(0, full, CHUNK):
            chunks.append(tuple(recent[at : at + CHUNK]))
        del recent[:full]

    def _trim(self, first: int) -> None:
        """Forget what is before ``first``: whole chunks (a chunk cut in two stays whole)."""
        self.first = first
        while self.chunks and self.base + CHUNK <= first:
            self.chunks.popleft()
            self.base += CHUNK
        if not self.chunks and first > self.base:  # (a window smaller than a chunk)
            del self.recent[: first - self.base]
            self.base = first

    def _close(self) -> None:
        self.closed = True
        self.flush = None  # (let go of the writer: a kept log must not keep its run alive)
        kept = self.entries(self.first, self.next)
        self.bytes = len(self.head) + sum(map(len, kept)) + ENTRY_OVERHEAD * len(kept)

    def wake(self) -> None:
        waiters, self.waiters = self.waiters, []
        self.waiting = False
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(True)

    def entries(self, begin: int, end: int) -> list[bytes]:
        """The tails of seqs ``begin`` to ``end`` (exclusive), kept ones only."""
        out: list[bytes] = []
        index = begin - self.base
        stop = end - self.base
        chunked = CHUNK * len(self.chunks)
        while index < min(stop, chunked):
            chunk = self.chunks[index // CHUNK]
            offset = index % CHUNK
            taken = chunk[offset : offset + min(stop, chunked) - index]
            out += taken
            index += len(taken)
        if index < stop:
            out += self.recent[index - chunked : stop - chunked]
        return out

    def after(self, after: int) -> LogBatch:
        if self.flush is not None and not self.closed:
            self.flush()
        wanted = after + 1
        if wanted < self.first:
            raise LogGone(f"events before seq {self.first} are no longer kept")
        end = min(wanted + READ_BATCH, self.next)
        tails = self.entries(wanted, end) if wanted < end else []
        return LogBatch(wanted, tails, self.closed and end == self.next, head=self.head)


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

    async def next_seq(self, key: str) -> int:
        log = self._logs.get(key)
        return 0 if log is None else log.next

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
