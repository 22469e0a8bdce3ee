"""A local server speaking Anthropic's Messages API (streaming), scripted per test.

Streams follow the documented event flow, each frame ``event: <type>\\ndata: <json>\\n\\n``:
``message_start`` (with input usage), a ``ping``, per content block ``content_block_start`` /
``content_block_delta`` (``text_delta`` or ``input_json_delta`` with ``partial_json``) /
``content_block_stop``, then ``message_delta`` (stop reason, cumulative output usage) and
``message_stop``. Errors use the documented body
``{"type": "error", "error": {"type", "message"}, "request_id"}``, as an HTTP answer or as an
``event: error`` frame inside the stream.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .fake_server import Recorded, ScriptedFake, before_step
from .server import live_server

Event = dict[str, Any]


@dataclasses.dataclass
class Reply:
    """One scripted answer: the events after ``message_start``, or an HTTP error."""

    events: list[Event] = dataclasses.field(default_factory=list)
    input_tokens: int = 20
    cache_read_input_tokens: int = 0
    status: int = 200
    error: dict[str, Any] | None = None  # {"type", "message"}
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    #: With an ``error`` and status 200: send it as an ``event: error`` before this event.
    error_at: int | None = None
    #: Hold the stream before this event until the gate is set (to observe live streaming).
    gate: threading.Event | None = None
    gate_at: int = 0
    #: Cut the connection (no clean end of the body) before this event.
    drop_at: int | None = None


def tool_use_reply(
    name: str,
    pieces: Sequence[str],
    *,
    text: Sequence[str] = (),
    output_tokens: int = 40,
    stop_reason: str = "tool_use",
    **kwargs: Any,
) -> Reply:
    """A ``tool_use`` block whose input arrives in ``pieces``, optionally after a text block."""
    events: list[Event] = []
    index = 0
    if text:
        events.append(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            }
        )
        events += [
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}}
            for t in text
        ]
        events.append({"type": "content_block_stop", "index": 0})
        index = 1
    block = {"type": "tool_use", "id": f"toolu_fake_{name}", "name": name, "input": {}}
    events.append({"type": "content_block_start", "index": index, "content_block": block})
    events += [
        {
            "type": "content_block_delta",
            "index": index,
            "delta": {"type": "input_json_delta", "partial_json": piece},
        }
        for piece in pieces
    ]
    events.append({"type": "content_block_stop", "index": index})
    events += _ending(stop_reason, output_tokens)
    return Reply(events=events, **kwargs)


def text_only_reply(pieces: Sequence[str], *, output_tokens: int = 10) -> Reply:
    events: list[Event] = [
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    ]
    events += [
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}}
        for t in pieces
    ]
    events.append({"type": "content_block_stop", "index": 0})
    return Reply(events=events + _ending("end_turn", output_tokens))


def _ending(stop_reason: str, output_tokens: int) -> list[Event]:
    return [
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": output_tokens},
        },
        {"type": "message_stop"},
    ]


def error_reply(
    status: int, type: str, message: str, *, headers: dict[str, str] | None = None
) -> Reply:
    return Reply(status=status, error={"type": type, "message": message}, headers=headers or {})


def stream_error_reply(reply: Reply, at: int, type: str, message: str) -> Reply:
    """``reply``, broken off before event ``at`` by an ``event: error`` frame."""
    return dataclasses.replace(reply, error={"type": type, "message": message}, error_at=at)


class FakeAnthropic(ScriptedFake[Reply]):
    def __init__(self) -> None:
        super().__init__(
            lambda: error_reply(400, "invalid_request_error", "fake server: no scripted reply left")
        )
        self.app = Starlette(routes=[Route("/v1/messages", self._messages, methods=["POST"])])

    def _error_body(self, error: dict[str, Any]) -> dict[str, Any]:
        return {"type": "error", "error": error, "request_id": f"req_fake{next(self._ids)}"}

    async def _messages(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(
            Recorded(request.url.path, dict(request.query_params), dict(request.headers), body)
        )
        reply = self._next()
        if reply.status != 200:
            assert reply.error is not None
            return JSONResponse(self._error_body(reply.error), reply.status, headers=reply.headers)
        if not body.get("stream"):
            return JSONResponse(
                self._error_body({"type": "invalid_request_error", "message": "fake: stream only"}),
                400,
            )
        return StreamingResponse(self._sse(reply, body), media_type="text/event-stream")

    async def _sse(self, reply: Reply, body: dict[str, Any]) -> AsyncIterator[str]:
        def frame(event: Event) -> str:
            return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n"

        message = {
            "id": f"msg_fake{next(self._ids)}",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": body["model"],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": reply.input_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": reply.cache_read_input_tokens,
                "output_tokens": 1,
            },
        }
        yield frame({"type": "message_start", "message": message})
        yield frame({"type": "ping"})
        for i, event in enumerate(reply.events):
            await before_step(reply, i)
            if reply.error is not None and i == reply.error_at:
                yield frame(self._error_body(reply.error))
                return
            yield frame(event)


@contextlib.contextmanager
def running_fake_anthropic() -> Iterator[FakeAnthropic]:
    fake = FakeAnthropic()
    with live_server(fake.app) as server:
        fake.url = server.url
        yield fake
