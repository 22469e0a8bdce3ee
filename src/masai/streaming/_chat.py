"""OpenAI chat completions behind the one encoder interface: what ``/v1/chat/completions``
streams, so a vanilla OpenAI client sees a plain assistant reply.

``content`` carries exactly the run's final answer (``FinalText``). Agent events are added only
on request (``include_agent_events``), each in a chunk of its own with no choices and an
extension field ``masai_event``, so a vanilla client skips them and an SDK still parses every
chunk. A failure ends the stream with OpenAI's in-stream error shape, which SDKs raise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import _json
from ..events import StreamingEvent
from ._encoding import Encoder, Outcome
from ._reply import FinalText
from .sse import DONE

__all__ = ("ChatEncoder", "chat_usage", "error_body")

_DONE = DONE.encode()


def error_body(outcome: Outcome, debug: bool = False) -> dict[str, Any]:
    """OpenAI's error object for a failed run."""
    return {"message": outcome.message(debug), "type": "server_error", "code": outcome.code}


def chat_usage(outcome: Outcome) -> dict[str, int]:
    """The run's tokens as chat completions count them."""
    usage = outcome.usage
    prompt, completion = usage["input_tokens"], usage["output_tokens"]
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


class ChatEncoder(Encoder):
    """``chat.completion.chunk`` frames for one ``stream: true`` response."""

    def __init__(
        self,
        model: str,
        chunk_id: str,
        created: int,
        *,
        include_usage: bool = False,
        include_agent_events: bool = False,
        debug: bool = False,
    ) -> None:
        super().__init__(debug=debug)
        self.include_usage = include_usage
        self.include_agent_events = include_agent_events
        #: The reply so far.
        self.text = FinalText()
        self._base = {
            "id": chunk_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": None,
        }

    def _frame(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        return b"data: " + _json.dumps({**self._base, "choices": choices, **extra}) + b"\n\n"

    def _delta(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        return self._frame(
            [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        )

    def start(self) -> bytes:
        return self._delta({"role": "assistant", "content": ""})

    def events(self, batch: Sequence[StreamingEvent]) -> bytes:
        out = []
        feed, agent_events = self.text.feed, self.include_agent_events
        for event in batch:
            if agent_events:
                out.append(self._frame([], masai_event=event.to_dict()))
            if piece := feed(event):
                out.append(self._delta({"content": piece}))
        return b"".join(out)

    def end(self, outcome: Outcome) -> bytes:
        if outcome.failed:  # OpenAI's in-stream error shape: SDKs raise it as an API error
            return (
                b"data: "
                + _json.dumps({"error": error_body(outcome, self.debug)})
                + b"\n\n"
                + _DONE
            )
        tail = [self._delta({}, "stop")]
        if self.include_usage:
            tail.append(self._frame([], usage=chat_usage(outcome)))
        return b"".join(tail) + _DONE
