"""The run queue on Redis: one Stream, one consumer group, leases renewed by heartbeats.

An API server ``XADD``s a job; workers read new entries with ``XREADGROUP``. An entry a worker
read stays pending until that worker acknowledges it (``done``), so a worker that dies leaves
its runs pending. A live worker renews its lease on each run it holds every third of the lease
(``XCLAIM … JUSTID`` by the same consumer resets the entry's idle time without counting a
delivery); once an entry has been idle for a whole lease, ``XAUTOCLAIM`` hands it to another
worker, which takes the run over from its checkpoints. Renewal checks, in one script, that the
entry is still this worker's: a worker that stalled past its lease must not take a run back
from the worker that took it over.
"""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import ResponseError

from ._jobs import Queued, RunJob
from ._redis import RedisBackend

__all__ = ("RedisRunQueue",)

logger = logging.getLogger("masai.worker")

#: Renew the entries given as ARGV[3..] for consumer ARGV[2] of group ARGV[1], but only those
#: that consumer still holds; returns them.
_RENEW = """
local out = {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    table.insert(out, ARGV[i])
  end
end
return out
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisRunQueue:
    """``RunQueue`` on one Redis Stream (``{prefix}queue``), read by the group ``group``."""

    def __init__(
        self, backend: RedisBackend, *, group: str = "workers", lease: float = 10.0
    ) -> None:
        if lease <= 0:
            raise ValueError("the lease must be positive")
        self.backend = backend
        self.redis = redis = backend.client
        self.stream = backend.key("queue")
        self.group = group
        self.lease = lease
        self._group_ready = False
        self._renew = redis.register_script(_RENEW)

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def submit(self, job: RunJob) -> None:
        with self.backend.unavailable():
            await self.redis.xadd(self.stream, {"job": job.dumps()})

    async def take(self, consumer: str, count: int, block: float) -> list[Queued]:
        if count < 1:
            return []
        with self.backend.unavailable():
            await self._ensure_group()
            try:
                taken = await self._claim(consumer, count)
                if len(taken) < count:
                    taken += await self._read(consumer, count - len(taken), block)
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                self._group_ready = False  # (Redis came back empty: make the group again)
                return []
        return taken

    async def _claim(self, consumer: str, count: int) -> list[Queued]:
        """Entries whose worker let its lease lapse (and how often each was handed out)."""
        reply = await self.redis.xautoclaim(
            self.stream,
            self.group,
            consumer,
            min_idle_time=int(self.lease * 1000),
            start_id="0-0",
            count=count,
        )
        claimed = [(entry_id, fields) for entry_id, fields in reply[1] if fields]
        out = []
        for entry_id, fields in claimed:
            pending = await self.redis.xpending_range(
                self.stream, self.group, min=entry_id, max=entry_id, count=1
            )
            deliveries = int(pending[0]["times_delivered"]) if pending else 2
            job = await self._job(entry_id, fields)
            if job is not None:
                logger.info("taking over run %s (delivery %d)", job.run_id, deliveries)
                out.append(Queued(_text(entry_id), job, deliveries))
        return out

    async def _read(self, consumer: str, count: int, block: float) -> list[Queued]:
        reply: Any = await self.redis.xreadgroup(
            self.group,
            consumer,
            {self.stream: ">"},
            count=count,
            block=max(int(block * 1000), 1),
        )
        out = []
        for _, entries in reply or []:
            for entry_id, fields in entries:
                job = await self._job(entry_id, fields)
                if job is not None:
                    out.append(Queued(_text(entry_id), job, 1))
        return out

    async def _job(self, entry_id: Any, fields: dict[Any, Any]) -> RunJob | None:
        """The entry's job; an unreadable entry (another version's?) is logged and dropped,
        or every worker would take it again for ever."""
        raw = fields.get(b"job", fields.get("job"))
        try:
            if raw is None:
                raise ValueError("the entry has no job")
            return RunJob.loads(raw)
        except (TypeError, ValueError) as exc:
            logger.error("dropping unreadable queue entry %s: %s", _text(entry_id), exc)
            await self.done(_text(entry_id))
            return None

    async def renew(self, consumer: str, entry_ids: list[str]) -> list[str]:
        if not entry_ids:
            return []
        with self.backend.unavailable():
            kept = await self._renew(keys=[self.stream], args=[self.group, consumer, *entry_ids])
        return [_text(i) for i in kept]

    async def done(self, entry_id: str) -> None:
        with self.backend.unavailable():
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.xack(self.stream, self.group, entry_id)
                pipe.xdel(self.stream, entry_id)
                await pipe.execute()
