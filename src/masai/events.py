"""A run's events (``StreamingEvent``), the API that emits them, and their vocabulary
(``_vocabulary``, re-exported here).

Every step of a run is a ``StreamingEvent``: its ``event_type`` says what happened, ``data``
holds the payload (shapes in ``_vocabulary``), ``metadata`` says where it happened::

    run_id      the stream it belongs to           seq         0, 1, 2 … in delivery order
    agent       the agent emitting it              node        router / execute_tool / …
    agent_path  enclosing agents, outermost first  tool_call_id  set inside a tool call

Emitting costs one ContextVar lookup when nothing listens. The async functions are for async
code; the ``*_sync`` forms are for sync tools (run in worker threads) and threads they start:
they block until the event is accepted, so order and back-pressure hold across threads. A bare
``threading.Thread`` does not inherit context; start it with ``bind_context(fn)`` (while a run
is streaming, a sync emit from a thread with no run in its context logs one warning per thread
saying so).
"""

from __future__ import annotations

import contextvars
import functools
import time
from collections.abc import Callable
from contextvars import Token
from typing import Any, TypeVar

from . import _json
from ._context import OpenCall, Scope, _open_call_var, _scope_var, _sink_var, reset_var
from ._sinks import Callback, CallbackSink, Sink, new_tool_call_id, unbound_emit
from ._vocabulary import (
    EVENT_TYPES,
    AnswerData,
    ApprovalData,
    ApprovalInfo,
    ApprovalRequiredData,
    ApprovalRequiredInfo,
    CustomData,
    ErrorData,
    EventType,
    HandoffData,
    MemoryUpdateData,
    NodeTransitionData,
    ReasoningData,
    RetractedData,
    StateData,
    TokenData,
    ToolCallData,
    ToolOutputData,
    UsageData,
)

__all__ = (
    "EVENT_TYPES",
    "AnswerData",
    "ApprovalData",
    "ApprovalInfo",
    "ApprovalRequiredData",
    "ApprovalRequiredInfo",
    "CustomData",
    "ErrorData",
    "EventType",
    "HandoffData",
    "MemoryUpdateData",
    "NodeTransitionData",
    "ReasoningData",
    "RetractedData",
    "StateData",
    "StreamingEvent",
    "TokenData",
    "ToolCallData",
    "ToolOutputData",
    "UsageData",
    "bind_context",
    "clear_streaming_callback",
    "emit_custom_event",
    "emit_custom_event_sync",
    "emit_event",
    "emit_event_sync",
    "emit_node_transition",
    "emit_node_transition_sync",
    "emit_tool_call",
    "emit_tool_call_sync",
    "emit_tool_output",
    "emit_tool_output_sync",
    "get_streaming_callback",
    "set_streaming_callback",
)


class StreamingEvent:
    """One thing that happened during a run. Treat as immutable once emitted."""

    __slots__ = (
        "_delta_is_data",
        "_md",
        "_scope",
        "_seq",
        "_sink",
        "_tool_index",
        "data",
        "event_type",
        "timestamp",
    )

    event_type: EventType
    data: dict[str, Any]
    timestamp: float

    def __init__(
        self,
        event_type: EventType,
        data: dict[str, Any],
        metadata: dict[str, Any] | None = None,
        *,
        timestamp: float | None = None,
    ) -> None:
        self.event_type = event_type
        self.data = data
        self._md: dict[str, Any] | None = metadata if metadata is not None else {}
        self.timestamp = time.time() if timestamp is None else timestamp
        # An emitted event's metadata is its scope's plus run_id and seq; it stays in that form
        # (so encoders splice the scope's pre-serialised JSON) until someone reads ``metadata``.
        self._scope: Scope | None = None
        self._seq: int | None = None
        # Set when a sink accepts the event: the stream identity shared by all its chunks.
        self._sink: Sink | None = None
        self._tool_index: int | None = None
        # ``data`` is already the chunk's delta (custom events from ``emit_custom_event``).
        self._delta_is_data = False

    @property
    def seq(self) -> int | None:
        """The event's position in its stream (``metadata.seq``), once a stream numbered it."""
        return self._seq

    @property
    def metadata(self) -> dict[str, Any]:
        md = self._md
        if md is None:
            scope = self._scope
            assert scope is not None and self._sink is not None
            md = self._md = {**self._sink.identity, "seq": self._seq, **scope.metadata}
        return md

    @metadata.setter
    def metadata(self, value: dict[str, Any]) -> None:
        self._md = value

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_type": self.event_type,
            "data": self.data,
            "metadata": self.metadata,
            "timestamp": self.timestamp,
        }

    def to_openai_sse(self, model: str = "mas-ai-general") -> str:
        """This event as one ``data: {chat.completion.chunk}`` SSE frame."""
        from .streaming._openai import encode_event

        return encode_event(self, model).decode()

    def __repr__(self) -> str:
        return f"StreamingEvent({self.event_type!r}, {self.data!r}, metadata={self.metadata!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StreamingEvent):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]


