"""The spec's stream handlers: a run as OpenAI-style SSE chunks.

A handler is configuration only. Everything that belongs to one request (the run's task, its
buffer, the chunk id, the sequence numbers) lives in the ``EventStream`` each call opens, so one
handler instance serves any number of concurrent requests.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextvars import ContextVar
from typing import Any

from .._context import current_sink
from ..events import EVENT_TYPES, StreamingEvent
from ._drive import agent_runner
from ._openai import ChunkEncoder
from ._spec import SpecEncoder
from ._stream import DEFAULT_MAX_BUFFERED_EVENTS, EventStream
from .sse import SSE_HEADERS

__all__ = ("EnhancedStreamHandler", "SimpleStreamHandler", "TypeFilter")

logger = logging.getLogger("masai.streaming")

Run = Callable[[], Awaitable[Any]]


class TypeFilter:
    """Which event types a stream takes: an allow-list, or every type but a few. Events a
    filter rejects are never built, buffered or numbered."""

    __slots__ = ("_allowed", "_denied")

    def __init__(self, *, allowed: Iterable[str] | None = None, denied: Iterable[str] = ()) -> None:
        self._denied = frozenset(denied)
        self._allowed = None if allowed is None else frozenset(allowed) - self._denied

    def __contains__(self, event_type: object) -> bool:
        if self._allowed is not None:
            return event_type in self._allowed
        return event_type not in self._denied

    def __repr__(self) -> str:
        if self._allowed is not None:
            return f"TypeFilter(allowed={sorted(self._allowed)})"
        return f"TypeFilter(denied={sorted(self._denied)})"


def _debug_default() -> bool:
    return os.environ.get("MASAI_DEBUG", "").lower() in {"1", "true", "yes", "on"}


class EnhancedStreamHandler:
    """Streams a run (reasoning, tool calls and outputs, custom events, answer) as SSE.

    Beyond the spec: ``enable_token_events`` adds answer-text deltas (``token`` events);
    ``enable_usage_events`` adds what each model call cost and, last before the end, the run's
    total (``usage`` events, ``metadata.scope`` ``"call"`` or ``"run"``);
    ``max_buffered_events`` bounds the buffer between the run and the writer (a producer waits
    when it is full; nothing is dropped); ``debug`` puts exception text in error chunks (off by
    default: clients get a generic message, the server log gets the traceback); ``coalesce``
    yields all the frames that are ready at once as one string, so a burst becomes one write
    (the bytes are the same; ``False`` yields exactly one frame per item).
    """

    def __init__(
        self,
        model: str = "mas-ai-general",
        enable_tool_events: bool = True,
        enable_node_transitions: bool = False,
        enable_custom_events: bool = True,
        event_filter: Iterable[str] | None = None,
        *,
        enable_token_events: bool = False,
        enable_usage_events: bool = False,
        max_buffered_events: int = DEFAULT_MAX_BUFFERED_EVENTS,
        debug: bool | None = None,
        coalesce: bool = True,
    ) -> None:
        if not isinstance(model, str) or not model:
            raise ValueError("model must be a non-empty string")
        if isinstance(event_filter, str):
            raise TypeError("event_filter must be a set of event types, not a string")
        if max_buffered_events < 1:
            raise ValueError("max_buffered_events must be at least 1")
        self.model = model
        self.enable_tool_events = enable_tool_events
        self.enable_node_transitions = enable_node_transitions
        self.enable_custom_events = enable_custom_events
        self.enable_token_events = enable_token_events
        self.enable_usage_events = enable_usage_events
        self.event_filter = None if event_filter is None else set(event_filter)
        self.max_buffered_events = max_buffered_events
        self.debug = _debug_default() if debug is None else debug
        self.coalesce = coalesce
        if self.event_filter and (unknown := self.event_filter - EVENT_TYPES):
            logger.warning("event_filter names unknown event types: %s", sorted(unknown))

        denied = set()
        if not enable_tool_events:
            denied |= {"tool_call", "tool_output"}
        if not enable_node_transitions:
            denied.add("node_transition")
        if not enable_custom_events:
            denied.add("custom")
        if not enable_token_events:
            denied.add("token")
        if not enable_usage_events:
            denied.add("usage")
        self._accepts = TypeFilter(allowed=self.event_filter, denied=denied)
        # For the spec's hand-written loop (``handler.event_queue = asyncio.Queue()``): the
        # queue is context-local, so a handler shared by concurrent requests keeps them apart.
        self._queue_var: ContextVar[Any] = ContextVar(f"masai.event_queue.{id(self)}", default=None)

    @property
    def accepts(self) -> TypeFilter:
        """The event types this handler's streams take."""
        return self._accepts

    # -- the spec's members ------------------------------------------------------------------
    @property
    def event_queue(self) -> Any:
        return self._queue_var.get()

    @event_queue.setter
    def event_queue(self, queue: Any) -> None:
        self._queue_var.set(queue)

    @property
    def _event_callback(self) -> _QueueCallback:
        """Puts accepted events on ``event_queue``; pass to ``set_streaming_callback``."""
        return _QueueCallback(self)

    def _should_emit_event(self, event: StreamingEvent) -> bool:
        return event.event_type in self._accepts

    def get_headers(self) -> dict[str, str]:
        return dict(SSE_HEADERS)

    def _format_sse_event(self, choice_data: dict[str, Any]) -> str:
        """A chunk from a free-form choice, with the current stream's id when inside one."""
        encoder = _encoder_for(self.model, current_sink())
        return encoder.choice(choice_data).decode()

    # -- streaming -------------------------------------------------------------------------
    def stream_agent_execution(
        self,
        agent: Any,
        query: str,
        passed_from: str = "user",
        agent_type: str | None = None,
        **run_kwargs: Any,
    ) -> AsyncIterator[str]:
        """SSE chunks for one agent run: role, events as they happen, ``stop``, ``[DONE]``.

        Extra keyword arguments (``session_id=…``) go to the agent's ``initiate_agent_astream``.
        Closing the iterator (client disconnect) cancels the run.
        """
        return self.stream_run(agent_runner(agent, query, passed_from, **run_kwargs), agent_type)

    def stream_mas_execution(
        self,
        mas: Any,
        query: str,
        entry_agent: Any = None,
        *,
        session_id: str | None = None,
        agent_type: str | None = None,
        **options: Any,
    ) -> AsyncIterator[str]:
        """A decentralized multi-agent run as SSE (hand-offs, shared memory, every agent)."""
        entry = entry_agent if entry_agent is not None else _first_agent(mas)
        updates = mas.initiate_decentralized_mas_astream(
            query, entry, session_id=session_id, **options
        )
        return self.stream_run(_drain(updates), agent_type)

    def stream_sequential_execution(
        self,
        mas: Any,
        query: str,
        agent_sequence: Any,
        *,
        session_id: str | None = None,
        agent_type: str | None = None,
    ) -> AsyncIterator[str]:
        updates = mas.initiate_sequential_mas_astream(query, agent_sequence, session_id=session_id)
        return self.stream_run(_drain(updates), agent_type)

    def stream_hierarchical_execution(
        self,
        mas: Any,
        query: str,
        *,
        session_id: str | None = None,
        agent_type: str | None = None,
    ) -> AsyncIterator[str]:
        updates = mas.initiate_hierarchical_mas_astream(query, session_id=session_id)
        return self.stream_run(_drain(updates), agent_type)

    def open_stream(
        self, run: Run, *, session_id: str | None = None, run_id: str | None = None
    ) -> EventStream:
        """A not-yet-started stream for any coroutine that emits events, with this handler's
        filters and bound; for callers that want events rather than SSE text. ``session_id``
        goes into every event's metadata (a server tells clients their session that way), as
        does ``run_id`` (default: a fresh one)."""
        return EventStream(
            run,
            accepts=self._accepts,
            max_buffered_events=self.max_buffered_events,
            session_id=session_id,
            run_id=run_id,
        )

    def encoder(self, stream: EventStream, role: str | None = None) -> SpecEncoder:
        """The spec's encoder for one of this handler's streams."""
        return SpecEncoder.of_stream(stream, self.model, role=role, debug=self.debug)

    async def stream_run(self, run: Run, role: str | None = None) -> AsyncIterator[str]:
        stream = self.open_stream(run)
        encoder = self.encoder(stream, role)
        async with stream:
            yield encoder.start().decode()
            async for batch in stream.batches():
                if self.coalesce:
                    yield encoder.events(batch).decode()
                else:
                    for event in batch:
                        yield encoder.events((event,)).decode()
            yield encoder.end(stream.outcome).decode()


