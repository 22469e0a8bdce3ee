"""OpenAI's Responses API behind the one encoder interface: what ``/v1/responses`` streams, so
the official clients (openai-python, openai-node, the AI SDK's ``@ai-sdk/openai``) see a plain
model response.

The stream is OpenAI's: ``response.created`` and ``response.in_progress``, then output items,
each opened (``response.output_item.added``), filled and closed (``…done``), then
``response.completed`` (or ``response.failed``), every event numbered by ``sequence_number``.
Two kinds of item, never others:

- one ``message`` whose ``output_text`` is exactly the run's final answer (``FinalText``);
- ``reasoning`` items whose summary parts are what led there: the agents' reasoning, and the
  answers agents handed on to the next agent (``metadata.intermediate``), streamed as they come.

Tools the agents run are the server's business: they never appear as ``function_call`` items,
which would make a client think it owes their results (the AI SDK would finish with
``tool-calls``). They, and every other agent event, come only on request
(``include_agent_events``), each as a frame of type ``keepalive`` (``AGENT_EVENT``) carrying
the event's ``to_dict()`` in ``masai_event``. Why that type: OpenAI sends ``keepalive`` frames on
long streams, so every official client must pass them over. openai-node's
``responses.stream()`` throws on any other type it does not know, while openai-python hands
unknown types to the caller and the AI SDK drops them; ``keepalive`` is the one type all of them
skip without failing, and an application that wants the events reads ``masai_event``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from .. import _json
from ..events import StreamingEvent
from ._encoding import Encoder, Outcome
from ._reply import FinalText, is_intermediate

if TYPE_CHECKING:
    from ..exceptions import MasaiError
    from ._log import LogBatch

__all__ = ("AGENT_EVENT", "ResponsesEncoder", "response_error", "response_usage")

#: The frame type agent events travel in (see the module's doc).
AGENT_EVENT = "keepalive"

ItemKind = Literal["message", "reasoning"]


def response_usage(outcome: Outcome) -> dict[str, Any]:
    """The run's tokens as the Responses API counts them."""
    usage = outcome.usage
    sent, got = usage["input_tokens"], usage["output_tokens"]
    return {
        "input_tokens": sent,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": got,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": sent + got,
    }


def response_error(outcome: Outcome, debug: bool = False) -> dict[str, Any]:
    """A failed response's ``error``: the public message and the error's code."""
    return {"code": outcome.code, "message": outcome.message(debug)}


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _summary_part(text: str) -> dict[str, Any]:
    return {"type": "summary_text", "text": text}


class _Item:
    """One output item as it is built: the message (one text part) or a reasoning item (one
    summary part per thought; the last one may still be streaming: ``part_open``)."""

    __slots__ = ("id", "index", "kind", "part_open", "parts", "status")

    def __init__(self, kind: ItemKind, item_id: str, index: int) -> None:
        self.kind = kind
        self.id = item_id
        self.index = index
        self.parts: list[str] = []
        self.part_open = False
        self.status = "in_progress"

    def body(self) -> dict[str, Any]:
        if self.kind == "message":
            return {
                "id": self.id,
                "type": "message",
                "status": self.status,
                "role": "assistant",
                "content": [_text_part(text) for text in self.parts],
            }
        summary = [_summary_part(text) for text in self.parts]
        return {"id": self.id, "type": "reasoning", "status": self.status, "summary": summary}

    def where(self) -> dict[str, Any]:
        """The fields that place an event in this item."""
        return {"item_id": self.id, "output_index": self.index}


