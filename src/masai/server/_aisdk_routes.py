"""``/ai-sdk/{id}``: an agent or a system (any id of ``/v1/models``) as the endpoint of the
Vercel AI SDK's ``useChat``, streamed in the SDK's UI message stream protocol.

``POST /ai-sdk/{id}`` takes the body ``DefaultChatTransport`` sends: the chat's ``id``, its
``messages`` (UI messages made of ``parts``), ``trigger`` and ``messageId``, plus whatever
extra fields the app adds (ignored, except ``on_disconnect``). The last message, the user's,
is the task; the text of the messages before it is the history. The chat's ``id`` is the
run's session (yours only): a client that sends only the new message (the SDK's "send only the
last message" pattern) gets the conversation the server kept for that chat.

``GET /ai-sdk/{id}/{chat_id}/stream`` is where the SDK's ``resumeStream`` (``useChat({resume:
true})``) reconnects: the chat's newest run, replayed from its start and then live, or
``204`` when it has ended. Start runs with ``on_disconnect: "continue"`` for them to outlive
a reload.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.responses import Response

from ..models import Message
from ..streaming import EnhancedStreamHandler, OnDisconnect
from ..streaming.encoders import UI_STREAM_HEADER, UIStreamEncoder
from ._errors import ERROR_RESPONSES
from ._gate import principal_of
from ._routes import respond, runtime_of, view
from ._runtime import SESSION_ID

__all__ = ("UIChatRequest", "router")

router = APIRouter()

_STREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-Sent Events of the AI SDK's UI message stream (protocol v1, "
        f"header `{UI_STREAM_HEADER}: v1`): `data: {{chunk}}` frames, then `data: [DONE]`",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    **ERROR_RESPONSES,
}

_SESSION_ID = re.compile(SESSION_ID)

#: ``{id}``: an agent or a system, as ``/v1/models`` lists them.
TargetId = Annotated[str, Path(alias="id", min_length=1, max_length=200)]


class UIPart(BaseModel):
    """One part of a UI message; only ``text`` parts reach the agents (reasoning, tools,
    files and data parts are the UI's)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(min_length=1, max_length=200)
    text: str | None = Field(default=None, strict=True)


class UIMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str | None = Field(default=None, strict=True)
    role: Literal["system", "user", "assistant"]
    parts: list[UIPart] = Field(max_length=10_000)

    def text(self) -> str:
        return "".join(p.text or "" for p in self.parts if p.type == "text")


class UIChatRequest(BaseModel):
    """What ``DefaultChatTransport`` posts. Fields it does not define (an app's own ``body``)
    are accepted and ignored."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    #: The chat's id: the run's session, the caller's only (omitted: a fresh session).
    id: str | None = Field(default=None, strict=True, max_length=200)
    messages: list[UIMessage] = Field(min_length=1, max_length=10_000)
    trigger: Literal["submit-message", "regenerate-message"] | None = None
    message_id: str | None = Field(default=None, alias="messageId", strict=True)
    #: When the client leaves (useChat's ``stop()``, a closed tab): ``cancel`` the run (the
    #: default) or let it ``continue`` (then ``resumeStream`` picks it up again).
    on_disconnect: OnDisconnect | None = None

    @field_validator("id")
    @classmethod
    def _chat_id(cls, value: str | None) -> str | None:
        if value is not None and not _SESSION_ID.match(value):
            raise ValueError("the chat id: 1 to 200 printable ASCII characters, no spaces")
        return value

    @field_validator("messages")
    @classmethod
    def _ends_with_a_question(cls, messages: list[UIMessage]) -> list[UIMessage]:
        last = messages[-1]
        if last.role != "user":
            raise ValueError("the last message must be the user's (the task)")
        if not last.text().strip():
            raise ValueError("the last user message has no text part")
        return messages

    @property
    def query(self) -> str:
        return self.messages[-1].text()

    @property
    def history(self) -> list[Message] | None:
        """The text of the messages before the task; ``None`` (the chat's kept conversation)
        when the client sent the task alone. A regenerated first answer has no history."""
        earlier = self.messages[:-1]
        if not earlier and self.trigger != "regenerate-message":
            return None
        return [Message(m.role, text) for m in earlier if (text := m.text())]


@router.post("/ai-sdk/{id}", responses=_STREAM_RESPONSES, response_class=Response)
async def ui_message_stream(request: Request, target: TargetId, chat: UIChatRequest) -> Response:
    """A run of the agent or system ``{id}``, streamed as one assistant UI message."""
    runtime = runtime_of(request)
    found = runtime.find(target, None)
    debug = runtime.settings.debug
    run = await runtime.start(
        EnhancedStreamHandler(enable_token_events=True, debug=debug),
        found,
        chat.query,
        owner=principal_of(request),
        session_id=chat.id,
        history=chat.history,
        on_disconnect=chat.on_disconnect or "cancel",
    )
    encoder = UIStreamEncoder.of_record(run.record, debug=debug)
    encoder.watch(run.stream)
    return respond(runtime, run, encoder)


@router.get(
    "/ai-sdk/{id}/{chat_id}/stream",
    responses={**_STREAM_RESPONSES, 204: {"description": "The chat has no run going on"}},
    response_class=Response,
)
async def resume_ui_message_stream(
    request: Request,
    target: TargetId,
    chat_id: Annotated[str, Path(pattern=SESSION_ID)],
) -> Response:
    """The chat's newest run of ``{id}`` if it is still going: replayed from its start (as
    the SDK's ``resumeStreamIsReplay`` expects), then live; else ``204``."""
    runtime = runtime_of(request)
    name = runtime.find(target, None).name
    owner = principal_of(request)
    for record in await runtime.runs.list_runs(owner):  # (newest first)
        if record.session_id == chat_id and record.target == name:
            if record.finished:
                break
            encoder = UIStreamEncoder.of_record(record, debug=runtime.settings.debug)
            headers = {"X-Masai-Run-Id": record.run_id, "X-Masai-Session-Id": chat_id}
            return view(runtime, record, encoder, headers=headers)
    return Response(status_code=204)