class SimpleStreamHandler(EnhancedStreamHandler):
    """Reasoning and the final answer only (the spec's backward-compatible handler)."""

    def __init__(
        self,
        model: str = "mas-ai-general",
        *,
        max_buffered_events: int = DEFAULT_MAX_BUFFERED_EVENTS,
        debug: bool | None = None,
        coalesce: bool = True,
    ) -> None:
        super().__init__(
            model,
            enable_tool_events=False,
            enable_node_transitions=False,
            enable_custom_events=False,
            event_filter={"reasoning", "answer"},
            max_buffered_events=max_buffered_events,
            debug=debug,
            coalesce=coalesce,
        )


class _QueueCallback:
    """``handler._event_callback``: filters, then puts on the context's ``event_queue``."""

    __slots__ = ("_handler",)

    def __init__(self, handler: EnhancedStreamHandler) -> None:
        self._handler = handler

    @property
    def accepts(self) -> TypeFilter:
        return self._handler._accepts

    async def __call__(self, event: StreamingEvent) -> None:
        queue = self._handler.event_queue
        if queue is not None and self._handler._should_emit_event(event):
            await queue.put(event)


def _first_agent(mas: Any) -> Any:
    names = mas.agentManager.list_agents()
    if not names:
        raise ValueError("the multi-agent system has no agents")
    return names[0]


def _drain(updates: AsyncIterator[Any]) -> Run:
    """A run that consumes a workflow's updates; its events are what gets streamed."""

    async def run() -> Any:
        final = None
        async for update in updates:
            final = update
        return final

    return run


def _encoder_for(model: str, sink: Any) -> ChunkEncoder:
    if sink is not None:
        return ChunkEncoder(model, sink.chunk_id, sink.created, sink=sink)
    return ChunkEncoder(model, f"chatcmpl-{uuid.uuid4().hex}", int(time.time()))