# -- callback binding ----------------------------------------------------------------------


def set_streaming_callback(callback: Callback | None) -> Token[Sink | None]:
    """Send this context's events to ``callback`` (sync or async, called with each event).

    Scoped to the current Context: concurrent requests each have their own. Undo with
    ``clear_streaming_callback()``, which restores whatever was bound before.
    """
    sink = CallbackSink(callback, _sink_var.get()) if callback is not None else None
    token = _sink_var.set(sink)
    if sink is not None:
        sink.token = token
    return token


def clear_streaming_callback(token: Token[Sink | None] | None = None) -> None:
    """Undo ``set_streaming_callback`` (the given one, or the latest in this context).

    Never unbinds a stream this code did not bind: inside a handler's run it is a no-op, so a
    nested stream cannot cut off the one around it.
    """
    if token is not None:
        reset_var(_sink_var, token)
        return
    sink = _sink_var.get()
    if not isinstance(sink, CallbackSink) or sink.token is None:
        return
    try:
        _sink_var.reset(sink.token)
    except ValueError:  # set in another Context: restore what it replaced
        _sink_var.set(sink.previous)


def get_streaming_callback() -> Callable[[StreamingEvent], Any] | None:
    """A callable that delivers a hand-built event to the current stream, or ``None``."""
    return _sink_var.get()


T = TypeVar("T")


def bind_context(fn: Callable[..., T]) -> Callable[..., T]:
    """Wrap ``fn`` to run in a copy of the current context, for ``threading.Thread(target=…)``:
    events it emits then reach the run that started the thread."""
    return functools.partial(contextvars.copy_context().run, fn)


# -- building --------------------------------------------------------------------------------

_RESERVED = frozenset({"run_id", "session_id", "seq"})


def _build(
    sink: Sink,
    event_type: str,
    data: dict[str, Any],
    metadata: dict[str, Any] | None,
    tool_call_id: str | None = None,
) -> StreamingEvent:
    scope = _scope_var.get()
    call_id = tool_call_id or scope.tool_call_id
    if call_id is None and event_type == "custom":
        # Progress from inside a tool that was announced by hand: attribute it to that call.
        open_call = _open_call_var.get()
        if not metadata:  # (in the call's implicit scope: the same metadata, pre-serialised)
            if open_call is not None:
                scope = open_call.scope_in(scope)
            elif sink._open_calls:
                scope = sink.attributed_scope(scope)  # (or none: several calls are open)
            return _scoped_event(sink, event_type, data, scope)
        if open_call is not None:
            call_id = open_call.tool_call_id
        elif sink._open_calls:
            call_id = sink.sole_open_call()
    if not metadata and call_id == scope.tool_call_id:
        return _scoped_event(sink, event_type, data, scope)
    md: dict[str, Any] = {**sink.identity, "seq": None, **scope.metadata}
    if call_id is not None:
        md["tool_call_id"] = call_id
    if metadata:
        for key, value in metadata.items():
            if key in _RESERVED or (value is None and key in md):
                continue
            md[key] = value
    event = StreamingEvent(event_type, data, md)  # type: ignore[arg-type]
    event._sink = sink
    return event


def _scoped_event(
    sink: Sink, event_type: str, data: dict[str, Any], scope: Scope
) -> StreamingEvent:
    """The hot path of every emit: an event whose metadata is its scope's, left unbuilt (see
    ``StreamingEvent.metadata``); no ``__init__`` call."""
    event = _new_event(StreamingEvent)
    event.event_type = event_type  # type: ignore[assignment]
    event.data = data
    event._md = None
    event._scope = scope
    event._seq = None
    event.timestamp = _now()
    event._sink = sink
    event._tool_index = None
    event._delta_is_data = False
    return event


