"""``RunStore`` in Redis: run records shared by every API server and worker.

Layout (``p`` the backend's prefix, parts escaped by ``RedisBackend.key``):

- ``p run:{owner}:{run_id}``: the record as JSON; for an expired run the tombstone ``GONE``
  (kept ``tombstone`` seconds, then the id is simply unknown).
- ``p runs:{owner}``: sorted set of the owner's run ids, scored by ``created_at`` (``list``,
  newest first). Members whose record has lapsed are removed when ``list`` meets them.
- ``p active:{owner}`` and ``p active``: the runs in flight (record keys, scored by the time
  they were created), for the caps every server shares. A run leaves them when its finished
  record is saved; ones that lapsed or finished unnoticed are pruned when a cap is reached.

``create`` is ``SET NX`` (a concurrent create of the same id, or a tombstone, wins: ``RunExists``).
A finished record gets a TTL of ``retention + tombstone`` as a safety net: Redis never fills with
runs nobody expired (a crashed server's, say). ``update`` and ``expire`` are scripts, so neither
revives a tombstone nor recreates a lapsed record.
"""

from __future__ import annotations

import logging
import time
from typing import Any, cast

import orjson

from .._json import dumps
from ..exceptions import MasaiError
from ._redis import RedisBackend
from ._runstore import RunExists, RunGone, RunNotFound, RunRecord, RunStatus

__all__ = ("RedisRunStore", "TooManyRuns")

logger = logging.getLogger("masai.redis")

TOMBSTONE = b"GONE"


class TooManyRuns(MasaiError):
    """A cap on runs in flight is reached (HTTP 429; retry once one has finished)."""

    public_message = "Too many runs are in flight; try again shortly."
    code = "too_many_runs"


#: Drop from an "in flight" set (KEYS[1]) the runs that are not: their record lapsed, expired
#: or finished. Only called when the set is at its cap, so it walks at most a cap's worth.
_PRUNE = """
local function prune(set)
  for _, member in ipairs(redis.call('ZRANGE', set, 0, -1)) do
    local raw = redis.call('GET', member)
    local gone = (not raw) or raw == 'GONE'
    if not gone then
      local ok, record = pcall(cjson.decode, raw)
      gone = ok and (record.status == 'completed' or record.status == 'failed'
                     or record.status == 'cancelled')
    end
    if gone then redis.call('ZREM', set, member) end
  end
  return redis.call('ZCARD', set)
end
"""

