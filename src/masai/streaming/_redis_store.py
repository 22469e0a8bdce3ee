"""``RunStore`` in Redis: run records shared by every API server and worker.

Layout (``p`` the backend's prefix, parts escaped by ``RedisBackend.key``):

- ``p run:{owner}:{run_id}``: the record as JSON; for an expired run the tombstone ``GONE``
  (kept ``tombstone`` seconds, then the id is simply unknown).
- ``p runs:{owner}``: sorted set of the owner's run ids, scored by ``created_at`` (``list``,
  newest first). Members whose record has lapsed are removed when ``list`` meets them.

``create`` is ``SET NX`` (a concurrent create of the same id, or a tombstone, wins: ``RunExists``).
A finished record gets a TTL of ``retention + tombstone`` as a safety net: Redis never fills with
runs nobody expired (a crashed server's, say). ``update`` and ``expire`` are scripts, so neither
revives a tombstone nor recreates a lapsed record.
"""

from __future__ import annotations

import logging
from typing import Any, cast

import orjson

from .._json import dumps
from ._redis import RedisBackend
from ._runstore import RunExists, RunGone, RunNotFound, RunRecord, RunStatus

__all__ = ("RedisRunStore",)

logger = logging.getLogger("masai.redis")

TOMBSTONE = b"GONE"

#: KEYS: record, index. ARGV: json, ttl in ms (0: none), run id, created_at. Both or neither.
_CREATE = """
local args = {'SET', KEYS[1], ARGV[1], 'NX'}
if tonumber(ARGV[2]) > 0 then args = {'SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]} end
if not redis.call(unpack(args)) then return 0 end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
return 1
"""

#: KEYS: record. ARGV: json, ttl in ms (0: none). Saves only over a live record.
_UPDATE = """
local current = redis.call('GET', KEYS[1])
if not current or current == 'GONE' then return 0 end
if tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
end
return 1
"""

#: KEYS: record, index. ARGV: run id, tombstone ttl in ms. Only a kept record becomes a tombstone.
_EXPIRE = """
local current = redis.call('GET', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if not current or current == 'GONE' then return 0 end
redis.call('SET', KEYS[1], 'GONE', 'PX', ARGV[2])
return 1
"""


class RedisRunStore:
    """Run records in Redis, keyed by (owner, run id); see the module's doc for the layout.

    ``retention``: how long a finished run is kept (the run manager expires it then; this is
    the safety net's horizon). ``tombstone``: how long an expired id answers ``RunGone``."""

    def __init__(
        self, backend: RedisBackend, *, retention: float, tombstone: float = 24 * 3600.0
    ) -> None:
        if retention <= 0 or tombstone <= 0:
            raise ValueError("retention and tombstone must be > 0")
        self.backend = backend
        self.retention = retention
        self.tombstone = tombstone
        self._create = backend.client.register_script(_CREATE)
        self._update = backend.client.register_script(_UPDATE)
        self._expire = backend.client.register_script(_EXPIRE)

    def _record_key(self, owner: str, run_id: str) -> str:
        return self.backend.key("run", owner, run_id)

    def _index_key(self, owner: str) -> str:
        return self.backend.key("runs", owner)

    def _ttl_ms(self, record: RunRecord) -> int:
        return int((self.retention + self.tombstone) * 1000) if record.finished else 0

    async def create(self, record: RunRecord) -> None:
        data = dumps(record.to_dict())
        keys = [self._record_key(record.owner, record.run_id), self._index_key(record.owner)]
        args: list[bytes | str | int] = [
            data,
            self._ttl_ms(record),
            record.run_id,
            repr(float(record.created_at)),
        ]
        with self.backend.unavailable():
            created = await self._create(keys=keys, args=args)
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
        key = self._record_key(record.owner, record.run_id)
        with self.backend.unavailable():
            await self._update(keys=[key], args=[dumps(record.to_dict()), self._ttl_ms(record)])

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
        keys = [self._record_key(owner, run_id), self._index_key(owner)]
        with self.backend.unavailable():
            await self._expire(keys=keys, args=[run_id, int(self.tombstone * 1000)])


def _load(raw: bytes) -> RunRecord:
    data: dict[str, Any] = orjson.loads(raw)
    return RunRecord.from_dict(data)