_new_event = object.__new__
_now = time.time


def _tool_call_event(
    sink: Sink, tool_name: str, tool_input: Any, node: str | None, tool_call_id: str | None
) -> tuple[str, StreamingEvent | None]:
    """The call's id (from the runtime's tool scope, the caller, or new) and its event, if the
    sink takes tool calls. A call made outside a tool scope is remembered for pairing."""
    scope = _scope_var.get()
    if tool_call_id is None and scope.tool_call_id is not None:
        call_id = scope.tool_call_id  # the runtime's tool scope already names this call
    else:
        call_id = tool_call_id or new_tool_call_id()
        sink.open_call(tool_name, call_id)
        open_call = OpenCall(call_id, tool_name)
        open_call.token = _open_call_var.set(open_call)
    if sink.accepts is not None and "tool_call" not in sink.accepts:
        return call_id, None
    data = {"tool_name": tool_name, "tool_input": tool_input}
    md = {"node": node, "tool_name": tool_name}
    return call_id, _build(sink, "tool_call", data, md, call_id)


def _tool_output_event(
    sink: Sink,
    tool_name: str,
    output: Any,
    node: str | None,
    tool_call_id: str | None,
    is_error: bool,
    metadata: dict[str, Any] | None = None,
) -> StreamingEvent | None:
    scope = _scope_var.get()
    if tool_call_id is None and scope.tool_call_id is not None:
        call_id: str | None = scope.tool_call_id
    else:
        call_id = _close_open_call(sink, tool_name, tool_call_id)
    if sink.accepts is not None and "tool_output" not in sink.accepts:
        return None
    data: dict[str, Any] = {"tool_name": tool_name, "output": _output_text(output)}
    md: dict[str, Any] = {**(metadata or {}), "node": node, "tool_name": tool_name}
    if is_error:
        data["is_error"] = md["is_error"] = True
    return _build(sink, "tool_output", data, md, call_id)


def _close_open_call(sink: Sink, tool_name: str, tool_call_id: str | None) -> str | None:
    """Pair an output with its hand-emitted call: the one open in this context, else (emitted
    from another context) the oldest open call of that tool in the stream."""
    open_call = _open_call_var.get()
    if (
        open_call is not None
        and open_call.tool_name == tool_name
        and (tool_call_id is None or tool_call_id == open_call.tool_call_id)
    ):
        if open_call.token is not None:
            reset_var(_open_call_var, open_call.token)
        return sink.close_call(tool_name, open_call.tool_call_id)
    return sink.close_call(tool_name, tool_call_id)


def _output_text(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, bytes | bytearray):
        return bytes(output).decode("utf-8", "replace")
    return _json.dumps_str(output)


# -- async emit API (the spec's) --------------------------------------------------------------


async def emit_event(
    event_type: EventType, data: dict[str, Any], metadata: dict[str, Any] | None = None
) -> None:
    """Emit an event to the current stream, if any."""
    sink = _sink_var.get()
    if sink is None or (sink.accepts is not None and event_type not in sink.accepts):
        return
    event = _build(sink, event_type, data, metadata)
    if not sink.offer(event):
        await sink.send(event)


async def emit_tool_call(
    tool_name: str, tool_input: Any, node: str | None = None, *, tool_call_id: str | None = None
) -> str | None:
    """Emit a tool call; returns its ``call_…`` id (outputs are paired with it by id)."""
    sink = _sink_var.get()
    if sink is None:
        return None
    call_id, event = _tool_call_event(sink, tool_name, tool_input, node, tool_call_id)
    if event is not None:
        await sink.send(event)
    return call_id


