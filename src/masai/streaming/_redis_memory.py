"""Session history and shared memory in Redis, so a conversation continues on whichever
worker takes its next run.

Layout:

- ``p session:{owner}:{session_id}:{agent}``: list of messages (JSON ``{role, content}``),
  oldest first, trimmed to the last ``keep``. The owner is part of the key: two principals
  naming the same session get two histories. ``ttl`` seconds after its last use it lapses
  (as ``InMemorySessionStore``'s does).
- ``p shared:{namespace}``: hash, key -> JSON value; ``ttl`` seconds after its last write.

Memory bounds beyond that (``max_bytes``, ``max_sessions`` in process) are Redis's own
``maxmemory``; this store adds none.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import orjson

from .._json import dumps
from ..models import Message
from ._redis import RedisBackend

__all__ = ("RedisSessionStore", "RedisSharedStore")


class RedisSessionStore:
    """``SessionStore`` over Redis lists (see the module's doc)."""

    def __init__(self, backend: RedisBackend, *, ttl: float | None = 24 * 3600.0) -> None:
        if ttl is not None and ttl <= 0:
            raise ValueError("ttl must be > 0 or None")
        self.backend = backend
        self.ttl = ttl

    def _key(self, owner: str, session_id: str, agent: str) -> str:
        return self.backend.key("session", owner, session_id, agent)

    async def load(self, owner: str, session_id: str, agent: str) -> list[Message]:
        key = self._key(owner, session_id, agent)
        with self.backend.unavailable():
            async with self.backend.client.pipeline(transaction=True) as pipe:
                pipe.lrange(key, 0, -1)
                if self.ttl is not None:
                    pipe.pexpire(key, int(self.ttl * 1000))  # (used now: lapses later)
                raws: list[bytes] = (await pipe.execute())[0]
        return [_message(raw) for raw in raws]

    async def append(
        self, owner: str, session_id: str, agent: str, messages: Sequence[Message], keep: int
    ) -> None:
        key = self._key(owner, session_id, agent)
        with self.backend.unavailable():
            async with self.backend.client.pipeline(transaction=True) as pipe:
                if keep <= 0:
                    pipe.delete(key)  # (keeping none: as a history of length 0)
                else:
                    if messages:
                        pipe.rpush(key, *(_encode(m) for m in messages))
                    pipe.ltrim(key, -keep, -1)
                    if self.ttl is not None:
                        pipe.pexpire(key, int(self.ttl * 1000))
                await pipe.execute()


class RedisSharedStore:
    """``SharedStore`` over one Redis hash per namespace, values as JSON (see the module's doc).
    A value reads back as JSON gives it (a tuple as a list, a set as a sorted list)."""

    def __init__(self, backend: RedisBackend, *, ttl: float | None = 7 * 24 * 3600.0) -> None:
        if ttl is not None and ttl <= 0:
            raise ValueError("ttl must be > 0 or None")
        self.backend = backend
        self.ttl = ttl

    def _key(self, namespace: str) -> str:
        return self.backend.key("shared", namespace)

    async def get(self, namespace: str, key: str) -> Any:
        with self.backend.unavailable():
            raw = await self.backend.client.hget(self._key(namespace), key)
        return None if raw is None else orjson.loads(raw)

    async def set(self, namespace: str, key: str, value: Any) -> None:
        name = self._key(namespace)
        with self.backend.unavailable():
            async with self.backend.client.pipeline(transaction=True) as pipe:
                pipe.hset(name, key, dumps(value))
                if self.ttl is not None:
                    pipe.pexpire(name, int(self.ttl * 1000))
                await pipe.execute()

    async def items(self, namespace: str) -> dict[str, Any]:
        with self.backend.unavailable():
            raw = cast(dict[bytes, bytes], await self.backend.client.hgetall(self._key(namespace)))
        return {k.decode(): orjson.loads(v) for k, v in raw.items()}

    async def clear(self, namespace: str) -> None:
        with self.backend.unavailable():
            await self.backend.client.delete(self._key(namespace))


def _encode(message: Message) -> bytes:
    return dumps({"role": message.role, "content": message.content})


def _message(raw: bytes) -> Message:
    data = orjson.loads(raw)
    return Message(role=data["role"], content=data["content"])
