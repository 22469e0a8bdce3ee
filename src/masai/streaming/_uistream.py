"""The Vercel AI SDK's UI message stream behind the one encoder interface: what ``useChat``
(its ``DefaultChatTransport``) reads, so a chat UI built on the SDK shows every step of a run.

One response is one assistant ``UIMessage``: ``start`` (its id and the run's ids as message
metadata), the parts, ``finish``, ``data: [DONE]``. The SDK validates every chunk against its
schema and builds the message from them, so the mapping keeps to what that builder accepts:

- the reply is text parts carrying the run's final answer only (``FinalText``); everything
  else an agent says (its reasoning, answers it handed to another agent) is reasoning parts;
- tool calls are dynamic tool parts marked ``providerExecuted``: the server ran them, so the
  client never thinks it must answer them; a part exists before its output, approval or
  denial arrives (the SDK rejects those for an unknown call);
- progress is a ``data-progress`` part whose id is the tool call's, so each tick replaces the
  last instead of piling up; hand-offs, shared-memory writes, approvals and retractions are
  ``data-*`` parts;
- a step is a stretch of one agent's events (``start-step``/``finish-step``), so a UI can group
  a multi-agent run by agent; a step never splits the reply text.

A failed run ends with ``error`` (the public message), a cancelled one with ``abort``.

A tool call waiting for a person ends the response (``finish``, ``finishReason:
"tool-calls"``) while the run waits on: the SDK lets ``addToolApprovalResponse`` send the
decision only once the response is over. The response that carries the decision (``resume``)
continues the same message: it reads the log silently up to the calls it resumes, so nothing
told before is told again and part ids go on where they stopped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any

from .. import _json
from ..events import StreamingEvent
from ..exceptions import MasaiError
from ._encoding import Encoder, Outcome
from ._openai import arguments_json
from ._reply import FinalText, is_intermediate
from .sse import DONE

if TYPE_CHECKING:
    from ._runstore import RunRecord

__all__ = ("UI_STREAM_HEADER", "UIStreamEncoder")

#: The header by which the SDK knows a response is a UI message stream (protocol v1).
UI_STREAM_HEADER = "x-vercel-ai-ui-message-stream"

_DONE = DONE.encode()

Chunk = dict[str, Any]


@dataclasses.dataclass(slots=True)
class _Open:
    """A reasoning part still being written: an intermediate answer streamed as tokens."""

    part_id: str
    text: str = ""


def _frame(chunk: Chunk) -> bytes:
    return b"data: " + _json.dumps(chunk) + b"\n\n"


def _masai(event: StreamingEvent, **extra: Any) -> dict[str, dict[str, Any]]:
    """Where a part came from, as the SDK's ``providerMetadata`` (``masai`` namespace): a UI
    can label reasoning and tools by agent in a multi-agent run."""
    md = event.metadata
    found = {key: md.get(key) for key in ("agent", "agent_path", "node", "seq")}
    return {"masai": {k: v for k, v in {**found, **extra}.items() if v is not None}}


class UIStreamEncoder(Encoder):
    """UI message stream chunks for one response.

    ``message_id`` is the assistant message's id (the route derives it from the run id, so a
    resumed view of the run rebuilds the same message); ``metadata`` goes out on ``start`` as
    the message's metadata (the run's id: what a decision on its tool calls names).
    ``resume``: the tool call ids whose decision this response carries; what the log holds up
    to their approval requests was told by an earlier response and is read silently.
    """

    def __init__(
        self,
        message_id: str,
        *,
        metadata: dict[str, Any] | None = None,
        resume: Collection[str] = (),
        debug: bool = False,
    ) -> None:
        super().__init__(debug=debug)
        self.message_id = message_id
        self.metadata = metadata
        #: The reply so far.
        self.text = FinalText()
        self._step_agent: str | None = None
        self._in_step = False
        self._text_id: str | None = None
        self._texts = 0
        self._thinking: dict[str, _Open] = {}  # agent -> its intermediate answer, streaming
        self._tools: dict[str, str] = {}  # tool call id -> tool name, once announced
        self._denied: set[str] = set()
        #: Calls that asked for approval and are not decided, as far as the log was read.
        self._asking: set[str] = set()
        self._resuming = set(resume)
        self._silent = bool(self._resuming)
        self._unnumbered = 0
        self._handlers: dict[str, Callable[[StreamingEvent], list[Chunk]]] = {
            "token": self._token,
            "answer": self._answer,
            "reasoning": self._reasoning,
            "tool_call": self._tool_call,
            "tool_output": self._tool_output,
            "custom": self._custom,
            "handoff": self._handoff,
            "memory_update": self._memory,
            "approval_required": self._approval_required,
            "approval": self._approval,
            "retracted": self._retracted,
        }

    @classmethod
    def of_record(
        cls, record: RunRecord, *, resume: Collection[str] = (), debug: bool = False
    ) -> UIStreamEncoder:
        """For a response showing ``record``'s run (started here, resumed, or continued after
        the decisions on the calls ``resume`` names)."""
        metadata = {
            "run_id": record.run_id,
            "session_id": record.session_id,
            "target": record.target,
        }
        return cls(f"msg-{record.run_id}", metadata=metadata, resume=resume, debug=debug)

    def headers(self) -> dict[str, str]:
        return {**super().headers(), UI_STREAM_HEADER: "v1"}

    # -- the encoder interface -----------------------------------------------------------------
    def start(self) -> bytes:
        chunk: Chunk = {"type": "start", "messageId": self.message_id}
        if self.metadata is not None:
            chunk["messageMetadata"] = self.metadata
        return _frame(chunk)

    def events(self, batch: Sequence[StreamingEvent]) -> bytes:
        out: list[Chunk] = []
        for event in batch:
            if self.done:
                break  # (what follows is told by the response that carries the decision)
            handler = self._handlers.get(event.event_type)
            if handler is None:  # (state, node transitions, usage, a mid-run notice: no parts)
                continue
            chunks = self._enter(event) + handler(event)
            if not self._silent:
                out += chunks
            elif event.event_type == "approval_required":
                self._resuming.discard(self._call_id(event, dict(event.data.get("approval") or {})))
                if not self._resuming:
                    self._catch_up()
        if self._asking and not self._silent and not self.done:
            return b"".join(_frame(chunk) for chunk in out + self._pause()) + _DONE
        return b"".join(_frame(chunk) for chunk in out)

    def _catch_up(self) -> None:
        """The log is read to where the earlier response paused: from here on it is new. That
        response closed its step there, so this one opens a step of its own."""
        self._silent = False
        self._close_step()

    def _pause(self) -> list[Chunk]:
        """The run waits for a person: this response is over (the run is not; ``done``)."""
        self.done = True
        return [*self._close_step(), {"type": "finish", "finishReason": "tool-calls"}]

    def end(self, outcome: Outcome) -> bytes:
        if self.done:
            return b""
        if self._silent:  # (the run ended before the resumed calls showed: nothing is open)
            self._catch_up()
        chunks = self._close_step()
        if not outcome.failed:
            finish: Chunk = {"type": "finish", "finishReason": "stop"}
            if outcome.result is not None:  # (known only where the run executed)
                finish["messageMetadata"] = {"usage": outcome.usage}
            chunks.append(finish)
        elif outcome.code == "cancelled":  # stopped on purpose: the SDK's abort, not a failure
            chunks.append({"type": "abort", "reason": outcome.message(self.debug)})
        else:
            chunks.append({"type": "error", "errorText": outcome.message(self.debug)})
            chunks.append({"type": "finish", "finishReason": "error"})
        return b"".join(_frame(chunk) for chunk in chunks) + _DONE

    def interrupted(self, error: MasaiError) -> bytes:
        """The backend is down mid-stream: the SDK's ``error`` (the run may go on, so no
        ``finish`` and no ``[DONE]``: the client may resume it)."""
        chunks = self._close_step()
        chunks.append({"type": "error", "errorText": Outcome(error).message(self.debug)})
        return b"".join(_frame(chunk) for chunk in chunks)

    def _id(self, prefix: str, event: StreamingEvent) -> str:
        """A part id unique in the message: from the event's ``seq`` (so it names the event
        in the run's log), or a counter for an event no stream numbered."""
        seq = event.metadata.get("seq")
        if seq is None:
            self._unnumbered += 1
            seq = f"n{self._unnumbered}"
        return f"{prefix}-{seq}"

    # -- steps and open parts ------------------------------------------------------------------
    def _enter(self, event: StreamingEvent) -> list[Chunk]:
        """A step per stretch of one agent's events; never while the reply text is open (the
        SDK forgets open text parts at a step's end, and the reply is one part)."""
        agent = event.metadata.get("agent")
        if not self._in_step:
            self._in_step, self._step_agent = True, agent
            return [{"type": "start-step"}]
        if agent is None or agent == self._step_agent or self._text_id is not None:
            return []
        chunks = self._close_step()
        self._in_step, self._step_agent = True, agent
        chunks.append({"type": "start-step"})
        return chunks

    def _close_step(self) -> list[Chunk]:
        chunks = self._close_text()
        for agent in list(self._thinking):
            chunks += self._close_thinking(agent)
        if self._in_step:
            chunks.append({"type": "finish-step"})
            self._in_step = False
        return chunks

    def _close_text(self) -> list[Chunk]:
        part_id, self._text_id = self._text_id, None
        return [] if part_id is None else [{"type": "text-end", "id": part_id}]

    def _close_thinking(self, agent: str) -> list[Chunk]:
        open_part = self._thinking.pop(agent, None)
        return [] if open_part is None else [{"type": "reasoning-end", "id": open_part.part_id}]

    # -- the reply and what agents think ---------------------------------------------------------
    def _reply(self, event: StreamingEvent) -> list[Chunk]:
        piece = self.text.feed(event)
        if not piece:
            return []
        chunks: list[Chunk] = []
        if self._text_id is None:
            self._texts += 1
            self._text_id = f"text-{self._texts}"
            start = {"type": "text-start", "id": self._text_id}
            chunks.append({**start, "providerMetadata": _masai(event)})
        chunks.append({"type": "text-delta", "id": self._text_id, "delta": piece})
        return chunks

    def _token(self, event: StreamingEvent) -> list[Chunk]:
        if not is_intermediate(event):
            return self._reply(event)
        piece = str(event.data.get("content", ""))
        agent = str(event.metadata.get("agent") or "")
        chunks: list[Chunk] = []
        open_part = self._thinking.get(agent)
        if open_part is None:
            open_part = self._thinking[agent] = _Open(self._id("answer", event))
            meta = _masai(event, intermediate=True)
            chunks.append(
                {"type": "reasoning-start", "id": open_part.part_id, "providerMetadata": meta}
            )
        open_part.text += piece
        if piece:
            chunks.append({"type": "reasoning-delta", "id": open_part.part_id, "delta": piece})
        return chunks

    def _answer(self, event: StreamingEvent) -> list[Chunk]:
        """A final answer completes the reply text; an intermediate one (handed to another
        agent) completes that agent's reasoning part, streamed or not."""
        if not is_intermediate(event):
            return self._reply(event) + self._close_text()
        answer = str(event.data.get("answer", ""))
        agent = str(event.metadata.get("agent") or "")
        open_part = self._thinking.get(agent)
        if open_part is None:
            if not answer:
                return []
            return self._whole_reasoning(
                event, self._id("answer", event), answer, intermediate=True
            )
        rest = answer[len(open_part.text) :] if answer.startswith(open_part.text) else ""
        chunks = (
            [{"type": "reasoning-delta", "id": open_part.part_id, "delta": rest}] if rest else []
        )
        return chunks + self._close_thinking(agent)

    def _reasoning(self, event: StreamingEvent) -> list[Chunk]:
        text = str(event.data.get("reasoning", ""))
        return self._whole_reasoning(event, self._id("reasoning", event), text) if text else []

    @staticmethod
    def _whole_reasoning(
        event: StreamingEvent, part_id: str, text: str, **extra: Any
    ) -> list[Chunk]:
        return [
            {"type": "reasoning-start", "id": part_id, "providerMetadata": _masai(event, **extra)},
            {"type": "reasoning-delta", "id": part_id, "delta": text},
            {"type": "reasoning-end", "id": part_id},
        ]

    # -- tools -----------------------------------------------------------------------------------
    def _call_id(self, event: StreamingEvent, data: dict[str, Any] | None = None) -> str:
        call_id = (data or {}).get("tool_call_id") or event.metadata.get("tool_call_id")
        return str(call_id) if call_id else self._id("call", event)

    def _announce(self, event: StreamingEvent, call_id: str, name: str, args: Any) -> list[Chunk]:
        """A tool part in state ``input-available``: start, the input as one delta (masai
        knows a call's input whole), then the input itself."""
        self._tools[call_id] = name
        tool = {"toolCallId": call_id, "toolName": name, "dynamic": True, "providerExecuted": True}
        meta = _masai(event, tool_name=name)
        return [
            {"type": "tool-input-start", **tool, "providerMetadata": meta},
            {
                "type": "tool-input-delta",
                "toolCallId": call_id,
                "inputTextDelta": arguments_json(args),
            },
            {"type": "tool-input-available", **tool, "input": args, "providerMetadata": meta},
        ]

    def _known(self, event: StreamingEvent, call_id: str, name: str, args: Any) -> list[Chunk]:
        """The SDK drops a stream that mentions a call it has no part for: announce it."""
        return [] if call_id in self._tools else self._announce(event, call_id, name, args)

    def _tool_call(self, event: StreamingEvent) -> list[Chunk]:
        data = event.data
        name = str(data.get("tool_name") or "tool")
        return self._announce(event, self._call_id(event), name, data.get("tool_input"))

    def _tool_output(self, event: StreamingEvent) -> list[Chunk]:
        data = event.data
        call_id = self._call_id(event)
        if call_id in self._denied:  # (the refusal: the part already says output-denied)
            return []
        chunks = self._known(event, call_id, str(data.get("tool_name") or "tool"), None)
        output = str(data.get("output", ""))
        done: Chunk = {"toolCallId": call_id, "dynamic": True, "providerExecuted": True}
        if data.get("is_error"):
            return [*chunks, {"type": "tool-output-error", **done, "errorText": output}]
        extra = {k: event.metadata[k] for k in ("truncated", "output_chars") if k in event.metadata}
        if extra:
            done["providerMetadata"] = {"masai": extra}
        return [*chunks, {"type": "tool-output-available", **done, "output": output}]

    def _approval_required(self, event: StreamingEvent) -> list[Chunk]:
        approval = dict(event.data.get("approval") or {})
        call_id = self._call_id(event, approval)
        name = str(approval.get("tool_name") or "tool")
        if call_id not in self._resuming:  # (a resumed call is decided: its answer follows)
            self._asking.add(call_id)
        chunks = self._known(event, call_id, name, approval.get("arguments"))
        chunks.append(
            {"type": "tool-approval-request", "approvalId": call_id, "toolCallId": call_id}
        )
        pending = {
            "tool_call_id": call_id,
            "tool_name": name,
            "arguments": approval.get("arguments"),
            "status": "pending",
            "run_id": event.metadata.get("run_id"),
        }
        return [*chunks, {"type": "data-approval", "id": call_id, "data": pending}]

    def _approval(self, event: StreamingEvent) -> list[Chunk]:
        approval = dict(event.data.get("approval") or {})
        call_id = self._call_id(event, approval)
        self._asking.discard(call_id)
        approved = bool(approval.get("approved"))
        decided = {
            **approval,
            "tool_call_id": call_id,
            "status": "approved" if approved else "denied",
            "run_id": event.metadata.get("run_id"),
        }
        chunks: list[Chunk] = [{"type": "data-approval", "id": call_id, "data": decided}]
        if not approved and call_id in self._tools:
            self._denied.add(call_id)
            chunks.append({"type": "tool-output-denied", "toolCallId": call_id})
        return chunks

    # -- data parts ------------------------------------------------------------------------------
    def _custom(self, event: StreamingEvent) -> list[Chunk]:
        """Progress: one part per tool call (or per agent, outside a tool), replaced by each
        tick, so the message holds the latest state of each."""
        custom = event.data.get("custom_data")
        extra = dict(custom) if isinstance(custom, dict) else {}
        call_id = event.metadata.get("tool_call_id")
        agent = event.metadata.get("agent")
        data = {  # (the event's own custom data wins, as everywhere else it is shown)
            "tool_call_id": call_id,
            "tool_name": self._tools.get(str(call_id)) if call_id else None,
            "agent": agent,
            "content": str(event.data.get("content", "")),
            "progress": extra.get("progress"),
            **extra,
        }
        part_id = str(call_id) if call_id else f"agent:{agent}" if agent else "run"
        return [{"type": "data-progress", "id": part_id, "data": data}]

    def _handoff(self, event: StreamingEvent) -> list[Chunk]:
        data = event.data
        handoff = {k: data.get(k) for k in ("from_agent", "to_agent", "reason")}
        return [{"type": "data-handoff", "id": self._id("handoff", event), "data": handoff}]

    def _memory(self, event: StreamingEvent) -> list[Chunk]:
        """One part per key, replaced by each write: the message shows the memory's state."""
        data = event.data
        memory = {k: data.get(k) for k in ("key", "value", "agent")}
        return [{"type": "data-memory", "id": f"memory:{data.get('key')}", "data": memory}]

    def _retracted(self, event: StreamingEvent) -> list[Chunk]:
        span = {k: event.data.get(k) for k in ("from_seq", "to_seq")}
        return [{"type": "data-retracted", "id": self._id("retracted", event), "data": span}]
