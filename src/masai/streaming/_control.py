"""Messages to a running run from outside it: cancel, and decisions on tool calls.

Whoever executes a run listens on its key; whoever was asked (an API server) sends. In one
process that is a direct call; with Redis it is pub/sub plus the run's record, so a worker that
takes the run over later still sees what was decided. The sender gets the listener's reply, so
an invalid decision is refused to the person who made it (422), not discovered by the run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol

__all__ = ("Control", "ControlMessage", "InMemoryControl", "NotListening")


class NotListening(LookupError):
    """No process is executing the run (it has finished, or its worker is gone)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ControlMessage:
    kind: Literal["cancel", "approval"]
    #: Who sent it (a principal), for the record.
    sender: str | None = None
    #: ``approval``: {tool_call_id, approved, reason, arguments}.
    body: dict[str, Any] = dataclasses.field(default_factory=dict)


Listener = Callable[[ControlMessage], Awaitable[Any]]


class Control(Protocol):
    def listen(self, key: str, listener: Listener) -> Callable[[], None]:
        """Deliver the run's messages to ``listener``; returns the call that stops it."""

    async def send(self, key: str, message: ControlMessage) -> Any:
        """Deliver ``message`` and return the listener's reply (or raise what it raised);
        ``NotListening`` if nobody executes the run."""

    async def ready(self, key: str) -> bool:
        """Wait (briefly) until messages sent from now on reach the run's listener."""


class InMemoryControl:
    def __init__(self) -> None:
        self._listeners: dict[str, Listener] = {}

    def listen(self, key: str, listener: Listener) -> Callable[[], None]:
        self._listeners[key] = listener

        def stop() -> None:
            if self._listeners.get(key) is listener:
                del self._listeners[key]

        return stop

    async def ready(self, key: str) -> bool:
        return key in self._listeners  # (a direct call: ready as soon as it listens)

    async def send(self, key: str, message: ControlMessage) -> Any:
        listener = self._listeners.get(key)
        if listener is None:
            raise NotListening(key)
        return await listener(message)
