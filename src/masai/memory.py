"""Memory: each agent's conversation history per session, and a run's shared key/value memory.

Both sit behind small store interfaces (in-process here; a Redis store plugs in the same way),
and both are keyed so that two sessions or two runs never see each other's data.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Sequence
from typing import Any, Protocol

from ._context import current_scope
from .events import emit_event
from .models import Message

__all__ = (
    "InMemorySessionStore",
    "InMemorySharedStore",
    "SessionStore",
    "SharedMemory",
    "SharedStore",
)


class SessionStore(Protocol):
    """Conversation history per (agent, session)."""

    async def load(self, agent: str, session_id: str) -> list[Message]: ...

    async def append(
        self, agent: str, session_id: str, messages: Sequence[Message], keep: int
    ) -> None: ...


class InMemorySessionStore:
    """Process-local history; the least recently used sessions are dropped past ``max_sessions``
    so a long-running server's memory stays bounded."""

    def __init__(self, max_sessions: int = 10_000) -> None:
        self.max_sessions = max_sessions
        self._data: OrderedDict[tuple[str, str], deque[Message]] = OrderedDict()

    async def load(self, agent: str, session_id: str) -> list[Message]:
        history = self._data.get((agent, session_id))
        if history is None:
            return []
        self._data.move_to_end((agent, session_id))
        return list(history)

    async def append(
        self, agent: str, session_id: str, messages: Sequence[Message], keep: int
    ) -> None:
        key = (agent, session_id)
        history = self._data.get(key)
        if history is None or history.maxlen != keep:
            history = deque(history or (), maxlen=max(keep, 0))
            self._data[key] = history
        history.extend(messages)
        self._data.move_to_end(key)
        while len(self._data) > self.max_sessions:
            self._data.popitem(last=False)


class SharedStore(Protocol):
    """Key/value storage for shared memory, one namespace per run."""

    async def get(self, namespace: str, key: str) -> Any:
        """The value, or ``None`` when the key is not set."""

    async def set(self, namespace: str, key: str, value: Any) -> None: ...

    async def items(self, namespace: str) -> dict[str, Any]: ...

    async def clear(self, namespace: str) -> None: ...


class InMemorySharedStore:
    def __init__(self) -> None:
        self._data: dict[str, dict[str, Any]] = {}

    async def get(self, namespace: str, key: str) -> Any:
        return self._data.get(namespace, {}).get(key)

    async def set(self, namespace: str, key: str, value: Any) -> None:
        self._data.setdefault(namespace, {})[key] = value

    async def items(self, namespace: str) -> dict[str, Any]:
        return dict(self._data.get(namespace, {}))

    async def clear(self, namespace: str) -> None:
        self._data.pop(namespace, None)


class SharedMemory:
    """What the agents of one run share. Every write is streamed as a ``memory_update`` event
    attributed to the agent that made it."""

    def __init__(self, store: SharedStore | None = None, namespace: str = "run") -> None:
        self.store: SharedStore = store if store is not None else InMemorySharedStore()
        self.namespace = namespace
        self._lock = asyncio.Lock()

    async def get(self, key: str, default: Any = None) -> Any:
        value = await self.store.get(self.namespace, key)
        return default if value is None else value

    async def set(self, key: str, value: Any) -> None:
        if not isinstance(key, str) or not key:
            raise ValueError("shared memory keys are non-empty strings")
        async with self._lock:  # the event order is the write order
            await self.store.set(self.namespace, key, value)
            agent = current_scope().agent
            await emit_event("memory_update", {"key": key, "value": value, "agent": agent})

    async def items(self) -> dict[str, Any]:
        return await self.store.items(self.namespace)

    async def clear(self) -> None:
        await self.store.clear(self.namespace)
