"""``POST /v1/responses``: masai's agents and systems behind OpenAI's Responses API.

Vanilla clients use it unchanged: openai-python and openai-node (``responses.create``,
``responses.stream``), and the AI SDK's default OpenAI provider. ``model`` is an agent or a
system of ``/v1/models``; the last user message of ``input`` is the task, the messages before
it (and ``instructions``, as a system message) the history every agent sees. The stream is
``streaming._responses.ResponsesEncoder``'s: the message is exactly the run's final answer.

``previous_response_id`` continues a response's conversation, the caller's own only: the
conversation is kept in the session store once the response's run completed (see
``streaming._conversations`` for where and why), and not at all with ``store: false``.
"""

from __future__ import annotations

import secrets
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.responses import JSONResponse, Response

from ..exceptions import ServerShutdown
from ..models import Message
from ..streaming import EnhancedStreamHandler, OnDisconnect, RunRecord, Runs
from ..streaming.encoders import Conversations, ResponsesEncoder, Turn, response_error
from ._errors import ERROR_RESPONSES, ApiError
from ._gate import principal_of
from ._openai_compat import ROLES, StreamOptions, checked_policy, disconnect_policy
from ._response import LogStreamResponse, read_to_end
from ._routes import respond, runtime_of

__all__ = ("ResponsesRequest", "router")

router = APIRouter()

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The `response` object, or with `stream: true` Server-Sent Events of "
        "Responses API events (`response.created` … `response.completed`)",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "text/event-stream": {"schema": {"type": "string"}},
        },
    },
    **ERROR_RESPONSES,
    404: {
        "description": "No such model, or no such previous response or item of yours (the "
        'error also names the field: `"param"`)'
    },
}

#: Content parts that carry text (images, files and audio do not reach the agents).
_TEXT_PARTS = frozenset({"input_text", "output_text", "text"})


class ResponseNotFound(ApiError):
    """404 for an id the caller cannot use, in OpenAI's shape: the field it came in
    (``param``) is part of the error."""

    def __init__(self, message: str, code: str, param: str) -> None:
        super().__init__(404, message, code, kind="invalid_request_error")
        self.param = param

    def body(self) -> bytes:
        error = {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}
        return orjson.dumps({"error": error})


class InputPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = Field(default=None, strict=True)


class InputItem(BaseModel):
    """An item of ``input``: a message (``type`` may be left out), an ``item_reference`` to an
    earlier response's message, or another item (reasoning, tool calls), which is skipped."""

    model_config = ConfigDict(extra="allow")

    type: str = "message"
    role: Literal["user", "system", "developer", "assistant"] | None = None
    content: str | list[InputPart] | None = None
    id: str | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text or "" for p in self.content or () if p.type in _TEXT_PARTS)