async def emit_tool_output(
    tool_name: str,
    output: Any,
    node: str | None = None,
    *,
    tool_call_id: str | None = None,
    is_error: bool = False,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Emit a tool's result (``is_error`` when it failed). Non-string output is sent as JSON."""
    sink = _sink_var.get()
    if sink is not None and (
        event := _tool_output_event(sink, tool_name, output, node, tool_call_id, is_error, metadata)
    ):
        await sink.send(event)


async def emit_node_transition(from_node: str | None, to_node: str | None) -> None:
    await emit_event("node_transition", {"from_node": from_node, "to_node": to_node})


async def emit_custom_event(
    content: str,
    custom_data: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Emit progress or any data from inside a tool; ``custom_data["progress"]`` (0..1) drives
    progress bars."""
    sink = _sink_var.get()
    if sink is None or not sink.takes_custom:
        return
    data = {"content": content, "custom_data": custom_data or {}}
    if not metadata:
        scope = _scope_var.get()
        if scope.tool_call_id is None:  # attributed to a call announced by hand, if one is open
            open_call = _open_call_var.get()
            if open_call is not None:  # (``scope_in``, its common case inlined)
                scope = open_call.scope if open_call.base is scope else open_call.scope_in(scope)
            elif sink._open_calls:
                scope = sink.attributed_scope(scope)
        # Every progress tick comes through here: ``_scoped_event``, inlined.
        event = _new_event(StreamingEvent)
        event.event_type = "custom"
        event.data = data
        event._md = None
        event._scope = scope
        event._seq = None
        event.timestamp = _now()
        event._sink = sink
        event._tool_index = None
        event._delta_is_data = True
    else:
        event = _build(sink, "custom", data, metadata)
    if not sink.offer(event):
        await sink.send(event)


def _usage_data(prompt_tokens: int, completion_tokens: int) -> UsageData:
    """A ``usage`` event's data."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


async def _emit_usage(
    prompt_tokens: int, completion_tokens: int, metadata: dict[str, Any] | None = None
) -> None:
    """What one model call cost (the runtime emits this after each call): a ``usage`` event
    with ``metadata.scope`` ``"call"``, counted towards the run's total that the stream sends
    at its end (``scope: "run"``). Only for streams that ask for ``usage`` events: a sink
    with no type filter (a bare callback) takes every other type, but not this one, so code
    that existed before it sees the same events (``enable_usage_events`` asks for them)."""
    sink = _sink_var.get()
    if sink is None or sink.accepts is None or "usage" not in sink.accepts:
        return
    counted = sink.counted_usage
    if counted is None:
        counted = sink.counted_usage = [0, 0]
    counted[0] += prompt_tokens
    counted[1] += completion_tokens
    data = _usage_data(prompt_tokens, completion_tokens)
    event = _build(sink, "usage", dict(data), {"scope": "call", **(metadata or {})})
    if not sink.offer(event):
        await sink.send(event)


# -- sync emit API (worker threads) ---------------------------------------------------------


def emit_event_sync(
    event_type: EventType, data: dict[str, Any], metadata: dict[str, Any] | None = None
) -> None:
    """``emit_event`` for sync code: blocks until the event is accepted. In a cancelled run it
    raises ``RunCancelled``, so a worker thread stops at its next report."""
    sink = _sink_var.get()
    if sink is None:
        unbound_emit("emit_event_sync")
        return
    if sink.accepts is not None and event_type not in sink.accepts:
        return
    sink.send_sync(_build(sink, event_type, data, metadata))


def emit_tool_call_sync(
    tool_name: str, tool_input: Any, node: str | None = None, *, tool_call_id: str | None = None
) -> str | None:
    sink = _sink_var.get()
    if sink is None:
        unbound_emit("emit_tool_call_sync")
        return None
    call_id, event = _tool_call_event(sink, tool_name, tool_input, node, tool_call_id)
    if event is not None:
        sink.send_sync(event)
    return call_id


def emit_tool_output_sync(
    tool_name: str,
    output: Any,
    node: str | None = None,
    *,
    tool_call_id: str | None = None,
    is_error: bool = False,
    metadata: dict[str, Any] | None = None,
) -> None:
    sink = _sink_var.get()
    if sink is None:
        unbound_emit("emit_tool_output_sync")
    elif event := _tool_output_event(
        sink, tool_name, output, node, tool_call_id, is_error, metadata
    ):
        sink.send_sync(event)


def emit_node_transition_sync(from_node: str | None, to_node: str | None) -> None:
    emit_event_sync("node_transition", {"from_node": from_node, "to_node": to_node})


def emit_custom_event_sync(
    content: str,
    custom_data: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    sink = _sink_var.get()
    if sink is None:
        unbound_emit("emit_custom_event_sync")
        return
    if sink.accepts is not None and "custom" not in sink.accepts:
        return
    data = {"content": content, "custom_data": custom_data or {}}
    sink.send_sync(_build(sink, "custom", data, metadata))
