"""``EventLog`` in Redis: one stream per run, so any API server can replay and follow a run that
a worker elsewhere executes.

Layout (``K`` the run's storage key, in a hash tag so both keys share a cluster slot):

- ``p log:{K}``: the stream. Entry ``seq`` has id ``0-{seq + 1}``, so an id *is* a cursor and
  ``XRANGE``/``XREAD`` from ``0-{after + 1}`` is "the entries after ``after``". Fields: ``t``
  (the frame's tail), and ``e`` on the terminal entry.
- ``p log:{K}:meta``: hash ``head``, ``max`` (entries kept), ``next`` (the seq the next append
  must have), ``closed``.

An append is one script: it checks that the log is open and that the batch starts at ``next``,
then adds the entries with their explicit ids. So a stale writer (a worker that lost the run to
another) is refused as a whole with ``LogConflict``, never half-written. A terminal append
closes the log and sets a TTL of ``retention`` seconds on both keys, a safety net for logs
nobody drops; an open log's keys get ``open_ttl``, renewed by every append.

A reader blocks in ``XREAD BLOCK`` for at most ``MAX_BLOCK`` seconds per call, then looks at the
log again: a dropped log or an outage is noticed within seconds, and the pool connection it
holds is given back as often.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from ..exceptions import MasaiError
from ._log import READ_BATCH, LogBatch, LogGone, LogWriter
from ._redis import MAX_BLOCK, RedisBackend

__all__ = ("LogConflict", "RedisEventLog")


class LogConflict(MasaiError):
    """An append does not follow on from the log's last entry: another writer has the run
    (or the batch was appended already), or the log is closed."""

    public_message = "The run is written by another worker."
    code = "conflict"


#: KEYS: stream, meta. ARGV: first, terminal (0/1), ttl ms when closed, ttl ms while open,
#: tails... Returns {status, next}: 0 ok, 1 no log, 2 closed, 3 not the next seq.
_APPEND = """
local meta = redis.call('HMGET', KEYS[2], 'next', 'closed', 'max')
if not meta[1] then return {1, -1} end
local nxt = tonumber(meta[1])
if meta[2] == '1' then return {2, nxt} end
local first = tonumber(ARGV[1])
if first ~= nxt then return {3, nxt} end
local count = #ARGV - 4
local terminal = ARGV[2] == '1'
for i = 1, count do
  local id = '0-' .. (first + i)
  if terminal and i == count then
    redis.call('XADD', KEYS[1], id, 't', ARGV[4 + i], 'e', '1')
  else
    redis.call('XADD', KEYS[1], id, 't', ARGV[4 + i])
  end
end
redis.call('XTRIM', KEYS[1], 'MAXLEN', '~', meta[3])
redis.call('HSET', KEYS[2], 'next', first + count)
local ttl = ARGV[4]
if terminal then
  redis.call('HSET', KEYS[2], 'closed', '1')
  ttl = ARGV[3]
