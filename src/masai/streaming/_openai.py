"""Events as the spec's OpenAI-style ``chat.completion.chunk`` SSE frames.

Each frame is ``data: {id, object, created, model, choices:[{index, delta, finish_reason}],
event_type, metadata}``. The part before ``delta`` is the same for every chunk of a stream, so it
is serialised once per stream; per event only the delta and the metadata are encoded.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from .._json import dumps, dumps_str
from .._sinks import new_tool_call_id

if TYPE_CHECKING:
    from .._sinks import Sink
    from ..events import StreamingEvent

__all__ = ("ChunkEncoder", "arguments_json", "encode_event", "event_delta")

Delta = dict[str, Any]


def arguments_json(tool_input: Any) -> str:
    """OpenAI's ``function.arguments`` is a JSON string; keep a JSON string the model wrote."""
    if isinstance(tool_input, str):
        try:
            orjson.loads(tool_input)
            return tool_input
        except orjson.JSONDecodeError:
            pass
    return dumps_str({} if tool_input is None else tool_input)


def _tool_call(event: StreamingEvent) -> Delta:
    d = event.data
    return {
        "tool_calls": [
            {
                "index": event._tool_index or 0,
                "id": event.metadata.get("tool_call_id") or new_tool_call_id(),
                "type": "function",
                "function": {
                    "name": d.get("tool_name"),
                    "arguments": arguments_json(d.get("tool_input")),
                },
            }
        ]
    }


def _handoff(event: StreamingEvent) -> Delta:
    d = event.data
    handoff = {
        "from_agent": d.get("from_agent"),
        "to_agent": d.get("to_agent"),
        "reason": d.get("reason", ""),
    }
    return {
        "content": f"\n[Handoff: {handoff['from_agent']} → {handoff['to_agent']}]\n",
        "handoff": handoff,
    }


def _memory_update(event: StreamingEvent) -> Delta:
    d = event.data
    update = {"key": d.get("key"), "value": d.get("value"), "agent": d.get("agent")}
    return {
        "content": f"\n[Memory: {update['agent']} set {update['key']}]\n",
        "memory_update": update,
    }


def _approval_required(event: StreamingEvent) -> Delta:
    approval = event.data.get("approval") or {}
    return {
        "content": f"\n[Approval required: {approval.get('tool_name')}]\n",
        "approval": approval,
    }


def _approval(event: StreamingEvent) -> Delta:
    approval = event.data.get("approval") or {}
    verdict = "Approved" if approval.get("approved") else "Denied"
    return {"content": f"\n[{verdict}: {approval.get('tool_name')}]\n", "approval": approval}


def _retracted(event: StreamingEvent) -> Delta:
    d = event.data
    return {"retracted": {"from_seq": d.get("from_seq"), "to_seq": d.get("to_seq")}}


def _usage(event: StreamingEvent) -> Delta:
    d = event.data  # (no content: token counts are not reply text)
    return {
        "usage": {
            "prompt_tokens": d.get("prompt_tokens", 0),
            "completion_tokens": d.get("completion_tokens", 0),
            "total_tokens": d.get("total_tokens", 0),
        }
    }


def _custom(event: StreamingEvent) -> Delta:
    data = event.data
    return {"content": data.get("content", ""), "custom_data": data.get("custom_data") or {}}


_DELTAS: dict[str, Callable[[StreamingEvent], Delta]] = {
    "custom": _custom,
    "token": lambda e: {"content": e.data.get("content", "")},
    "reasoning": lambda e: {"content": e.data.get("reasoning", "")},
    "answer": lambda e: {
        "content": e.data.get("answer", ""),
        "satisfied": e.data.get("satisfied", True),
    },
    "tool_call": _tool_call,
    "tool_output": lambda e: {
        "content": f"\n[Tool: {e.data.get('tool_name')}]\n{e.data.get('output', '')}\n"
    },
    "node_transition": lambda e: {
        "content": f"\n[Node: {e.data.get('from_node')} → {e.data.get('to_node')}]\n"
    },
    "handoff": _handoff,
    "memory_update": _memory_update,
    "approval_required": _approval_required,
    "approval": _approval,
    "retracted": _retracted,
    "usage": _usage,
    "error": lambda e: {"content": f"\n[Error: {e.data.get('error', 'Unknown error')}]\n"},
}


def event_delta(event: StreamingEvent) -> tuple[Delta, str | None]:
    """The chunk's ``delta`` and ``finish_reason`` for an event (spec mapping)."""
    build = _DELTAS.get(event.event_type)
    if build is None:  # "state" and anything user-defined: the data as JSON text
        return {"content": dumps_str(event.data)}, None
    return build(event), ("stop" if event.event_type == "error" else None)


_FINISH = {None: b',"finish_reason":null}]', "stop": b',"finish_reason":"stop"}]'}
_orjson_dumps = orjson.dumps


def _dumps(value: Any) -> bytes:
    """``_json.dumps``, trying plain ``orjson.dumps`` first: no keyword parsing, and the same
    bytes whenever it succeeds (the options only matter for values it refuses)."""
    try:
        return _orjson_dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return dumps(value)


