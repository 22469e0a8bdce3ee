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

from ..events import StreamingEvent
from ..streaming import ChunkEncoder, EnhancedStreamHandler, EventStream, SimpleStreamHandler
from ..streaming.sse import DONE, SSE_HEADERS
from ._errors import ERROR_RESPONSES, ApiError, validation_message
from ._gate import principal_of
from ._response import EventStreamResponse, StreamEncoder
from ._runtime import SESSION_ID, Run, Runtime

__all__ = (
    "SSE_RESPONSE",
    "StreamQuery",
    "StreamRequest",
    "respond",
    "router",
    "runtime_of",
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

    _blank = field_validator("query")(_not_blank)


class StreamQuery(BaseModel):
    """The spec's ``POST /agent/stream?query=…`` form (no body); ``true``/``false``/``1``/``0``
    for the flags."""

    model_config = ConfigDict(extra="forbid")

    query: str | None = Field(default=None, max_length=100_000)
    agent: str | None = Field(default=None, max_length=200)
    system: str | None = Field(default=None, max_length=200)
    entry_agent: str | None = Field(default=None, max_length=200)
    session_id: str | None = Field(default=None, pattern=SESSION_ID)
    token_events: bool = False
    node_transitions: bool = False


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


def respond(runtime: Runtime, run: Run, encoder: StreamEncoder) -> EventStreamResponse:
    """Every streamed response: the server's pings and pacing, counted in ``/healthz``."""
    settings = runtime.settings
    return EventStreamResponse(
        run.stream,
        encoder,
        headers={**SSE_HEADERS, **run.headers},
        ping_interval=settings.ping_interval,
        pacing=runtime.pacing,
        on_done=run.done,
    )


def _run(
    request: Request,
    body: StreamRequest | None,
    form: StreamQuery,
    kind: Literal["agent", "system"],
    simple: bool = False,
) -> Response:
    runtime = runtime_of(request)
    req = _stream_request(body, form)
    debug = runtime.settings.debug
    target = runtime.find(req.agent if kind == "agent" else req.system, kind)
    if kind == "system" and req.entry_agent is not None:
        runtime.find(req.entry_agent, "agent")  # an unknown entry agent is a 404, not a failure
    handler = (
        SimpleStreamHandler(debug=debug)
        if simple
        else EnhancedStreamHandler(
            enable_token_events=req.token_events,
            enable_node_transitions=req.node_transitions,
            debug=debug,
        )
    )
    run = runtime.open(
        handler,
        target,
        req.query,
        owner=principal_of(request),
        session_id=req.session_id,
        entry_agent=req.entry_agent,
    )
    return respond(runtime, run, SpecEncoder(handler, run.stream))


Form = Annotated[StreamQuery, Query()]


@router.post("/agent/stream", responses=SSE_RESPONSE, response_class=Response)
async def agent_stream(request: Request, form: Form, body: StreamRequest | None = None) -> Response:
    """Stream one agent's run (every event type the request enables)."""
    return _run(request, body, form, "agent")


@router.post("/agent/stream/simple", responses=SSE_RESPONSE, response_class=Response)
async def agent_stream_simple(
    request: Request, form: Form, body: StreamRequest | None = None
) -> Response:
    """Stream one agent's reasoning and answer only."""
    return _run(request, body, form, "agent", simple=True)


@router.post("/mas/stream", responses=SSE_RESPONSE, response_class=Response)
async def mas_stream(request: Request, form: Form, body: StreamRequest | None = None) -> Response:
    """Stream a multi-agent system's run (hand-offs, shared memory, every agent)."""
    return _run(request, body, form, "system")


class SpecEncoder:
    """The spec's chunks for the server response (role, events, stop or error, ``[DONE]``)."""

    def __init__(self, handler: EnhancedStreamHandler, stream: EventStream) -> None:
        self.handler = handler
        self.chunks = ChunkEncoder(handler.model, stream.chunk_id, stream.created, sink=stream)

    def start(self) -> bytes:
        return self.chunks.chunk({"role": "assistant"})

    def events(self, batch: list[StreamingEvent]) -> bytes:
        return self.chunks.events(batch)

    def finish(self, stream: EventStream) -> bytes:
        return self.handler.final_chunk(stream, self.chunks) + DONE.encode()
