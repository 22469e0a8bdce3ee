"""AG-UI (protocol 1.0) behind the one encoder interface: what ``POST /ag-ui/{id}`` streams.

A run becomes ``RUN_STARTED`` … ``RUN_FINISHED`` (or ``RUN_ERROR``), every frame a
``data: {json}`` SSE message that ``@ag-ui/client``'s validators and verifier accept:

- the reply is one assistant ``TEXT_MESSAGE_*`` carrying exactly the run's final answer
  (``FinalText``); reasoning and answers an agent handed on are ``REASONING_*`` messages;
- masai's tool calls are ``TOOL_CALL_*`` with masai's own tool call ids;
- the agents are ``STEP_*`` (an agent, and the node it is in), and an agent working inside
  another (``metadata.agent_path``: a hand-off, a supervisor's delegate) is a subagent
  (``SUBAGENT_*``, its events tagged with its ``subagentRunId``);
- shared memory is the AG-UI state: a snapshot at its first write, JSON Patch deltas after;
- a tool call waiting for approval ends the response with the protocol's interrupt (the masai
  run itself waits on); the response that resumes it replays the log silently up to that
  point, so everything after it is told once, in the same shapes and with the same ids;
- progress and everything else is ``CUSTOM`` (``masai.progress``, ``masai.handoff``, …).

Ids are derived from the masai run and the events' ``seq``, so a replay names things as the
first telling did. Optional fields are left out rather than sent as ``null``: the protocol's
schemas reject a null where a field may be absent.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any, Final

from .. import _json
from ..events import StreamingEvent
from ._encoding import Encoder, Outcome
from ._openai import arguments_json
from ._reply import FinalText, is_intermediate

__all__ = ("APPROVAL_SCHEMA", "PROTOCOL_VERSION", "AgUiEncoder", "interrupt_id")

#: The AG-UI version these frames follow.
PROTOCOL_VERSION: Final = "1.0"

#: What a resume entry's ``payload`` holds for an approval (the spec's approve-with-edits).
APPROVAL_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "approved": {"type": "boolean"},
        "reason": {"type": "string", "description": "Why; the model reads it when denied."},
        "editedArgs": {
            "type": "object",
            "description": "Run the call with these arguments instead (a full replacement).",
        },
    },
    "required": ["approved"],
}

#: masai events that become a ``CUSTOM`` event, and its name.
_CUSTOM: Final[dict[str, str]] = {
    "custom": "masai.progress",
    "handoff": "masai.handoff",
    "approval": "masai.approval",
    "retracted": "masai.retracted",
    "error": "masai.error",
    "state": "masai.state",
}

#: Seconds an approval may wait, by (agent, tool name): for the interrupt's ``expiresAt``.
ApprovalWindow = Callable[[str | None, str], float | None]


def interrupt_id(run_id: str, tool_call_id: str) -> str:
    """The interrupt for a tool call waiting in a run (a run id never holds a ``/``)."""
    return f"{run_id}/{tool_call_id}"


def _pointer(key: str) -> str:
    """A top-level JSON Pointer (RFC 6901) to ``key``."""
    return "/" + key.replace("~", "~0").replace("/", "~1")


def _iso(seconds: float) -> str:
    moment = _dt.datetime.fromtimestamp(seconds, tz=_dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Level:
    """One agent on the current path: the root (untagged) or a subagent invocation."""

    __slots__ = ("agent", "node", "sub")

    def __init__(self, agent: str, sub: str | None) -> None:
        self.agent = agent
        self.sub = sub
        self.node: str | None = None


class _Stream:
    """An open message being streamed (the reply, or a handed-on answer as reasoning)."""

    __slots__ = ("id", "owner", "text")

    def __init__(self, message_id: str, owner: str | None) -> None:
        self.id = message_id
        self.owner = owner
        self.text = ""


class AgUiEncoder(Encoder):
    """AG-UI frames for one response. ``thread_id``/``run_id`` are the client's; ``source``
    is the masai run's id (ids and interrupts are made from it). ``resume``: the tool call ids
    this response resumes: the log is read silently until each has asked for approval.
    ``approval_timeout`` gives the interrupts' ``expiresAt``."""

    def __init__(
        self,
        thread_id: str,
        run_id: str,
        *,
        source: str | None = None,
        resume: Collection[str] = (),
        approval_timeout: ApprovalWindow | None = None,
        debug: bool = False,
    ) -> None:
        super().__init__(debug=debug)
        self.thread_id = thread_id
        self.run_id = run_id
        self.source = source or run_id
        self._told_source = source is not None
        self.approval_timeout = approval_timeout
        #: The reply so far.
        self.text = FinalText()
        #: The response ended with an interrupt: nothing more is to be written.
        self.paused = False
        self._waiting_for = set(resume)
        self._silent = bool(self._waiting_for)
        self._levels: list[_Level] = []
        self._reply: _Stream | None = None
        self._handed_on: _Stream | None = None
        self._memory: dict[str, Any] = {}
        self._state_told = False
        self._out: list[bytes] = []

    # -- frames --------------------------------------------------------------------------------
    def _emit(self, kind: str, at: float | None = None, **fields: Any) -> None:
        if self._silent:
            return
        frame: dict[str, Any] = {"type": kind, "timestamp": int((at or time.time()) * 1000)}
        frame.update((k, v) for k, v in fields.items() if v is not None)
        self._out.append(b"data: " + _json.dumps(frame) + b"\n\n")

    def _flush(self) -> bytes:
        out, self._out = self._out, []
        return b"".join(out)

    def _id(self, kind: str, event: StreamingEvent) -> str:
        return f"{self.source}-{kind}{event.metadata.get('seq')}"

    # -- the encoder interface -----------------------------------------------------------------
    def start(self) -> bytes:
        silent, self._silent = self._silent, False
        self._emit(
            "RUN_STARTED",
            threadId=self.thread_id,
            runId=self.run_id,
            protocolVersion=PROTOCOL_VERSION,
            metadata={"masai": {"run_id": self.source}} if self._told_source else None,
        )
        self._silent = silent
        return self._flush()

    def events(self, batch: Sequence[StreamingEvent]) -> bytes:
        for event in batch:
            if self.paused:
                break  # (what follows is told by the response that resumes the run)
            self._event(event)
        return self._flush()

    def end(self, outcome: Outcome) -> bytes:
        if self.paused:
            return b""
        if self._silent:  # (the log ended before the resumed call showed: nothing was opened)
            self._silent, self._levels, self._reply, self._handed_on = False, [], None, None
        if outcome.failed and outcome.code != "cancelled":
            self._emit("RUN_ERROR", message=outcome.message(self.debug), code=outcome.code)
            return self._flush()
        self._close_streams()
        while self._levels:
            self._close_level({"type": "success"})
        if outcome.failed:  # stopped from outside: the protocol's cancelled outcome
            self._finished({"type": "cancelled"})
        else:
            usage = outcome.usage
            spent, made = usage["input_tokens"], usage["output_tokens"]
            tokens = {"inputTokens": spent, "outputTokens": made, "totalTokens": spent + made}
            known = [tokens] if spent or made else None  # (unknown is absent, not zeros)
            self._finished({"type": "success"}, result=self.text.text, usage=known)
        return self._flush()

    def _finished(self, outcome: dict[str, Any], **fields: Any) -> None:
        self._emit(
            "RUN_FINISHED", threadId=self.thread_id, runId=self.run_id, outcome=outcome, **fields
        )

    # -- one event -----------------------------------------------------------------------------
    def _event(self, event: StreamingEvent) -> None:
        kind, data, at = event.event_type, event.data, event.timestamp
        if kind == "usage":  # (AG-UI's usage is the run's, in ``RUN_FINISHED``)
            return
        if kind == "approval_required":
            self._approval_required(event)
            return
        owner = self._enter(event)
        if kind in ("token", "answer"):
            self._answer(event, owner)
        elif kind == "reasoning":
            if text := str(data.get("reasoning") or ""):
                self._reasoning(self._id("r", event), owner, text, at)
        elif kind == "tool_call":
            self._tool_call(event, owner)
        elif kind == "tool_output":
            self._emit(
                "TOOL_CALL_RESULT",
                at,
                subagentRunId=owner,
                messageId=self._id("t", event),
                toolCallId=event.metadata.get("tool_call_id") or self._id("c", event),
                content=str(data.get("output", "")),
                role="tool",
                metadata={"masai": {"is_error": True}} if data.get("is_error") else None,
            )
        elif kind == "memory_update":
            self._memory_update(event, owner)
        elif kind != "node_transition":  # (nodes are steps already)
            value = dict(data.get("approval") or {}) if kind == "approval" else dict(data)
            if call := event.metadata.get("tool_call_id"):
                value.setdefault("tool_call_id", call)
            name = _CUSTOM.get(kind, f"masai.{kind}")
            self._emit("CUSTOM", at, subagentRunId=owner, name=name, value=value)

    def _answer(self, event: StreamingEvent, owner: str | None) -> None:
        """Tokens and answers: the run's final answer is the reply; the rest is reasoning."""
        final = event.event_type == "answer"
        if is_intermediate(event):
            self._handed_on_answer(event, owner, final)
            return
        piece = self.text.feed(event)
        reply = self._reply
        if piece and reply is None:
            reply = self._reply = _Stream(f"{self.source}-reply", None)
            self._emit("TEXT_MESSAGE_START", event.timestamp, messageId=reply.id, role="assistant")
        if piece and reply is not None:
            self._emit("TEXT_MESSAGE_CONTENT", event.timestamp, messageId=reply.id, delta=piece)
        if final and reply is not None:
            self._emit("TEXT_MESSAGE_END", event.timestamp, messageId=reply.id)
            self._reply = None  # (more final text later reopens the same message)

    def _handed_on_answer(self, event: StreamingEvent, owner: str | None, final: bool) -> None:
        stream, at = self._handed_on, event.timestamp
        if stream is not None and stream.owner != owner:
            self._close_reasoning(stream.id, owner=stream.owner)
            stream = None
        if final:
            answer = str(event.data.get("answer", ""))
            seen = stream.text if stream is not None else ""
            piece = answer[len(seen) :] if answer.startswith(seen) else ""
        else:
            piece = str(event.data.get("content", ""))
        if stream is None and piece:
            stream = _Stream(self._id("a", event), owner)
            self._open_reasoning(stream.id, owner, at)
        if stream is not None and piece:
            stream.text += piece
            self._emit(
                "REASONING_MESSAGE_CONTENT",
                at,
                subagentRunId=owner,
                messageId=stream.id,
                delta=piece,
            )
        if final and stream is not None:
            self._close_reasoning(stream.id, owner, at)
            stream = None
        self._handed_on = stream

    def _open_reasoning(self, message_id: str, owner: str | None, at: float | None) -> None:
        self._emit("REASONING_START", at, subagentRunId=owner, messageId=message_id)
        self._emit(
            "REASONING_MESSAGE_START",
            at,
            subagentRunId=owner,
            messageId=message_id,
            role="reasoning",
        )

    def _close_reasoning(self, message_id: str, owner: str | None, at: float | None = None) -> None:
        self._emit("REASONING_MESSAGE_END", at, subagentRunId=owner, messageId=message_id)
        self._emit("REASONING_END", at, subagentRunId=owner, messageId=message_id)

    def _reasoning(self, message_id: str, owner: str | None, text: str, at: float) -> None:
        self._open_reasoning(message_id, owner, at)
        self._emit(
            "REASONING_MESSAGE_CONTENT", at, subagentRunId=owner, messageId=message_id, delta=text
        )
        self._close_reasoning(message_id, owner, at)

    def _tool_call(self, event: StreamingEvent, owner: str | None) -> None:
        data, at = event.data, event.timestamp
        call = event.metadata.get("tool_call_id") or self._id("c", event)
        args = arguments_json(data.get("tool_input"))
        name = str(data.get("tool_name") or "")
        self._emit("TOOL_CALL_START", at, subagentRunId=owner, toolCallId=call, toolCallName=name)
        self._emit("TOOL_CALL_ARGS", at, subagentRunId=owner, toolCallId=call, delta=args)
        self._emit("TOOL_CALL_END", at, subagentRunId=owner, toolCallId=call)

    def _memory_update(self, event: StreamingEvent, owner: str | None) -> None:
        key, value = str(event.data.get("key", "")), event.data.get("value")
        known = key in self._memory
        self._memory[key] = value
        if not self._state_told:  # the state starts as the run's shared memory: empty
            self._state_told = True
            self._emit(
                "STATE_SNAPSHOT", event.timestamp, subagentRunId=owner, snapshot=dict(self._memory)
            )
            return
        op = {"op": "replace" if known else "add", "path": _pointer(key), "value": value}
        self._emit("STATE_DELTA", event.timestamp, subagentRunId=owner, delta=[op])

    # -- approvals: the protocol's interrupts --------------------------------------------------
    def _approval_required(self, event: StreamingEvent) -> None:
        approval = event.data.get("approval") or {}
        call = str(approval.get("tool_call_id") or event.metadata.get("tool_call_id") or "")
        owner = self._enter(event)
        if self._silent:  # replaying what an earlier response told: it paused here
            self._suspend(None)
            self._waiting_for.discard(call)
            if not self._waiting_for:  # caught up: say where the run is, then go on
                self._silent = False
                self._reopen()
            return
        self._suspend(call)
        if self._state_told:  # the state the run stands on, at the boundary
            self._emit("STATE_SNAPSHOT", subagentRunId=owner, snapshot=dict(self._memory))
        self._finished({"type": "interrupt", "interrupts": [self._interrupt(event, call, owner)]})
        self.paused = self.done = True

    def _interrupt(self, event: StreamingEvent, call: str, owner: str | None) -> dict[str, Any]:
        approval = event.data.get("approval") or {}
        tool = str(approval.get("tool_name") or event.metadata.get("tool_name") or "")
        arguments = approval.get("arguments")
        interrupt: dict[str, Any] = {
            "id": interrupt_id(self.source, call),
            "reason": "tool_call",
            "message": f"Approve {tool} with {_json.dumps_str(arguments)}?",
            "toolCallId": call,
            "responseSchema": APPROVAL_SCHEMA,
            "metadata": {
                "masai": {"run_id": self.source, "tool_name": tool, "arguments": arguments}
            },
        }
        if owner is not None:
            interrupt["subagentRunId"] = owner
        if self.approval_timeout is not None:
            timeout = self.approval_timeout(event.metadata.get("agent"), tool)
            if timeout is not None:
                interrupt["expiresAt"] = _iso(event.timestamp + timeout)
        return interrupt

    def _suspend(self, call: str | None) -> None:
        """Close what is open, for the end of a response that pauses; the levels stay known
        (``_reopen`` tells them again)."""
        self._close_streams()
        outcome: dict[str, Any] = {"type": "suspended"}
        if call is not None:
            outcome["interruptIds"] = [interrupt_id(self.source, call)]
        for level in reversed(self._levels):
            self._announce_close(level, outcome)

    def _reopen(self) -> None:
        parent: str | None = None
        for level in self._levels:
            self._announce_open(level, parent)
            if level.node is not None:
                self._emit("STEP_STARTED", subagentRunId=level.sub, stepName=level.node)
            parent = level.sub or parent

    def _close_streams(self) -> None:
        if self._reply is not None:
            self._emit("TEXT_MESSAGE_END", messageId=self._reply.id)
            self._reply = None
        if self._handed_on is not None:
            self._close_reasoning(self._handed_on.id, self._handed_on.owner)
            self._handed_on = None

    # -- where an event happens: subagents and steps -------------------------------------------
    def _enter(self, event: StreamingEvent) -> str | None:
        """Follow the event's agent path (closing and opening subagents and steps as it
        changes); the ``subagentRunId`` its frames carry."""
        metadata = event.metadata
        agent = metadata.get("agent")
        if not agent:
            return None  # the run's own (a system's), not an agent's
        path = [str(a) for a in metadata.get("agent_path") or ()]
        if not path or path[-1] != agent:
            path.append(str(agent))
        levels = self._levels
        same = 0
        while same < min(len(levels), len(path)) and levels[same].agent == path[same]:
            same += 1
        while len(levels) > same:
            self._close_level({"type": "success"})
        for depth in range(same, len(path)):
            sub = f"{self.source}-s{metadata.get('seq')}.{depth}" if depth else None
            parent = next((lv.sub for lv in reversed(levels) if lv.sub), None)
            levels.append(_Level(path[depth], sub))
            self._announce_open(levels[-1], parent)
        level = levels[-1]
        node = metadata.get("node")
        node = str(node) if node and node != level.agent else None
        if node != level.node:
            if level.node is not None:
                self._emit("STEP_FINISHED", subagentRunId=level.sub, stepName=level.node)
            if node is not None:
                self._emit("STEP_STARTED", subagentRunId=level.sub, stepName=node)
            level.node = node
        return level.sub

    def _announce_open(self, level: _Level, parent: str | None) -> None:
        if level.sub is not None:
            self._emit(
                "SUBAGENT_STARTED",
                subagentRunId=level.sub,
                name=level.agent,
                parentSubagentRunId=parent,
            )
        self._emit("STEP_STARTED", subagentRunId=level.sub, stepName=level.agent)

    def _announce_close(self, level: _Level, outcome: dict[str, Any]) -> None:
        if level.node is not None:
            self._emit("STEP_FINISHED", subagentRunId=level.sub, stepName=level.node)
        self._emit("STEP_FINISHED", subagentRunId=level.sub, stepName=level.agent)
        if level.sub is not None:
            self._emit("SUBAGENT_FINISHED", subagentRunId=level.sub, outcome=outcome)

    def _close_level(self, outcome: dict[str, Any]) -> None:
        level = self._levels.pop()
        if self._handed_on is not None and self._handed_on.owner == level.sub:
            self._close_reasoning(self._handed_on.id, level.sub)
            self._handed_on = None
        self._announce_close(level, outcome)