#: KEYS: record, index, the owner's runs in flight, everyone's. ARGV: json, ttl in ms (0: none),
#: run id, created_at, now, stale before (seconds), cap per owner, cap in all (0: none).
#: Returns 1 (created), 0 (the id exists), -1 / -2 (the owner's / everyone's cap is reached).
_CREATE = (
    _PRUNE
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local caps = {{KEYS[3], tonumber(ARGV[7]), -1}, {KEYS[4], tonumber(ARGV[8]), -2}}
for _, cap in ipairs(caps) do
  redis.call('ZREMRANGEBYSCORE', cap[1], '-inf', ARGV[6])
  if cap[2] > 0 and redis.call('ZCARD', cap[1]) >= cap[2] and prune(cap[1]) >= cap[2] then
    return cap[3]
  end
end
local args = {'SET', KEYS[1], ARGV[1], 'NX'}
if tonumber(ARGV[2]) > 0 then args = {'SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]} end
if not redis.call(unpack(args)) then return 0 end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[5], KEYS[1])
redis.call('ZADD', KEYS[4], ARGV[5], KEYS[1])
return 1
"""
)

#: KEYS: record, the owner's runs in flight, everyone's. ARGV: json, ttl in ms (0: none),
#: finished (1/0). Saves only over a live record; a finished run is no longer in flight.
_UPDATE = """
local current = redis.call('GET', KEYS[1])
if not current or current == 'GONE' then return 0 end
if tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
end
if ARGV[3] == '1' then
  redis.call('ZREM', KEYS[2], KEYS[1])
  redis.call('ZREM', KEYS[3], KEYS[1])
end
return 1
"""

#: KEYS: record, index, the owner's runs in flight, everyone's. ARGV: run id, tombstone ttl in
#: ms. Only a kept record becomes a tombstone.
_EXPIRE = """
local current = redis.call('GET', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], KEYS[1])
redis.call('ZREM', KEYS[4], KEYS[1])
if not current or current == 'GONE' then return 0 end
redis.call('SET', KEYS[1], 'GONE', 'PX', ARGV[2])
return 1
"""


class RedisRunStore:
    """Run records in Redis, keyed by (owner, run id); see the module's doc for the layout.

    ``retention``: how long a finished run is kept (the run manager expires it then; this is
    the safety net's horizon). ``tombstone``: how long an expired id answers ``RunGone``.

    ``max_active`` / ``max_active_per_owner``: runs in flight (created, not finished) across
    every server sharing this Redis, in all and per owner; ``create`` refuses one more with
    ``TooManyRuns``. A run counts from its creation until a record saying it finished is
    saved, or ``stale_after`` seconds (a run whose worker never got to it, say)."""

    def __init__(
        self,
        backend: RedisBackend,
        *,
        retention: float,
        tombstone: float = 24 * 3600.0,
        max_active: int | None = None,
        max_active_per_owner: int | None = None,
        stale_after: float = 24 * 3600.0,
    ) -> None:
        if retention <= 0 or tombstone <= 0 or stale_after <= 0:
            raise ValueError("retention, tombstone and stale_after must be > 0")
        self.backend = backend
        self.retention = retention
        self.tombstone = tombstone
        self.max_active = max_active or 0
        self.max_active_per_owner = max_active_per_owner or 0
        self.stale_after = stale_after
        self._create = backend.client.register_script(_CREATE)
        self._update = backend.client.register_script(_UPDATE)
        self._expire = backend.client.register_script(_EXPIRE)

    def _record_key(self, owner: str, run_id: str) -> str:
        return self.backend.key("run", owner, run_id)

    def _index_key(self, owner: str) -> str:
        return self.backend.key("runs", owner)

    def _active_keys(self, owner: str) -> list[str]:
        return [self.backend.key("active", owner), self.backend.key("active")]

    def _ttl_ms(self, record: RunRecord) -> int:
        return int((self.retention + self.tombstone) * 1000) if record.finished else 0

    async def create(self, record: RunRecord) -> None:
        data = dumps(record.to_dict())
        keys = [self._record_key(record.owner, record.run_id), self._index_key(record.owner)]
        now = time.time()
        args: list[bytes | str | int] = [
            data,
            self._ttl_ms(record),
            record.run_id,
            repr(float(record.created_at)),
            repr(now),
            repr(now - self.stale_after),
            self.max_active_per_owner,
            self.max_active,
        ]
        with self.backend.unavailable():
            created = int(
                await self._create(keys=keys + self._active_keys(record.owner), args=args)
            )
        if created == -1:
            raise TooManyRuns(f"you have {self.max_active_per_owner} runs in flight already")
        if created == -2:
            raise TooManyRuns("the service is running as many runs as it takes")
        if not created:
            raise RunExists(f"run {record.run_id!r} exists already")

    async def get(self, owner: str, run_id: str) -> RunRecord:
        with self.backend.unavailable():
            raw = cast(bytes | None, await self.backend.client.get(self._record_key(owner, run_id)))
        if raw is None:
            raise RunNotFound(f"no run {run_id!r}")
        if raw == TOMBSTONE:
            raise RunGone(f"run {run_id!r} is no longer kept")
        return _load(raw)

    async def update(self, record: RunRecord) -> None:
        keys = [self._record_key(record.owner, record.run_id), *self._active_keys(record.owner)]
        args: list[bytes | int] = [
            dumps(record.to_dict()),
            self._ttl_ms(record),
            int(record.finished),
        ]
        with self.backend.unavailable():
            await self._update(keys=keys, args=args)

    async def list(
        self, owner: str, status: RunStatus | None = None, limit: int = 100
    ) -> list[RunRecord]:
        """Pages through the owner's index, newest first, until ``limit`` records match."""
        if limit <= 0:
            return []
        index = self._index_key(owner)
        page = max(limit, 100)
        found: list[RunRecord] = []
        start = 0
        with self.backend.unavailable():
            client = self.backend.client
            while len(found) < limit:
                ids = cast(list[bytes], await client.zrevrange(index, start, start + page - 1))
                if not ids:
                    break
                keys = [self._record_key(owner, run_id.decode()) for run_id in ids]
                raws = cast(list[bytes | None], await client.mget(keys))
                lapsed = [i for i, raw in zip(ids, raws, strict=True) if raw in (None, TOMBSTONE)]
                for raw in raws:
                    if raw is None or raw == TOMBSTONE:
                        continue
                    record = _load(raw)
                    if status is None or record.status == status:
                        found.append(record)
                if lapsed:
                    await client.zrem(index, *lapsed)
                start += page - len(lapsed)
        found.sort(key=lambda r: r.created_at, reverse=True)
        return found[:limit]

    async def expire(self, owner: str, run_id: str) -> None:
        keys = [self._record_key(owner, run_id), self._index_key(owner), *self._active_keys(owner)]
        with self.backend.unavailable():
            await self._expire(keys=keys, args=[run_id, int(self.tombstone * 1000)])


def _load(raw: bytes) -> RunRecord:
    data: dict[str, Any] = orjson.loads(raw)
    return RunRecord.from_dict(data)