end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return {0, first + count}
"""


def _seq(entry_id: bytes) -> int:
    """The seq of the entry whose id is ``0-{seq + 1}``."""
    return int(entry_id.split(b"-", 1)[1]) - 1


class RedisEventLog:
    """Per run, a Redis stream (see the module's doc). ``retention``: seconds a closed log is
    kept at most (the run manager drops it sooner); ``open_ttl``: how long an open log lives
    without an append (a crashed worker's)."""

    def __init__(
        self, backend: RedisBackend, *, retention: float, open_ttl: float = 7 * 24 * 3600.0
    ) -> None:
        if retention <= 0 or open_ttl <= 0:
            raise ValueError("retention and open_ttl must be > 0")
        self.backend = backend
        self.retention = retention
        self.open_ttl = open_ttl
        self._append = backend.client.register_script(_APPEND)

    def _keys(self, key: str) -> tuple[str, str]:
        stream = self.backend.key("log", "{" + key + "}")
        return stream, stream + ":meta"

    async def open(self, key: str, *, head: bytes, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        stream, meta = self._keys(key)
        fields: dict[Any, Any] = {
            "head": head,
            "max": max_entries,
            "next": 0,
            "closed": 0,
        }
        with self.backend.unavailable():
            async with self.backend.client.pipeline(transaction=True) as pipe:
                pipe.delete(stream, meta)
                pipe.hset(meta, mapping=fields)
                pipe.pexpire(meta, int(self.open_ttl * 1000))
                await pipe.execute()

    async def append(self, key: str, batch: LogBatch) -> None:
        """``LogGone``: no such log; ``LogConflict``: closed, or ``batch.first`` is not the next
        seq (another writer got there first)."""
        if not batch.tails:
            if batch.terminal:
                raise ValueError("a terminal batch needs its terminal entry")
            return
        args: list[Any] = [
            batch.first,
            1 if batch.terminal else 0,
            int(self.retention * 1000),
            int(self.open_ttl * 1000),
            *batch.tails,
        ]
        with self.backend.unavailable():
            status, nxt = await self._append(keys=list(self._keys(key)), args=args)
        if status == 1:
            raise LogGone(f"no log {key!r}")
        if status == 2:
            raise LogConflict(f"log {key!r} is closed")
        if status == 3:
            raise LogConflict(f"log {key!r}: expected seq {nxt}, got {batch.first}")

    async def read(self, key: str, after: int, *, idle: float | None = None) -> LogBatch | None:
        after = max(after, -1)
        loop = asyncio.get_running_loop()
        deadline = None if idle is None else loop.time() + idle
        stream, meta = self._keys(key)
        client = self.backend.client
        while True:
            with self.backend.unavailable():
                async with client.pipeline(transaction=True) as pipe:
                    pipe.hmget(meta, ["head", "next", "closed"])
                    pipe.xrange(stream, min=f"0-{after + 2}", count=READ_BATCH)
                    (head, nxt, closed), entries = await pipe.execute()
            if head is None:
                raise LogGone("the run's events are no longer kept")
            if entries:
                return _batch(entries, after, head)
            if after + 1 < int(nxt):  # (entries there were, and are trimmed)
                raise LogGone(f"the events after seq {after} are no longer kept")
            if closed == b"1":
                return None
            wait = MAX_BLOCK if deadline is None else min(MAX_BLOCK, deadline - loop.time())
            if wait <= 0:
                return LogBatch(after + 1, [], head=head)
            with self.backend.unavailable():
                found = await client.xread(
                    {stream: f"0-{after + 1}"}, count=READ_BATCH, block=max(1, int(wait * 1000))
                )
            if found:
                batch = _batch(cast(Any, found)[0][1], after, head)
                batch.live_since = loop.time()
                return batch

    async def drop(self, key: str) -> None:
        with self.backend.unavailable():
            await self.backend.client.delete(*self._keys(key))

    def writer(self, key: str) -> LogWriter | None:
        return None  # (appends cross the network: the run manager batches them)

    async def size(self, key: str) -> int:
        """Redis's estimate of the closed log's memory (0 while open, or if unknown)."""
        stream, meta = self._keys(key)
        with self.backend.unavailable():
            head, closed = await self.backend.client.hmget(meta, ["head", "closed"])
            if head is None or closed != b"1":
                return 0
            used = await self.backend.client.memory_usage(stream)
        return len(head) + int(used or 0)

    async def next_seq(self, key: str) -> int:
        """The seq the next append must have (0 for an empty log): a worker resuming a run
        continues from here. ``LogGone`` if there is no such log."""
        with self.backend.unavailable():
            nxt = await self.backend.client.hget(self._keys(key)[1], "next")
        if nxt is None:
            raise LogGone(f"no log {key!r}")
        return int(nxt)

    async def closed(self, key: str) -> bool:
        """Whether the log has its terminal entry. ``LogGone`` if there is no such log."""
        with self.backend.unavailable():
            flag = await self.backend.client.hget(self._keys(key)[1], "closed")
        if flag is None:
            raise LogGone(f"no log {key!r}")
        return flag == b"1"


def _batch(entries: list[tuple[bytes, dict[bytes, bytes]]], after: int, head: bytes) -> LogBatch:
    """The entries (consecutive, from Redis) as a batch; ``LogGone`` if the first is not
    ``after + 1`` (the ones before it were trimmed)."""
    first = _seq(entries[0][0])
    if first != after + 1:
        raise LogGone(f"events before seq {first} are no longer kept")
    tails = [fields[b"t"] for _, fields in entries]
    return LogBatch(first, tails, b"e" in entries[-1][1], head=head)
