"""``/v1/chat/completions``' request, and its ``stream: false`` response.

The stream itself is ``streaming.encoders.ChatEncoder``'s: ``content`` is exactly the run's
final answer, and agent events come only on request.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..models import Message
from ..streaming import OnDisconnect, RunRecord
from ._runtime import SESSION_ID

__all__ = ("ROLES", "ChatRequest", "checked_policy", "completion", "disconnect_policy")


def checked_policy(metadata: dict[str, Any] | None) -> dict[str, Any] | None:
    """``metadata`` of an OpenAI-shaped request, its ``on_disconnect`` (a masai extension)
    checked."""
    policy = (metadata or {}).get("on_disconnect")
    if policy is not None and policy not in ("cancel", "continue"):
        raise ValueError('on_disconnect: "cancel" or "continue"')
    return metadata


def disconnect_policy(metadata: dict[str, Any] | None) -> OnDisconnect:
    """What happens to the run when its client leaves: ``metadata.on_disconnect``, default
    ``cancel``."""
    return "continue" if (metadata or {}).get("on_disconnect") == "continue" else "cancel"


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
#: A client message's role as the agents' history has it (``developer`` is OpenAI's newer
#: ``system``; tool turns are left out).
ROLES: dict[str, Literal["system", "user", "assistant"]] = {
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
            Message(ROLES[m.role], text)
            for m in self.messages[:-1]
            if m.role in ROLES and (text := m.text())
        ]

    @field_validator("metadata")
    @classmethod
    def _session_id(cls, metadata: dict[str, Any] | None) -> dict[str, Any] | None:
        value = (metadata or {}).get("session_id")
        if value is not None and not (isinstance(value, str) and _SESSION_ID.match(value)):
            raise ValueError("session_id: 1 to 200 printable ASCII characters, no spaces")
        return checked_policy(metadata)

    @property
    def on_disconnect(self) -> OnDisconnect:
        """``metadata.on_disconnect``: ``continue`` keeps the run going after the client
        leaves (resume it at ``/runs/{x-masai-run-id}/events``); default ``cancel``."""
        return disconnect_policy(self.metadata)

    @property
    def session_id(self) -> str | None:
        value = (self.metadata or {}).get("session_id")
        return value if isinstance(value, str) else None

    @property
    def options(self) -> StreamOptions:
        return self.stream_options or StreamOptions()


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
