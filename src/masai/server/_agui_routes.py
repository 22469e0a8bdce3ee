"""``POST /ag-ui/{id}``: masai's agents and systems as AG-UI agents (docs/ag-ui.md).

The body is AG-UI's ``RunAgentInput``, as ``@ag-ui/client``'s ``HttpAgent`` sends it; the
response is the run's AG-UI events over SSE (``streaming.encoders.AgUiEncoder``). ``threadId``
is the session (the caller's own, like every session id). The last user message is the task;
the messages before it (and ``context``) are the history every agent sees. The client's
``tools`` are accepted and never called: masai's tools run on the server.

A tool call that needs a person's approval ends the response with the protocol's interrupt;
the masai run waits on. A request whose ``resume`` answers it decides the call and streams
the rest of the same run. Problems with a resume (unknown, expired or already settled
interrupts, a payload that does not fit) are ``RUN_ERROR`` events, as the protocol asks; a
body that does not fit the schema is a 422 like anywhere else.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from starlette.responses import Response

from ..exceptions import MasaiError
from ..models import Message
from ..streaming import ApprovalConflict, EnhancedStreamHandler
from ..streaming.encoders import AgUiEncoder, ApprovalWindow, Outcome, ReportedError
from ..tooling import ToolArgumentsError
from ._errors import ERROR_RESPONSES, validation_message
from ._gate import principal_of
from ._openai_compat import ROLES
from ._routes import runtime_of, view
from ._runtime import SESSION_ID, Runtime

__all__ = ("RunAgentInput", "router")

router = APIRouter(tags=["ag-ui"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-Sent Events: `data: {AG-UI event}` frames from `RUN_STARTED` to "
        "`RUN_FINISHED` or `RUN_ERROR` (docs/ag-ui.md)",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    **ERROR_RESPONSES,
}


class ContentPart(BaseModel):
    """One part of a message's content; only ``text`` parts reach the agents."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(max_length=100)
    text: str | None = Field(default=None, strict=True)


class AgUiMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = Field(max_length=1000)
    role: Literal["developer", "system", "assistant", "user", "tool", "activity", "reasoning"]
    content: str | list[ContentPart] | dict[str, Any] | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        if isinstance(self.content, list):
            return "".join(p.text or "" for p in self.content if p.type == "text")
        return ""


class AgUiTool(BaseModel):
    """A tool the client offers: accepted, never called (masai's tools run on the server)."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(max_length=200)
    description: str = Field(max_length=100_000)
    parameters: Any = None


class AgUiContext(BaseModel):
    model_config = ConfigDict(extra="allow")

    description: str = Field(max_length=10_000)
    value: str = Field(max_length=100_000)


class ResumeEntry(BaseModel):
    """The answer to one interrupt: ``payload`` ``{"approved", "reason"?, "editedArgs"?}``."""

    model_config = ConfigDict(extra="allow")

    interruptId: str = Field(min_length=1, max_length=400)  # (the wire's names)
    status: Literal["resolved", "cancelled"]
    payload: Any = None
    metadata: dict[str, Any] | None = None


def _last_user(messages: list[AgUiMessage]) -> int:
    return next((i for i in reversed(range(len(messages))) if messages[i].role == "user"), -1)


def _task(messages: list[AgUiMessage]) -> str:
    last = _last_user(messages)
    return messages[last].text() if last >= 0 else ""


class RunAgentInput(BaseModel):
    """AG-UI's request to run an agent. ``state`` and ``forwardedProps`` are accepted and not
    used: masai's state is the run's shared memory, which starts empty."""

    model_config = ConfigDict(extra="allow")

    threadId: str = Field(pattern=SESSION_ID)  # (the wire's names)
    runId: str = Field(min_length=1, max_length=200)
    protocolVersion: str | None = Field(default=None, max_length=50)
    parentRunId: str | None = Field(default=None, max_length=200)
    state: Any = None
    #: (Before ``messages``: which of the two carries the request is checked there.)
    resume: list[ResumeEntry] | None = Field(default=None, max_length=100)
    messages: list[AgUiMessage] = Field(max_length=10_000)
    tools: list[AgUiTool] = Field(default_factory=list, max_length=1_000)
    context: list[AgUiContext] = Field(default_factory=list, max_length=1_000)
    forwardedProps: Any = None

    @field_validator("messages")
    @classmethod
    def _has_a_task(cls, messages: list[AgUiMessage], info: ValidationInfo) -> list[AgUiMessage]:
        if not info.data.get("resume") and not _task(messages).strip():
            raise ValueError("no user message with text (the task)")
        return messages

    @property
    def query(self) -> str:
        return _task(self.messages)

    @property
    def history(self) -> list[Message] | None:
        """The conversation before the task (and the context, as a system message); ``None``
        when the request carries none: the thread's stored history is used then."""
        earlier = self.messages[: max(_last_user(self.messages), 0)]
        turns = [Message(ROLES[m.role], t) for m in earlier if m.role in ROLES and (t := m.text())]
        if self.context:
            lines = "\n".join(f"- {c.description}: {c.value}" for c in self.context)
            turns.insert(0, Message("system", f"Context from the client:\n{lines}"))
        return turns if earlier or self.context else None