class ChunkEncoder:
    """Encodes the chunks of one stream: one id and one ``created`` for all of them.

    Given the stream's ``sink``, events whose metadata is still their scope's (see
    ``StreamingEvent.metadata``) are spliced from pre-serialised parts: per event only the delta
    and ``seq`` are encoded. Any other event takes the general path; the bytes are the same.
    """

    __slots__ = ("_custom_mid", "_head", "_mids", "_sink", "_types", "chunk_id", "created", "model")

    def __init__(self, model: str, chunk_id: str, created: int, *, sink: Sink | None = None):
        self.model = model
        self.chunk_id = chunk_id
        self.created = created
        self._head = (
            b'data: {"id":'
            + dumps(chunk_id)
            + b',"object":"chat.completion.chunk","created":'
            + str(created).encode()
            + b',"model":'
            + dumps(model)
            + b',"choices":[{"index":0,"delta":'
        )
        self._types: dict[str, bytes] = {}
        self._sink = sink
        #: Per event type: everything between the delta and the value of ``seq``.
        self._mids: dict[str, bytes] = {}
        self._custom_mid = self._mid("custom") if sink is not None else b""  # (others: on use)

    def chunk(self, delta: Delta, finish_reason: str | None = None) -> bytes:
        """A frame without event fields: the role chunk and the final ``stop`` chunk."""
        finish = _FINISH.get(finish_reason) or (b',"finish_reason":' + dumps(finish_reason) + b"}]")
        return self._head + dumps(delta) + finish + b"}\n\n"

    def event(self, event: StreamingEvent) -> bytes:
        kind = event.event_type
        if kind == "custom":  # the most frequent event: skip the general mapping
            delta, finish_reason = _custom(event), None
        else:
            delta, finish_reason = event_delta(event)
        delta_json = _dumps(delta)
        scope, seq = event._scope, event._seq
        if (
            event._md is None
            and scope is not None
            and seq is not None
            and event._sink is self._sink
        ):
            mid = self._mids.get(kind) or self._mid(kind)
            return b"%b%b%b%d%b}\n\n" % (self._head, delta_json, mid, seq, scope.metadata_json)
        finish = _FINISH[finish_reason]
        head = self._head + delta_json + finish + self._type_field(kind)
        return head + _dumps(event.metadata) + b"}\n\n"

    @property
    def head(self) -> bytes:
        """What every frame of this stream begins with (``data: {"id":…,"delta":``)."""
        return self._head

    def events(self, batch: list[StreamingEvent]) -> bytes:
        """A batch of events as one string of frames (one write): the same bytes as
        ``event()`` for each, with a burst's progress events encoded in this loop."""
        if not batch:
            return b""
        frames = [b""]  # (joined by the head: every frame then starts with it, one copy)
        self._encode(batch, frames)
        return self._head.join(frames)

    def tails(self, batch: list[StreamingEvent]) -> list[bytes]:
        """Each event's frame without the ``head`` all of them begin with (a log keeps
        these, apart, to number them: the head is kept once)."""
        tails: list[bytes] = []
        self._encode(batch, tails)
        return tails

    def _encode(self, batch: list[StreamingEvent], tails: list[bytes]) -> None:
        """Append each event's tail to ``tails``. Custom events straight from
        ``emit_custom_event`` (the most frequent: progress) take the fast path, in the loop (a
        method call per event is a tenth of what encoding one costs): their data is the delta,
        their metadata their scope's, already serialised. Any other event: ``event()``."""
        sink, custom_mid, general, append = (
            self._sink, self._custom_mid, self._general_tail, tails.append
        )  # fmt: skip
        for event in batch:
            if event._delta_is_data and event._md is None and event._sink is sink:
                try:  # (``_dumps``, inlined)
                    delta_json = _orjson_dumps(event.data)
                except (TypeError, orjson.JSONEncodeError):
                    delta_json = dumps(event.data)
                # (An unbuilt event has its scope, and the stream numbered it.)
                parts = (delta_json, custom_mid, event._seq, event._scope.metadata_json)  # type: ignore[union-attr]
                append(b"%b%b%d%b}\n\n" % parts)  # type: ignore[str-format]
            else:
                append(general(event))

    def tail(self, event: StreamingEvent) -> bytes:
        """One event's frame without the ``head``."""
        tails: list[bytes] = []
        self._encode([event], tails)
        return tails[0]

    def _general_tail(self, event: StreamingEvent) -> bytes:
        return self.event(event)[len(self._head) :]

    def _mid(self, kind: str) -> bytes:
        """Only for events of the encoder's own stream (``self._sink`` is set)."""
        assert self._sink is not None
        mid = self._mids[kind] = (
            _FINISH["stop" if kind == "error" else None]
            + self._type_field(kind)
            + dumps(self._sink.identity)[:-1]  # ({"run_id":…[,"session_id":…], then seq)
            + b',"seq":'
        )
        return mid

    def _type_field(self, kind: str) -> bytes:
        field = self._types.get(kind)
        if field is None:
            field = self._types[kind] = b',"event_type":' + dumps(kind) + b',"metadata":'
        return field

    def choice(self, choice_data: dict[str, Any]) -> bytes:
        """A frame from a free-form choice (the spec's ``_format_sse_event``)."""
        data = {
            "id": self.chunk_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, **choice_data}],
        }
        return b"data: " + dumps(data) + b"\n\n"


def encode_event(event: StreamingEvent, model: str) -> bytes:
    """One event on its own (``StreamingEvent.to_openai_sse``): it carries its stream's id and
    ``created`` if a stream accepted it, else gets its own."""
    sink = event._sink
    if sink is not None:
        return ChunkEncoder(model, sink.chunk_id, sink.created, sink=sink).event(event)
    return ChunkEncoder(model, f"chatcmpl-{uuid.uuid4().hex}", int(event.timestamp)).event(event)
