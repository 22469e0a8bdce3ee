"""The spec's streaming routes: ``/agent/stream``, ``/agent/stream/simple``, ``/mas/stream``.

Each takes a JSON ``StreamRequest`` or, as the spec's examples do, ``?query=…`` with no body.
Every run belongs to the caller's principal; a request without ``session_id`` gets a fresh
session, whose id comes back in every event's ``metadata.session_id`` and in the
``X-Masai-Session-Id`` header, so the client can continue the conversation.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.responses import Response

from ..streaming import EnhancedStreamHandler, OnDisconnect, RunRecord, SimpleStreamHandler
from ..streaming.encoders import Encoder, SpecEncoder
from ._errors import ERROR_RESPONSES, ApiError, validation_message
from ._gate import principal_of
from ._response import LogStreamResponse
from ._runtime import RUN_ID, SESSION_ID, Run, Runtime, run_headers

__all__ = (
    "SSE_RESPONSE",
    "StreamQuery",
    "StreamRequest",
    "handler_for",
    "respond",
    "router",
    "runtime_of",
    "start_run",
    "view",
)

router = APIRouter()

#: How OpenAPI documents a streamed (SSE) success.
SSE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-Sent Events: `data: {chat.completion.chunk}` frames, then "
        "`data: [DONE]` (docs/server-contract.md)",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    **ERROR_RESPONSES,
}


def _not_blank(query: str) -> str:
    if not query.strip():
        raise ValueError("the query is blank")
    return query


class StreamRequest(BaseModel):
    """A run to stream (JSON body). Booleans are strict: ``"yes"`` is not ``true``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    query: str = Field(min_length=1, max_length=100_000)
    agent: str | None = Field(default=None, max_length=200)
    system: str | None = Field(default=None, max_length=200)
    entry_agent: str | None = Field(default=None, max_length=200)
    #: Continue this session (yours only); omitted: a fresh one.
    session_id: str | None = Field(default=None, pattern=SESSION_ID)
    token_events: bool = False
    node_transitions: bool = False
    #: ``usage`` events: each model call's tokens, and the run's total before the end.
    usage_events: bool = False
    #: Name the run yourself (unique among your runs; 409 if taken), so you can find it even
    #: if the response that would have told you its id never arrives.
    run_id: str | None = Field(default=None, pattern=RUN_ID)
    #: When the client that started the run leaves: ``cancel`` it (the streaming routes'
    #: default) or let it ``continue`` (``POST /runs``' default; resume with ``/runs/{id}``).
    on_disconnect: OnDisconnect | None = None

    _blank = field_validator("query")(_not_blank)


class StreamQuery(StreamRequest):
    """The spec's ``POST /agent/stream?query=…`` form (no body): the same fields, every one
    optional here (a missing query is reported once the form becomes a ``StreamRequest``),
    and ``true``/``false``/``1``/``0`` for the flags."""

    model_config = ConfigDict(extra="forbid", strict=False)

    query: str | None = Field(default=None, max_length=100_000)  # type: ignore[assignment]


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _stream_request(body: StreamRequest | None, form: StreamQuery) -> StreamRequest:
    if body is not None:
        return body
    try:
        return StreamRequest.model_validate(form.model_dump(exclude_none=True), strict=False)
    except ValidationError as exc:
        raise ApiError(422, validation_message(exc), "invalid_request") from None


def respond(runtime: Runtime, run: Run, encoder: Encoder) -> LogStreamResponse:
    """Every streamed response: a viewer of the run's log, with the server's pings and
    pacing."""
    return view(runtime, run.record, encoder)


def view(
    runtime: Runtime, record: RunRecord, encoder: Encoder, *, after: int = -1
) -> LogStreamResponse:
    """A viewer of ``record``'s log from ``after``, in ``encoder``'s protocol (its headers,
    and the run's: ``run_headers``)."""
    return LogStreamResponse(
        runtime.runs,
        record,
        encoder,
        after=after,
        headers={**encoder.headers(), **run_headers(record)},
        ping_interval=runtime.settings.ping_interval,
        pacing=runtime.pacing,
    )


def handler_for(req: StreamRequest, debug: bool, simple: bool = False) -> EnhancedStreamHandler:
    if simple:
        return SimpleStreamHandler(debug=debug)
    return EnhancedStreamHandler(
        enable_token_events=req.token_events,
        enable_node_transitions=req.node_transitions,
        enable_usage_events=req.usage_events,
        debug=debug,
    )


async def start_run(
    request: Request,
    req: StreamRequest,
    kind: Literal["agent", "system"] | None,
    *,
    simple: bool = False,
    on_disconnect: OnDisconnect = "cancel",
) -> Run:
    """Admit and start the run ``req`` asks for, owned by the caller."""
    runtime = runtime_of(request)
    if kind is None:  # (``POST /runs``: whichever the body names)
        if req.agent is not None and req.system is not None:
            raise ApiError(422, "name an agent or a system, not both", "invalid_request")
        kind = "system" if req.system is not None else "agent" if req.agent is not None else None
    target = runtime.find(req.system if kind == "system" else req.agent, kind)
    if target.kind == "system" and req.entry_agent is not None:
        runtime.find(req.entry_agent, "agent")  # an unknown entry agent is a 404, not a failure
    return await runtime.start(
        handler_for(req, runtime.settings.debug, simple),
        target,
        req.query,
        owner=principal_of(request),
        session_id=req.session_id,
        entry_agent=req.entry_agent,
        run_id=req.run_id,
        on_disconnect=req.on_disconnect or on_disconnect,
    )


async def _run(
    request: Request,
    body: StreamRequest | None,
    form: StreamQuery,
    kind: Literal["agent", "system"],
    simple: bool = False,
) -> Response:
    req = _stream_request(body, form)
    run = await start_run(request, req, kind, simple=simple)
    return respond(runtime_of(request), run, SpecEncoder.of_record(run.record))


Form = Annotated[StreamQuery, Query()]


@router.post("/agent/stream", responses=SSE_RESPONSE, response_class=Response)
async def agent_stream(request: Request, form: Form, body: StreamRequest | None = None) -> Response:
    """Stream one agent's run (every event type the request enables)."""
    return await _run(request, body, form, "agent")


@router.post("/agent/stream/simple", responses=SSE_RESPONSE, response_class=Response)
async def agent_stream_simple(
    request: Request, form: Form, body: StreamRequest | None = None
) -> Response:
    """Stream one agent's reasoning and answer only."""
    return await _run(request, body, form, "agent", simple=True)


@router.post("/mas/stream", responses=SSE_RESPONSE, response_class=Response)
async def mas_stream(request: Request, form: Form, body: StreamRequest | None = None) -> Response:
    """Stream a multi-agent system's run (hand-offs, shared memory, every agent)."""
    return await _run(request, body, form, "system")
