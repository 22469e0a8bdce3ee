"""A run's checkpoints on Redis: its step journal (a list) and how often each step was tried.

The journal is what lets another worker take a run over after its worker died: every completed
step (a model decision, a tool result, a resume point with the ``seq`` it reached) is one list
entry, appended before the run goes on. The attempt counts say how many times the run was
started from the same resume point; a step that keeps killing its worker is given up after
``--max-step-attempts`` rather than retried for ever.
"""

from __future__ import annotations

from typing import Any

import orjson

from ._redis import RedisBackend

__all__ = ("RedisJournalStore",)


class RedisJournalStore:
    """Journals under ``{prefix}journal:{run key}``; attempts under ``{prefix}attempts:…``."""

    def __init__(self, backend: RedisBackend, *, ttl: float = 7 * 86400.0) -> None:
        self.backend = backend
        self.redis = backend.client
        #: A run's checkpoints outlive any reasonable run, and no more (a safety net: a
        #: finished run's are deleted at once).
        self.ttl = int(ttl)

    def _keys(self, key: str) -> tuple[str, str]:
        return self.backend.key("journal", key), self.backend.key("attempts", key)

    async def load(self, key: str) -> list[dict[str, Any]]:
        journal, _ = self._keys(key)
        with self.backend.unavailable():
            raw = await self.redis.lrange(journal, 0, -1)
        return [orjson.loads(item) for item in raw]

    async def append(self, key: str, entry: dict[str, Any]) -> None:
        journal, _ = self._keys(key)
        with self.backend.unavailable():
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.rpush(journal, orjson.dumps(entry))
                pipe.expire(journal, self.ttl)
                await pipe.execute()

    async def attempt(self, key: str, frontier: int) -> int:
        """Count one more start from resume point ``frontier``; how many there were."""
        _, attempts = self._keys(key)
        with self.backend.unavailable():
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hincrby(attempts, str(frontier), 1)
                pipe.expire(attempts, self.ttl)
                count, _ = await pipe.execute()
        return int(count)

    async def forget(self, key: str) -> None:
        with self.backend.unavailable():
            await self.redis.delete(*self._keys(key))