class _Decision(BaseModel):
    """A resolved approval interrupt's payload (``APPROVAL_SCHEMA``)."""

    model_config = ConfigDict(extra="ignore")

    approved: StrictBool
    reason: str | None = Field(default=None, max_length=10_000)
    editedArgs: dict[str, Any] | None = None


class _InterruptPending(MasaiError):
    """A new message on a thread whose interrupt is still open (the protocol forbids it)."""

    public_message = "The thread has open interrupts; answer them with resume."
    code = "interrupt_pending"


class _InvalidResume(MasaiError):
    """A resume that answers no open interrupt of this agent and thread."""

    public_message = "The resume does not answer this agent's interrupt."
    code = "invalid_resume"


def _run_error(body: RunAgentInput, error: MasaiError) -> Response:
    """A run that fails before it starts: ``RUN_STARTED`` then ``RUN_ERROR``."""
    encoder = AgUiEncoder(body.threadId, body.runId)
    reported = ReportedError(error.code, str(error) or error.public_message)
    frames = encoder.start() + encoder.end(Outcome(reported))
    return Response(frames, media_type=encoder.media_type, headers=encoder.headers())


def _timeouts(runtime: Runtime) -> ApprovalWindow:
    """How long an approval may wait: the tool's own timeout, else the server's."""

    def timeout(agent: str | None, tool_name: str) -> float:
        found = runtime.registry.manager.agents.get(str(agent or "").lower())
        tool = found.tools.get(tool_name) if found is not None else None
        own = tool.approval_timeout if tool is not None else None
        return own if own is not None else runtime.runs.approval_timeout

    return timeout


@router.post("/ag-ui/{target_id}", responses=_RESPONSES, response_class=Response)
async def run_agent(request: Request, target_id: str, body: RunAgentInput) -> Response:
    """Run an agent or a system (an id from ``/v1/models``) as an AG-UI agent."""
    runtime = runtime_of(request)
    target = runtime.find(target_id, None)
    owner = principal_of(request)
    if body.resume:
        return await _resume(runtime, owner, target.name, body, body.resume)
    waiting = [
        r for r in await runtime.runs.list_runs(owner, "waiting") if r.session_id == body.threadId
    ]
    if waiting:  # the protocol: a thread with open interrupts takes only their answers
        ids = ", ".join(f"{r.run_id}/{c}" for r in waiting for c in r.pending_approvals)
        return _run_error(body, _InterruptPending(f"the thread has open interrupts: {ids}"))
    debug = runtime.settings.debug
    run = await runtime.start(
        EnhancedStreamHandler(enable_token_events=True, debug=debug),
        target,
        body.query,
        owner=owner,
        session_id=body.threadId,
        history=body.history,
        remember=True,
        on_disconnect="cancel",
    )
    encoder = AgUiEncoder(
        body.threadId,
        body.runId,
        source=run.record.run_id,
        approval_timeout=_timeouts(runtime),
        debug=debug,
    )
    encoder.watch(run.stream)
    return view(runtime, run.record, encoder)


async def _resume(
    runtime: Runtime, owner: str, target: str, body: RunAgentInput, entries: list[ResumeEntry]
) -> Response:
    """Decide the approvals the resume answers, then stream the rest of their run."""
    try:
        run_id, calls = _parse_resume(entries)
        record = await runtime.runs.get(owner, run_id)
        if record.target != target or record.session_id != body.threadId:
            raise _InvalidResume(f"interrupt {entries[0].interruptId} is not this thread's")
        await runtime.runs.check_cursor(record, -1)  # (the rest is told from the log's start)
        for call, decision in calls:
            await _decide(runtime, owner, run_id, call, decision)
    except MasaiError as exc:
        return _run_error(body, exc)
    encoder = AgUiEncoder(
        body.threadId,
        body.runId,
        source=run_id,
        resume=[call for call, _ in calls],
        approval_timeout=_timeouts(runtime),
        debug=runtime.settings.debug,
    )
    return view(runtime, record, encoder)


def _parse_resume(entries: list[ResumeEntry]) -> tuple[str, list[tuple[str, _Decision]]]:
    """The run the entries answer, and a decision per tool call (``cancelled`` denies)."""
    runs: set[str] = set()
    calls: list[tuple[str, _Decision]] = []
    for entry in entries:
        run_id, slash, call = entry.interruptId.partition("/")
        if not (slash and run_id and call):
            raise _InvalidResume(f"no such interrupt: {entry.interruptId}")
        if entry.status == "cancelled":
            decision = _Decision(approved=False, reason="cancelled by the user")
        else:
            try:
                decision = _Decision.model_validate(entry.payload)
            except ValidationError as exc:
                message = f"{entry.interruptId}: payload: {validation_message(exc)}"
                raise _InvalidResume(message) from None
        runs.add(run_id)
        calls.append((call, decision))
    if len(runs) != 1:
        raise _InvalidResume("a resume answers the interrupts of one run")
    return runs.pop(), calls


async def _decide(
    runtime: Runtime, owner: str, run_id: str, call: str, decision: _Decision
) -> None:
    try:
        await runtime.runs.approve(
            owner,
            run_id,
            call,
            approved=decision.approved,
            reason=decision.reason,
            arguments=decision.editedArgs,
            by=owner,
        )
    except ApprovalConflict:
        pass  # decided already (this resume, sent again): the same continuation follows
    except ToolArgumentsError as exc:
        raise _InvalidResume(f"editedArgs: {exc}") from None
