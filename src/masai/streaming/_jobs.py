"""A run as a unit of work that another process executes: what an API server hands a worker.

An in-process server executes the run it starts. A server with a shared backend only records
the run and queues a ``RunJob``; a worker picks it up, finds the target by name in its own
configuration (the same file the servers read) and executes it. So the job carries names and
plain data only, never objects: the target's name, the query, whose run it is, the history a
client sent, and how its events are to be filtered (the handler's options).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

import orjson

from ..models import Message
from ._runstore import RunRecord
from .handlers import EnhancedStreamHandler, SimpleStreamHandler

__all__ = ("Queued", "RunJob", "RunQueue")


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunJob:
    """Everything a worker needs to execute one run, and nothing it could not serialize."""

    key: str
    run_id: str
    owner: str
    target: str
    query: str
    #: The conversation the agents read and add to (always set; ``RunRecord.session_id`` is
    #: only the one shown to the client).
    session_id: str
    remember: bool = True
    history: tuple[Message, ...] | None = None
    entry_agent: str | None = None
    #: The handler's options: ``simple``, ``token_events``, ``node_transitions``,
    #: ``usage_events``, ``debug``.
    handler: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def of(
        cls,
        record: RunRecord,
        query: str,
        handler: EnhancedStreamHandler,
        *,
        session_id: str,
        remember: bool = True,
        history: tuple[Message, ...] | None = None,
        entry_agent: str | None = None,
    ) -> RunJob:
        return cls(
            key=record.key,
            run_id=record.run_id,
            owner=record.owner,
            target=record.target,
            query=query,
            session_id=session_id,
            remember=remember,
            history=history,
            entry_agent=entry_agent,
            handler={
                "simple": isinstance(handler, SimpleStreamHandler),
                "token_events": handler.enable_token_events,
                "node_transitions": handler.enable_node_transitions,
                "usage_events": handler.enable_usage_events,
                "debug": handler.debug,
            },
        )

    def make_handler(self) -> EnhancedStreamHandler:
        """The handler the API server chose, rebuilt from its options."""
        options = self.handler
        if options.get("simple"):
            return SimpleStreamHandler(debug=bool(options.get("debug")))
        return EnhancedStreamHandler(
            enable_token_events=bool(options.get("token_events", True)),
            enable_node_transitions=bool(options.get("node_transitions", True)),
            enable_usage_events=bool(options.get("usage_events", False)),
            debug=bool(options.get("debug")),
        )

    def dumps(self) -> bytes:
        data = dataclasses.asdict(self)
        if self.history is not None:
            data["history"] = [[m.role, m.content] for m in self.history]
        return orjson.dumps(data)

    @classmethod
    def loads(cls, raw: bytes | str) -> RunJob:
        data = orjson.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("a run job is a JSON object")
        history = data.get("history")
        if history is not None:
            data["history"] = tuple(Message(role, content) for role, content in history)
        return cls(**data)


@dataclasses.dataclass(frozen=True)
class Queued:
    """A job as a worker holds it: its queue entry id (to renew and acknowledge it) and how
    many times it was handed out (1 the first time; more once a lost worker's run is taken
    over)."""

    entry_id: str
    job: RunJob
    deliveries: int


class RunQueue(Protocol):
    """Where API servers put runs and workers take them from."""

    async def submit(self, job: RunJob) -> None:
        """Queue ``job`` for some worker."""

    async def take(self, consumer: str, count: int, block: float) -> list[Queued]:
        """Up to ``count`` jobs for ``consumer``: jobs whose worker's lease expired first,
        then new ones (waiting up to ``block`` seconds for one)."""

    async def renew(self, consumer: str, entry_ids: list[str]) -> list[str]:
        """Extend ``consumer``'s lease on its jobs; the ids it still holds (the others were
        taken over by another worker, which happens only when this one stalled)."""

    async def done(self, entry_id: str) -> None:
        """The job is finished (whatever its outcome): never hand it out again."""
