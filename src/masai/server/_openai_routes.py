"""``/v1/models`` and ``/v1/chat/completions``: masai's agents and systems as OpenAI models.

Vanilla OpenAI SDKs use them unchanged. A request's ``messages`` are the conversation; see
``ChatRequest`` for how that meets server-side sessions. A ``stream: false`` request is a run
like any other: capped, owned, and cancelled when its client leaves.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from ..exceptions import ServerShutdown
from ..streaming import EnhancedStreamHandler
from ..streaming.encoders import ChatEncoder, chat_usage, error_body
from ._errors import ERROR_RESPONSES
from ._gate import principal_of
from ._openai_compat import ChatRequest, completion
from ._response import read_to_end
from ._routes import SSE_RESPONSE, respond, runtime_of

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
    debug = runtime.settings.debug
    handler = EnhancedStreamHandler(enable_token_events=True, debug=debug)
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
    record, options = run.record, chat.options
    encoder = ChatEncoder(
        chat.model,
        f"chatcmpl-{record.run_id}",
        record.created,
        include_usage=options.include_usage,
        include_agent_events=options.include_agent_events if chat.stream else False,
        debug=debug,
    )
    encoder.watch(run.stream)
    if chat.stream:
        return respond(runtime, run, encoder)
    if await read_to_end(request, runtime.runs, record, encoder):
        return Response(status_code=499)  # (nobody is there to read it)
    outcome = encoder.outcome
    if (error := outcome.error) is not None:
        status = 503 if isinstance(error, ServerShutdown) else 500
        body = {"error": error_body(outcome, debug)}
        return JSONResponse(body, status, headers=run.headers)
    usage = chat_usage(outcome)
    return JSONResponse(completion(chat, record, encoder.text.text, usage), headers=run.headers)
