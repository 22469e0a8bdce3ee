"""``/ai-sdk/{id}``: an agent or a system (any id of ``/v1/models``) as the endpoint of the
Vercel AI SDK's ``useChat``, streamed in the SDK's UI message stream protocol.

``POST /ai-sdk/{id}`` takes the body ``DefaultChatTransport`` sends: the chat's ``id``, its
``messages`` (UI messages made of ``parts``), ``trigger`` and ``messageId``, plus whatever
extra fields the app adds (ignored, except ``on_disconnect``). The last message, the user's,
is the task; the text of the messages before it is the history. The chat's ``id`` is the
run's session (yours only): a client that sends only the new message (the SDK's "send only the
last message" pattern) gets the conversation the server kept for that chat.

A tool call waiting for a person's approval ends the response (the run waits on). The SDK's
``addToolApprovalResponse`` marks the tool part ``approval-responded`` and, with
``sendAutomaticallyWhen: lastAssistantMessageIsCompleteWithApprovalResponses``, posts the chat
again: a body whose last message is that assistant message (its ``metadata.run_id`` names the
run) decides the calls and streams the rest of the same run as the same message.

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
from ._errors import ERROR_RESPONSES, ApiError
from ._gate import principal_of
from ._routes import respond, runtime_of, view
from ._runtime import SESSION_ID, Runtime

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


class UIApproval(BaseModel):
    """A tool part's ``approval``: its id (masai's tool call id) and, once the user answered
    (``addToolApprovalResponse``), the decision."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=400, strict=True)
    approved: bool | None = Field(default=None, strict=True)
    reason: str | None = Field(default=None, max_length=10_000, strict=True)


class UIPart(BaseModel):
    """One part of a UI message; only ``text`` parts reach the agents (reasoning, tools,
    files and data parts are the UI's), and tool parts' approval answers reach the run."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(min_length=1, max_length=200)
    text: str | None = Field(default=None, strict=True)
    state: str | None = Field(default=None, max_length=100, strict=True)
    approval: UIApproval | None = None

    @property
    def answer(self) -> UIApproval | None:
        """The user's decision, on a tool part in ``approval-responded``."""
        is_tool = self.type == "dynamic-tool" or self.type.startswith("tool-")
        if not is_tool or self.state != "approval-responded" or self.approval is None:
            return None
        return self.approval if self.approval.approved is not None else None


class UIMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str | None = Field(default=None, strict=True)
    role: Literal["system", "user", "assistant"]
    parts: list[UIPart] = Field(max_length=10_000)
    metadata: dict[str, Any] | None = None

    def text(self) -> str:
        return "".join(p.text or "" for p in self.parts if p.type == "text")

    def answers(self) -> list[UIApproval]:
        return [answer for p in self.parts if (answer := p.answer) is not None]


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
        if last.role == "assistant" and last.answers():
            run_id = (last.metadata or {}).get("run_id")
            if not isinstance(run_id, str) or not run_id:
                raise ValueError("the answered assistant message has no metadata.run_id")
            return messages
        if last.role != "user":
            raise ValueError(
                "the last message must be the user's (the task), or the assistant's with "
                "tool parts in approval-responded"
            )
        if not last.text().strip():
            raise ValueError("the last user message has no text part")
        return messages

    @property
    def approvals(self) -> tuple[str, list[UIApproval]] | None:
        """The run and the decisions the body carries, when it answers approvals."""
        last = self.messages[-1]
        if last.role != "assistant":
            return None
        return str((last.metadata or {})["run_id"]), last.answers()

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
    """A run of the agent or system ``{id}``, streamed as one assistant UI message; or, for
    a body answering the run's approvals, the rest of that run, as the same message."""
    runtime = runtime_of(request)
    found = runtime.find(target, None)
    debug = runtime.settings.debug
    if (answering := chat.approvals) is not None:
        return await _continue(runtime, principal_of(request), found.name, chat, *answering)
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


async def _continue(
    runtime: Runtime,
    owner: str,
    target: str,
    chat: UIChatRequest,
    run_id: str,
    answers: list[UIApproval],
) -> Response:
    """Decide the calls the message answers, then stream the run from there on. Every call
    is checked before any is decided, so a body that does not fit changes nothing."""
    record = await runtime.runs.get(owner, run_id)  # (another owner's: 404, as if unknown)
    if record.target != target or (chat.id is not None and record.session_id != chat.id):
        raise ApiError(404, f"run {run_id} is not a run of {target} in this chat", "not_found")
    if record.finished:
        raise ApiError(409, f"run {run_id} has finished: nothing waits for approval", "conflict")
    for answer in answers:
        if answer.id in record.decided_approvals:
            raise ApiError(409, f"tool call {answer.id} was decided already", "conflict")
        # (A worker's record may not show a call that waits already: the worker decides.)
        if answer.id not in record.pending_approvals and runtime.runs.queue is None:
            message = f"run {run_id} has no tool call {answer.id} waiting for approval"
            raise ApiError(409, message, "conflict")
    await runtime.runs.check_cursor(record, -1)  # (the rest is told from the log's start)
    for answer in answers:
        record = await runtime.runs.approve(
            owner, run_id, answer.id, approved=bool(answer.approved), reason=answer.reason, by=owner
        )
    encoder = UIStreamEncoder.of_record(
        record, resume=[a.id for a in answers], debug=runtime.settings.debug
    )
    return view(runtime, record, encoder)


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
    the SDK's ``resumeStreamIsReplay`` expects), then live, up to an approval it waits for
    (the user answers that as after the first response); else ``204``."""
    runtime = runtime_of(request)
    name = runtime.find(target, None).name
    owner = principal_of(request)
    for record in await runtime.runs.list_runs(owner):  # (newest first)
        if record.session_id == chat_id and record.target == name:
            if record.finished:
                break
            encoder = UIStreamEncoder.of_record(record, debug=runtime.settings.debug)
            return view(runtime, record, encoder)
    return Response(status_code=204)
