"""``/v1/chat/completions``: a run as a vanilla OpenAI chat completion.

``content`` carries exactly the run's final answer: ``token`` events as they stream, and whatever
part of the final ``answer`` event they did not already carry (a limit notice, a model that did
not stream). Answers that fed another agent (``metadata.intermediate``) are not the user's and
stay out. Agent events are added only on request, each in a chunk of its own with no choices
and an extension field, so a vanilla client skips them and an SDK still parses every chunk.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .. import _json
from .._updates import unwrap_state
from ..events import StreamingEvent
from ..exceptions import MasaiError
from ..models import Message
from ..streaming import EventStream, LogBatch, LogEntry, OnDisconnect, RunRecord
from ..streaming.sse import DONE
from ._runtime import SESSION_ID

__all__ = ("ChatFrames", "ChatRequest", "ChatStreamEncoder", "FinalText", "completion", "usage_of")


class ContentPart(BaseModel):
    """One part of a message's content; only ``text`` parts reach the agents."""

    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = Field(default=None, strict=True)


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text or "" for p in self.content or () if p.type == "text")


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = Field(default=False, strict=True)
    include_agent_events: bool = Field(default=False, strict=True)


_SESSION_ID = re.compile(SESSION_ID)
_ROLES: dict[str, Literal["system", "user", "assistant"]] = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
}


class ChatRequest(BaseModel):
    """The fields masai uses; others (temperature, …) are accepted and ignored: the agents'
    own models decide those.

    The request's ``messages`` are the conversation, as in OpenAI's API (the client owns the
    history): the last one, a user message, is the task and the ones before it are the history
    every agent sees. ``user`` is only OpenAI's end-user tag. ``metadata.session_id`` (a masai
    extension) also records the turn in that server-side session, yours only.
    """

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=10_000)
    stream: bool = Field(default=False, strict=True)
    stream_options: StreamOptions | None = None
    user: str | None = None
    metadata: dict[str, Any] | None = None

    @field_validator("messages")
    @classmethod
    def _ends_with_a_question(cls, messages: list[ChatMessage]) -> list[ChatMessage]:
        last = messages[-1]
        if last.role != "user":
            raise ValueError("the last message must be the user's (the task)")
        if not last.text().strip():
            raise ValueError("the last user message has no text")
        return messages

    @property
    def query(self) -> str:
        return self.messages[-1].text()

    @property
    def history(self) -> list[Message]:
        """The conversation before the task, as the agents' history (tool turns left out)."""
        return [
            Message(_ROLES[m.role], text)
            for m in self.messages[:-1]
            if m.role in _ROLES and (text := m.text())
        ]

    @field_validator("metadata")
    @classmethod
    def _session_id(cls, metadata: dict[str, Any] | None) -> dict[str, Any] | None:
        value = (metadata or {}).get("session_id")
        if value is not None and not (isinstance(value, str) and _SESSION_ID.match(value)):
            raise ValueError("session_id: 1 to 200 printable ASCII characters, no spaces")
        policy = (metadata or {}).get("on_disconnect")
        if policy is not None and policy not in ("cancel", "continue"):
            raise ValueError('on_disconnect: "cancel" or "continue"')
        return metadata

    @property
    def on_disconnect(self) -> OnDisconnect:
        """``metadata.on_disconnect``: ``continue`` keeps the run going after the client
        leaves (resume it at ``/runs/{x-masai-run-id}/events``); default ``cancel``."""
        value = (self.metadata or {}).get("on_disconnect")
        return "continue" if value == "continue" else "cancel"

    @property
    def session_id(self) -> str | None:
        value = (self.metadata or {}).get("session_id")
        return value if isinstance(value, str) else None

    @property
    def options(self) -> StreamOptions:
        return self.stream_options or StreamOptions()


class FinalText:
    """Follows a run's events and says what to add to ``content`` for each."""

    __slots__ = ("_segment", "text")

    def __init__(self) -> None:
        self._segment = ""  # streamed since the last final answer
        self.text = ""

    def feed(self, event: StreamingEvent) -> str:
        if event.metadata.get("intermediate"):
            return ""
        if event.event_type == "token":
            piece = str(event.data.get("content", ""))
            self._segment += piece
        elif event.event_type == "answer":
            answer = str(event.data.get("answer", ""))
            piece = answer[len(self._segment) :] if answer.startswith(self._segment) else ""
            self._segment = ""
        else:
            return ""
        self.text += piece
        return piece


