"""A local server speaking OpenAI Chat Completions, scripted per test.

Streams follow the documented wire format: ``data: {chat.completion.chunk}`` frames, the first
with ``delta.role``, then content pieces or tool-call fragments (the first fragment of a call
carries ``index``, ``id``, ``type`` and ``function.name`` with empty ``arguments``; later ones
only ``index`` and an ``arguments`` piece), a chunk with ``finish_reason``, a usage chunk with
``choices: []`` when ``stream_options.include_usage`` was asked for, and ``data: [DONE]``.
Errors use the documented body ``{"error": {"message", "type", "param", "code"}}``.

Requests are recorded (path, query, headers, JSON body) so tests can check what was sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .fake_server import Recorded, ScriptedFake, before_step
from .server import live_server

Delta = dict[str, Any]


@dataclasses.dataclass
class Reply:
    """One scripted answer: a stream of choice deltas, or an HTTP error."""

    deltas: list[Delta] = dataclasses.field(default_factory=list)
    finish_reason: str = "stop"
    usage: tuple[int, int] = (10, 5)  # prompt, completion tokens
    status: int = 200
    error: dict[str, Any] | None = None  # the error object, for an error status or in-stream
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    #: With an ``error`` and status 200: send it as a ``data:`` frame before this delta.
    error_at: int | None = None
    #: Hold the stream before this delta until the gate is set (to observe live streaming).
    gate: threading.Event | None = None
    gate_at: int = 0
    #: Cut the connection (no clean end of the body) before this delta.
    drop_at: int | None = None
    delay: float = 0.0  # seconds before answering at all (to provoke client timeouts)


def split(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def text_reply(pieces: Sequence[str], **kwargs: Any) -> Reply:
    """Assistant text arriving in ``pieces``."""
    deltas: list[Delta] = [{"role": "assistant", "content": "", "refusal": None}]
    deltas += [{"content": piece} for piece in pieces]
    return Reply(deltas=deltas, **kwargs)


def tool_reply(
    calls: Sequence[tuple[str, Sequence[str]]], content: Sequence[str] = (), **kwargs: Any
) -> Reply:
    """Tool calls ``(name, argument pieces)``, optionally after some text."""
    deltas: list[Delta] = []
    if content:
        deltas.append({"role": "assistant", "content": "", "refusal": None})
        deltas += [{"content": piece} for piece in content]
    for index, (name, pieces) in enumerate(calls):
        first = {
            "index": index,
            "id": f"call_{index}_{name}",
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        if deltas:
            deltas.append({"tool_calls": [first]})
        else:  # the documented first chunk of a tool-call-only answer
            deltas.append({"role": "assistant", "content": None, "tool_calls": [first]})
        deltas += [{"tool_calls": [{"index": index, "function": {"arguments": p}}]} for p in pieces]
    kwargs.setdefault("finish_reason", "tool_calls")
    return Reply(deltas=deltas, **kwargs)


def error_reply(
    status: int,
    message: str,
    *,
    type: str,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    error = {"message": message, "type": type, "param": None, "code": code}
    return Reply(status=status, error=error, headers=headers or {})


def stream_error_reply(reply: Reply, at: int, message: str, *, type: str) -> Reply:
    """``reply``, broken off before delta ``at`` by an in-stream error frame."""
    error = {"message": message, "type": type, "param": None, "code": None}
    return dataclasses.replace(reply, error=error, error_at=at)


class FakeOpenAI(ScriptedFake[Reply]):
    def __init__(self) -> None:
        super().__init__(
            lambda: error_reply(
                400, "fake server: no scripted reply left", type="fake_server_error"
            )
        )
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route(
                    "/openai/deployments/{deployment}/chat/completions",
                    self._chat,
                    methods=["POST"],
                ),
            ]
        )

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(
            Recorded(request.url.path, dict(request.query_params), dict(request.headers), body)
        )
        reply = self._next()
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.status != 200:
            return JSONResponse({"error": reply.error}, reply.status, headers=reply.headers)
        if body.get("stream"):
            return StreamingResponse(self._sse(reply, body), media_type="text/event-stream")
        return JSONResponse(self._completion(reply, body))

    def _envelope(self, body: dict[str, Any], object: str) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-fake{next(self._ids)}",
            "object": object,
            "created": int(time.time()),
            "model": body["model"],
            "system_fingerprint": "fp_fake",
        }

    async def _sse(self, reply: Reply, body: dict[str, Any]) -> AsyncIterator[str]:
        head = self._envelope(body, "chat.completion.chunk")
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        extra = {"usage": None} if include_usage else {}

        def frame(payload: Any) -> str:
            return f"data: {json.dumps(payload)}\n\n"

        def chunk(delta: Delta, finish: str | None) -> str:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return frame({**head, "choices": [choice], **extra})

        for i, delta in enumerate(reply.deltas):
            await before_step(reply, i)
            if reply.error is not None and i == reply.error_at:
                yield frame({"error": reply.error})
                return
            yield chunk(delta, None)
        yield chunk({}, reply.finish_reason)
        if include_usage:
            prompt, completion = reply.usage
            usage = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
            yield frame({**head, "choices": [], "usage": usage})
        yield "data: [DONE]\n\n"

    def _completion(self, reply: Reply, body: dict[str, Any]) -> dict[str, Any]:
        """The same answer as one non-streamed ``chat.completion`` object."""
        content: str | None = None
        calls: dict[int, dict[str, Any]] = {}
        for delta in reply.deltas:
            if delta.get("content") is not None:
                content = (content or "") + delta["content"]
            for fragment in delta.get("tool_calls", ()):
                call = calls.setdefault(
                    fragment["index"],
                    {"id": "", "type": "function", "function": {"name": "", "arguments": ""}},
                )
                call["id"] = fragment.get("id", call["id"])
                function = fragment.get("function", {})
                call["function"]["name"] += function.get("name", "")
                call["function"]["arguments"] += function.get("arguments", "")
        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
        if calls:
            message["tool_calls"] = [calls[i] for i in sorted(calls)]
        prompt, completion = reply.usage
        return {
            **self._envelope(body, "chat.completion"),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": reply.finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }


@contextlib.contextmanager
def running_fake_openai() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    with live_server(fake.app) as server:
        fake.url = server.url
        yield fake