class ResponsesEncoder(Encoder):
    """Responses API events for one response (``stream: true``); for ``stream: false``, the
    same encoder gathers the response object (``final_response``)."""

    def __init__(
        self,
        response_id: str,
        model: str,
        created_at: int,
        *,
        instructions: str | None = None,
        previous_response_id: str | None = None,
        store: bool = True,
        metadata: dict[str, Any] | None = None,
        include_agent_events: bool = False,
        debug: bool = False,
    ) -> None:
        super().__init__(debug=debug)
        self.response_id = response_id
        self.include_agent_events = include_agent_events
        #: The reply so far.
        self.text = FinalText()
        #: The output items so far, in order.
        self.items: list[_Item] = []
        #: How the response ended (``end`` was called), else ``None``.
        self.ended: Outcome | None = None
        #: The run's end was read from its log: ``outcome`` is the run's, not a default.
        self.run_ended = False
        self._open: _Item | None = None
        self._thought = ""  # an intermediate answer streamed since its last ``answer`` event
        self._seq = 0
        self._suffix = response_id.removeprefix("resp_")
        self._head: dict[str, Any] = {
            "id": response_id,
            "object": "response",
            "created_at": created_at,
            "model": model,
            "background": False,
            "incomplete_details": None,
            "instructions": instructions,
            "max_output_tokens": None,
            "metadata": metadata or {},
            "parallel_tool_calls": True,
            "previous_response_id": previous_response_id,
            "reasoning": {"effort": None, "summary": None},
            "store": store,
            "temperature": None,
            "text": {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": [],
            "top_p": None,
            "truncation": "disabled",
            "user": None,
        }

    # -- the response object --------------------------------------------------------------------
    def snapshot(
        self, status: str, *, usage: dict[str, Any] | None = None, error: Any = None
    ) -> dict[str, Any]:
        """The response object as it stands."""
        output = [item.body() for item in self.items]
        return {**self._head, "status": status, "error": error, "output": output, "usage": usage}

    def result(self, outcome: Outcome) -> dict[str, Any]:
        """The finished response object for ``outcome``."""
        usage = response_usage(outcome)
        if outcome.failed:
            return self.snapshot("failed", usage=usage, error=response_error(outcome, self.debug))
        return self.snapshot("completed", usage=usage)

    def final_response(self) -> dict[str, Any]:
        """The ``stream: false`` body, once the log's end was read: the response completed."""
        outcome = self.outcome
        if self.ended is None:
            self.end(outcome)
        return self.result(outcome)

    # -- the encoder interface ------------------------------------------------------------------
    def start(self) -> bytes:
        snapshot = self.snapshot("in_progress")
        return self._frame("response.created", response=snapshot) + self._frame(
            "response.in_progress", response=snapshot
        )

    def events(self, batch: Sequence[StreamingEvent]) -> bytes:
        out: list[bytes] = []
        for event in batch:
            if self.include_agent_events:
                out.append(self._frame(AGENT_EVENT, masai_event=event.to_dict()))
            self._show(event, out)
        return b"".join(out)

    def end(self, outcome: Outcome) -> bytes:
        out: list[bytes] = []
        if outcome.failed:
            self._close(out, "incomplete")
            out.append(self._frame("response.failed", response=self.result(outcome)))
        else:
            self._close(out)
            if not any(item.kind == "message" for item in self.items):
                self._message(out)  # (an answer with no text is still a message, an empty one)
                self._close(out)
            out.append(self._frame("response.completed", response=self.result(outcome)))
        self.ended = outcome
        return b"".join(out)

    def interrupted(self, error: MasaiError) -> bytes:
        """The stream cannot go on (the backend is down) but the run may: OpenAI's ``error``
        event, not ``response.failed``."""
        return self._frame("error", code=error.code, message=error.public_message, param=None)

    def entries(self, batch: LogBatch) -> bytes:
        frames = super().entries(batch)
        self.run_ended = self.run_ended or batch.terminal
        return frames

    # -- building the items ---------------------------------------------------------------------
    def _frame(self, kind: str, **fields: Any) -> bytes:
        payload = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return b"event: " + kind.encode() + b"\ndata: " + _json.dumps(payload) + b"\n\n"

    def _show(self, event: StreamingEvent, out: list[bytes]) -> None:
        """What ``event`` adds to the output: reply text, or a thought."""
        kind = event.event_type
        if kind == "retracted":
            self._retract(self.text.retract(event.data.get("from_seq")))
            return
        if piece := self.text.feed(event):
            self._say(piece, out)
            return
        if kind == "reasoning":
            if text := str(event.data.get("reasoning") or ""):
                self._think(text, out, whole=True)
        elif kind == "token" and is_intermediate(event):
            piece = str(event.data.get("content") or "")
            self._thought += piece
            if piece:
                self._think(piece, out, whole=False)
        elif kind == "answer" and is_intermediate(event):
            # (Like ``FinalText``: the part of the answer its tokens did not carry.)
            answer, streamed = str(event.data.get("answer") or ""), self._thought
            self._thought = ""
            if rest := answer[len(streamed) :] if answer.startswith(streamed) else "":
                self._think(rest, out, whole=False)
            self._end_part(out)

    def _retract(self, cut: int) -> None:
        """Withdrawn events (an interrupted attempt's) took ``cut`` characters back from the
        reply: so do the ``…done`` events, the response object and the kept conversation
        (deltas already sent stay sent)."""
        for item in reversed([i for i in self.items if i.kind == "message"]):
            kept = max(len(item.parts[0]) - cut, 0)
            cut -= len(item.parts[0]) - kept
            item.parts[0] = item.parts[0][:kept]

    def _begin(self, kind: ItemKind, out: list[bytes]) -> _Item:
        self._close(out)
        index = len(self.items)
        prefix = "msg" if kind == "message" else "rs"
        first = kind == "message" and not any(i.kind == "message" for i in self.items)
        item = _Item(kind, f"{prefix}_{self._suffix}" + ("" if first else f"-{index}"), index)
        self.items.append(item)
        self._open = item
        out.append(self._frame("response.output_item.added", output_index=index, item=item.body()))
        return item

    def _message(self, out: list[bytes]) -> _Item:
        """The open message item (opened, with its text part, if need be)."""
        item = self._open
        if item is not None and item.kind == "message":
            return item
        item = self._begin("message", out)
        item.parts.append("")
        part = _text_part("")
        out.append(
            self._frame("response.content_part.added", **item.where(), content_index=0, part=part)
        )
        return item

    def _say(self, piece: str, out: list[bytes]) -> None:
        item = self._message(out)
        item.parts[0] += piece
        out.append(
            self._frame(
                "response.output_text.delta",
                **item.where(),
                content_index=0,
                delta=piece,
                logprobs=[],
            )
        )

    def _think(self, text: str, out: list[bytes], *, whole: bool) -> None:
        """Add ``text`` to the reasoning: a part of its own (``whole``), or the continuation
        of the part being streamed."""
        item = self._open
        if item is None or item.kind != "reasoning":
            item = self._begin("reasoning", out)
        if whole or not item.part_open:
            self._end_part(out)
            item.parts.append("")
            item.part_open = True
            out.append(
                self._frame(
                    "response.reasoning_summary_part.added",
                    **item.where(),
                    summary_index=len(item.parts) - 1,
                    part=_summary_part(""),
                )
            )
        item.parts[-1] += text
        out.append(
            self._frame(
                "response.reasoning_summary_text.delta",
                **item.where(),
                summary_index=len(item.parts) - 1,
                delta=text,
            )
        )
        if whole:
            self._end_part(out)

    def _end_part(self, out: list[bytes]) -> None:
        item = self._open
        if item is None or item.kind != "reasoning" or not item.part_open:
            return
        item.part_open = False
        index, text = len(item.parts) - 1, item.parts[-1]
        where = item.where()
        out.append(
            self._frame(
                "response.reasoning_summary_text.done", **where, summary_index=index, text=text
            )
        )
        out.append(
            self._frame(
                "response.reasoning_summary_part.done",
                **where,
                summary_index=index,
                part=_summary_part(text),
            )
        )

    def _close(self, out: list[bytes], status: str = "completed") -> None:
        """Close the open item, if any."""
        item = self._open
        if item is None:
            return
        if item.kind == "reasoning":
            self._end_part(out)
        else:
            text, where = item.parts[0], item.where()
            done = {"content_index": 0, **where}
            out.append(self._frame("response.output_text.done", **done, text=text, logprobs=[]))
            out.append(self._frame("response.content_part.done", **done, part=_text_part(text)))
        item.status = status
        self._open = None
        out.append(
            self._frame("response.output_item.done", output_index=item.index, item=item.body())
        )