def usage_of(stream: EventStream | None) -> dict[str, int]:
    final: Any = unwrap_state(stream.result) if stream is not None else None
    usage: Any = (final.get("usage") if isinstance(final, dict) else None) or {}
    prompt = int(usage.get("input_tokens", 0))
    completion_tokens = int(usage.get("output_tokens", 0))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt + completion_tokens,
    }


def error_body(error: BaseException | None) -> dict[str, Any]:
    if isinstance(error, MasaiError):
        return {"message": error.public_message, "type": "server_error", "code": error.code}
    return {"message": MasaiError.public_message, "type": "server_error", "code": MasaiError.code}


class ChatStreamEncoder:
    """The ``stream: true`` response, as ``chat.completion.chunk`` frames."""

    def __init__(self, request: ChatRequest, chunk_id: str, created: int) -> None:
        self.options = request.options
        self.text = FinalText()
        self._base = {
            "id": chunk_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": request.model,
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

    def events(self, batch: list[StreamingEvent]) -> bytes:
        out = []
        for event in batch:
            if self.options.include_agent_events:
                out.append(self._frame([], masai_event=event.to_dict()))
            if piece := self.text.feed(event):
                out.append(self._delta({"content": piece}))
        return b"".join(out)

    def finish(self, error: BaseException | None, usage: dict[str, int]) -> bytes:
        if error is not None:
            # OpenAI's in-stream error shape: SDKs raise it as an API error.
            return b"data: " + _json.dumps({"error": error_body(error)}) + b"\n\n" + (DONE.encode())
        tail = [self._delta({}, "stop")]
        if self.options.include_usage:
            tail.append(self._frame([], usage=usage))
        return b"".join(tail) + DONE.encode()


class ReportedError(MasaiError):
    """A run's failure as its log reports it (its ``error`` event): what a viewer knows of a
    run another process executed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.public_message = message


class ChatOutcome:
    """How a run ended, for the OpenAI shapes: from its stream when this process executed it,
    else from its log's terminal entry (no usage: a worker's stream is not here)."""

    def __init__(self, stream: EventStream | None) -> None:
        self.stream = stream
        self.reported: BaseException | None = None

    def read(self, entry: LogEntry) -> StreamingEvent | None:
        """The entry's event, for the text (``None`` for the terminal one, which is noted)."""
        event = entry.event
        if not entry.terminal:
            return event
        if event is not None and event.event_type == "error":
            message = str(event.data.get("error") or MasaiError.public_message)
            self.reported = ReportedError(str(event.data.get("code") or "error"), message)
        return None

    @property
    def error(self) -> BaseException | None:
        return self.stream.error if self.stream is not None else self.reported

    @property
    def usage(self) -> dict[str, int]:
        return usage_of(self.stream)


class ChatFrames:
    """``ChatStreamEncoder`` as a viewer of the run's log (``StreamEncoder``)."""

    def __init__(self, request: ChatRequest, record: RunRecord, stream: EventStream | None) -> None:
        self.chat = ChatStreamEncoder(request, f"chatcmpl-{record.run_id}", record.created)
        self.outcome = ChatOutcome(stream)

    def start(self) -> bytes:
        return self.chat.start()

    def entries(self, batch: LogBatch) -> bytes:
        read = self.outcome.read
        return self.chat.events([e for entry in batch.entries() if (e := read(entry))])

    def finish(self) -> bytes:
        return self.chat.finish(self.outcome.error, self.outcome.usage)


def completion(
    request: ChatRequest, record: RunRecord, content: str, usage: dict[str, int]
) -> dict[str, Any]:
    """The ``stream: false`` response (``session_id`` when the turn was recorded in one)."""
    extra = {"session_id": record.session_id} if record.session_id else {}
    return {
        **extra,
        "id": f"chatcmpl-{record.run_id}",
        "object": "chat.completion",
        "created": record.created,
        "model": request.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": usage,
        "system_fingerprint": None,
    }