class ResponsesRequest(BaseModel):
    """The fields masai uses; others (temperature, tools, reasoning, …) are accepted and
    ignored: the agents' own models and tools decide those."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=200)
    input: str | list[InputItem] = Field(min_length=1)
    instructions: str | None = None
    previous_response_id: str | None = Field(default=None, max_length=200)
    stream: bool = Field(default=False, strict=True)
    stream_options: StreamOptions | None = None
    #: ``false``: the response is not kept, so it cannot be continued.
    store: bool = Field(default=True, strict=True)
    metadata: dict[str, Any] | None = None

    @field_validator("input")
    @classmethod
    def _bounded(cls, value: str | list[InputItem]) -> str | list[InputItem]:
        if isinstance(value, list) and len(value) > 10_000:
            raise ValueError("at most 10000 items")
        if isinstance(value, str) and not value.strip():
            raise ValueError("the input is blank")
        return value

    @field_validator("metadata")
    @classmethod
    def _policy(cls, metadata: dict[str, Any] | None) -> dict[str, Any] | None:
        return checked_policy(metadata)

    @property
    def on_disconnect(self) -> OnDisconnect:
        """``metadata.on_disconnect``: ``continue`` keeps the run going after the client
        leaves (its conversation is still kept when it completes); default ``cancel``."""
        return disconnect_policy(self.metadata)

    @property
    def include_agent_events(self) -> bool:
        options = self.stream_options
        return self.stream and options is not None and options.include_agent_events


async def _referenced(conversations: Conversations, owner: str, item_id: str) -> Message | None:
    """The message an ``item_reference`` names: the answer of one of the caller's responses
    (message items are ``msg_<response>``, or ``msg_<response>-<n>``)."""
    suffix = item_id.removeprefix("msg_").partition("-")[0]
    if not item_id.startswith("msg_") or not suffix:
        return None
    conversation = await conversations.load(owner, f"resp_{suffix}")
    return conversation[-1] if conversation else None


async def _input(req: ResponsesRequest, conversations: Conversations, owner: str) -> list[Message]:
    """``input`` as messages (references resolved; reasoning and tool items skipped)."""
    if isinstance(req.input, str):
        return [Message("user", req.input)]
    messages: list[Message] = []
    last_reference = None
    for item in req.input:
        if item.type == "message" and item.role is not None and (text := item.text()):
            messages.append(Message(ROLES[item.role], text))
            last_reference = None
        elif item.type == "item_reference" and item.id and not item.id.startswith("rs_"):
            message = await _referenced(conversations, owner, item.id)
            if message is None:
                raise ResponseNotFound(f"Item with id '{item.id}' not found.", "not_found", "input")
            if item.id.partition("-")[0] != last_reference:  # (one answer, however many parts)
                messages.append(message)
            last_reference = item.id.partition("-")[0]
    if not messages or messages[-1].role != "user":
        raise ApiError(
            422, "input: the last message must be the user's (the task)", "invalid_request"
        )
    return messages


async def _earlier(
    req: ResponsesRequest, conversations: Conversations, owner: str
) -> list[Message]:
    """The conversation ``previous_response_id`` continues (none without one)."""
    previous = req.previous_response_id
    if previous is None:
        return []
    conversation = await conversations.load(owner, previous)
    if conversation is None:
        raise ResponseNotFound(
            f"Previous response with id '{previous}' not found.",
            "previous_response_not_found",
            "previous_response_id",
        )
    return conversation


def _keeping(stream: LogStreamResponse, encoder: ResponsesEncoder, turn: Turn, runs: Runs) -> None:
    """Keep the conversation when the run completed: before the last frame (so a client that
    continues at once finds it), or, for a client that left first, once a follower has read
    the run's end."""

    async def completed() -> None:
        ended = encoder.ended
        if encoder.run_ended and ended is not None and not ended.failed:
            await turn.completed(encoder.text.text)

    async def left() -> None:
        runs.spawn(turn.follow(runs, stream.record.run_id))

    stream.on_end, stream.on_left = completed, left


def _failure(encoder: ResponsesEncoder, headers: dict[str, str]) -> JSONResponse:
    outcome = encoder.outcome
    status = 503 if isinstance(outcome.error, ServerShutdown) else 500
    error = {**response_error(outcome, encoder.debug), "type": "server_error", "param": None}
    return JSONResponse({"error": error}, status, headers=headers)


@router.post("/v1/responses", responses=_RESPONSES, response_class=Response)
async def create_response(request: Request, req: ResponsesRequest) -> Response:
    """A run as an OpenAI response, streamed or not."""
    runtime = runtime_of(request)
    target = runtime.find(req.model, None)
    owner = principal_of(request)
    conversations = Conversations(runtime.registry.manager.sessions)
    earlier = await _earlier(req, conversations, owner)
    given = await _input(req, conversations, owner)
    system = [Message("system", req.instructions)] if req.instructions else []
    debug = runtime.settings.debug
    run = await runtime.start(
        EnhancedStreamHandler(enable_token_events=True, debug=debug),
        target,
        given[-1].content,
        owner=owner,
        session_id=None,
        history=[*system, *earlier, *given[:-1]],
        remember=False,
        run_id=f"resp_{secrets.token_hex(24)}",
        on_disconnect=req.on_disconnect,
    )
    record: RunRecord = run.record
    encoder = ResponsesEncoder(
        record.run_id,
        req.model,
        record.created,
        instructions=req.instructions,
        previous_response_id=req.previous_response_id,
        store=req.store,
        metadata=req.metadata,
        include_agent_events=req.include_agent_events,
        debug=debug,
    )
    encoder.watch(run.stream)
    turn = Turn(conversations, owner, record.run_id, [*earlier, *given]) if req.store else None
    if req.stream:
        stream = respond(runtime, run, encoder)
        if turn is not None:
            _keeping(stream, encoder, turn, runtime.runs)
        return stream
    if await read_to_end(request, runtime.runs, record, encoder):
        if turn is not None:  # (the run may go on: ``on_disconnect``)
            runtime.runs.spawn(turn.follow(runtime.runs, record.run_id))
        return Response(status_code=499)  # (nobody is there to read it)
    if encoder.outcome.failed:
        return _failure(encoder, run.headers)
    body = encoder.final_response()
    if turn is not None and encoder.run_ended:
        await turn.completed(encoder.text.text)
    return JSONResponse(body, headers=run.headers)
