"""``/v1/models`` and ``/v1/chat/completions``: masai's agents and systems as OpenAI models.

Vanilla OpenAI SDKs use them unchanged. A request's ``messages`` are the conversation; see
``ChatRequest`` for how that meets server-side sessions. A ``stream: false`` request is a run
like any other: capped, owned, and cancelled when its client leaves.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from ..exceptions import ServerShutdown
from ..streaming import EnhancedStreamHandler
from ._errors import ERROR_RESPONSES
from ._gate import principal_of
from ._openai_compat import (
    ChatFrames,
    ChatOutcome,
    ChatRequest,
    FinalText,
    completion,
    error_body,
)
from ._routes import SSE_RESPONSE, respond, runtime_of
from ._runtime import Run, Runtime

__all__ = ("router",)

router = APIRouter()

_CHAT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "`chat.completion` JSON, or with `stream: true` Server-Sent Events of "
        "`chat.completion.chunk` frames ending in `data: [DONE]`",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "text/event-stream": {"schema": {"type": "string"}},
        },
    },
    **{k: v for k, v in SSE_RESPONSE.items() if k != 200},
}


@router.get("/v1/models", responses={k: ERROR_RESPONSES[k] for k in (400, 401)})
async def models(request: Request) -> dict[str, Any]:
    """The agents and systems this server runs, as OpenAI models."""
    created = int(time.time())
    registry = runtime_of(request).registry
    return {
        "object": "list",
        "data": [
            {
                "id": t.name,
                "object": "model",
                "created": created,
                "owned_by": "masai",
                "masai": {"kind": t.kind, "mode": t.mode, "description": t.description},
            }
            for t in registry.targets.values()
        ],
    }


@router.post("/v1/chat/completions", responses=_CHAT_RESPONSES, response_class=Response)
async def chat_completions(request: Request, chat: ChatRequest) -> Response:
    """A run as an OpenAI chat completion, streamed or not."""
    runtime = runtime_of(request)
    target = runtime.find(chat.model, None)
    handler = EnhancedStreamHandler(enable_token_events=True, debug=runtime.settings.debug)
    run = await runtime.start(
        handler,
        target,
        chat.query,
        owner=principal_of(request),
        session_id=chat.session_id,
        history=chat.history,
        remember=chat.session_id is not None,
        on_disconnect=chat.on_disconnect,
    )
    if chat.stream:
        return respond(runtime, run, ChatFrames(chat, run.record, run.stream))
    outcome = ChatOutcome(run.stream)
    left, text = await _collect(request, runtime, run, outcome)
    if left:
        return Response(status_code=499)  # (nobody is there to read it)
    if (error := outcome.error) is not None:
        status = 503 if isinstance(error, ServerShutdown) else 500
        return JSONResponse({"error": error_body(error)}, status, headers=run.headers)
    body = completion(chat, run.record, text, outcome.usage)
    return JSONResponse(body, headers=run.headers)


async def _collect(
    request: Request, runtime: Runtime, run: Run, outcome: ChatOutcome
) -> tuple[bool, str]:
    """(the client left, the answer): read the run's log to the end, unless the client
    leaves first; then the run is cancelled (its policy permitting), as a streamed one is."""
    text, left, ended = FinalText(), False, False
    runs, record = runtime.runs, run.record
    runs.attach(record)
    try:
        async with anyio.create_task_group() as group:

            async def watch_disconnect() -> None:
                nonlocal left
                while (await request.receive())["type"] != "http.disconnect":
                    pass
                left = True
                group.cancel_scope.cancel()

            group.start_soon(watch_disconnect)
            async for batch in runs.follow(record.owner, record.run_id):
                for entry in batch.entries():
                    if (event := outcome.read(entry)) is not None:
                        text.feed(event)
            ended = True
            group.cancel_scope.cancel()
    finally:
        runs.detach(record, ended=ended)
    return left, text.text
