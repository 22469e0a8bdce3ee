"""The FastAPI app: the spec's streaming routes, an OpenAI-compatible endpoint, the web UI.

All per-request state lives in the request's own ``EventStream``; the app holds the registry of
targets and run counters. Errors leave as ``{"error": {"message", "type", "code"}}`` with a 4xx
or 5xx status; internals go to the log, never to the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

import orjson
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..agents import RunContext
from ..exceptions import AgentNotFound, ConfigError
from ..streaming import EnhancedStreamHandler, EventStream, SimpleStreamHandler
from ..streaming.sse import DONE
from ._openai_compat import ChatRequest, ChatStreamEncoder, FinalText, completion, error_body
from ._pacing import WritePacing
from ._response import EventStreamResponse, Outcome, StreamEncoder
from ._targets import Registry, Target

__all__ = ("StreamRequest", "create_app")

logger = logging.getLogger("masai.server")

STATIC = Path(__file__).parent / "static"
#: The JS client ships in the wheel's static dir; in a source checkout it is read from js/.
CLIENT_DIRS = (STATIC, Path(__file__).resolve().parents[3] / "js")


class StreamRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    query: str = Field(min_length=1, max_length=100_000)
    agent: str | None = None
    system: str | None = None
    entry_agent: str | None = None
    session_id: str | None = Field(default=None, max_length=200)
    token_events: bool = False
    node_transitions: bool = False

    @field_validator("query")
    @classmethod
    def _not_blank(cls, query: str) -> str:
        if not query.strip():
            raise ValueError("the query is blank")
        return query


class _Error(Exception):
    def __init__(self, status: int, message: str, code: str, kind: str = "invalid_request_error"):
        self.status, self.message, self.code, self.kind = status, message, code, kind


def _error(status: int, message: str, code: str, kind: str = "invalid_request_error") -> Response:
    body = {"error": {"message": message, "type": kind, "code": code}}
    return JSONResponse(body, status_code=status)


async def _json_body(request: Request, limit: int) -> Any:
    """The request body as JSON, refusing anything larger than ``limit`` bytes early."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _Error(413, f"request body over {limit} bytes", "body_too_large")
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > limit:
            raise _Error(413, f"request body over {limit} bytes", "body_too_large")
    if not body.strip():
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _Error(400, f"malformed JSON: {exc}", "invalid_json") from None


def _validation_message(exc: ValidationError | RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg')}")
    return "; ".join(parts)


def create_app(
    registry: Registry | None = None,
    *,
    ping_interval: float = 15.0,
    write_interval: float = 0.003,
    pacing_load: float = 0.5,
    max_body_bytes: int = 1_000_000,
    api_key: str | None = None,
    debug: bool = False,
) -> FastAPI:
    """The masai server for ``registry`` (the built-in demo when omitted). With ``api_key``,
    the API routes want ``Authorization: Bearer <key>``; the UI and ``/healthz`` stay open.

    Every event is written the moment it is ready while the process has CPU to spare. From
    ``pacing_load`` of one CPU on, writes to one stream are ``write_interval`` seconds apart and
    events in between share a write (``WritePacing``): a busy server spends its time on events
    rather than syscalls, and its latency stays flat instead of queueing. ``pacing_load=0``
    paces always; ``write_interval=0`` never.
    """
    if ping_interval <= 0:
        raise ValueError("ping_interval must be > 0")
    pacing = WritePacing(write_interval, pacing_load)
    if registry is None:
        from .demo import build_demo

        registry = build_demo()
    runs: Counter[str] = Counter()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await registry.aclose()

    app = FastAPI(title="masai", version="0.1.0", lifespan=lifespan, docs_url="/docs")
    app.state.registry = registry
    app.state.runs = runs

    # -- errors, all in one shape ------------------------------------------------------------
    @app.exception_handler(_Error)
    async def _on_error(_: Request, exc: _Error) -> Response:
        return _error(exc.status, exc.message, exc.code, exc.kind)

    @app.exception_handler(RequestValidationError)
    async def _on_invalid(_: Request, exc: RequestValidationError) -> Response:
        return _error(422, _validation_message(exc), "invalid_request")

    @app.exception_handler(StarletteHTTPException)
    async def _on_http(_: Request, exc: StarletteHTTPException) -> Response:
        return _error(
            exc.status_code,
            str(exc.detail),
            "not_found" if exc.status_code == 404 else "http_error",
        )

    @app.exception_handler(Exception)
    async def _on_crash(_: Request, exc: Exception) -> Response:
        logger.error("request failed", exc_info=exc)
        return _error(500, "internal server error", "internal_error", "server_error")

    # -- helpers -------------------------------------------------------------------------------
    def check_key(request: Request) -> None:
        if api_key is None:
            return
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), api_key.encode()):
            raise _Error(401, "missing or wrong API key", "unauthorized", "authentication_error")

    def find(name: str | None, kind: Literal["agent", "system"] | None) -> Target:
        try:
            return registry.get(name, kind)
        except AgentNotFound as exc:
            raise _Error(404, str(exc), "not_found") from None

    async def stream_request(request: Request) -> StreamRequest:
        data = await _json_body(request, max_body_bytes)
        if data is None:  # the spec's form: POST /agent/stream?query=...
            data = dict(request.query_params)
        if not isinstance(data, dict):
            raise _Error(422, "the body must be a JSON object", "invalid_request")
        try:
            return StreamRequest.model_validate(data)
        except ValidationError as exc:
            raise _Error(422, _validation_message(exc), "invalid_request") from None

    def track() -> Callable[[Outcome], None]:
        runs["active"] += 1

        def done(outcome: Outcome) -> None:
            runs["active"] -= 1
            runs[outcome] += 1

        return done

    def run_of(
        target: Target,
        query: str,
        session_id: str | None,
        entry: str | None = None,
        context: RunContext | None = None,
    ) -> Callable[[], Awaitable[Any]]:
        async def run() -> Any:
            final = None
            async for update in target.updates(
                query, session_id=session_id, entry_agent=entry, context=context
            ):
                final = update
            return final

        return run

    def sse(handler: EnhancedStreamHandler, target: Target, body: StreamRequest) -> Response:
        try:
            run = run_of(target, body.query, body.session_id, body.entry_agent)
        except (ConfigError, AgentNotFound) as exc:
            raise _Error(422, str(exc), "invalid_request") from None
        stream = handler.open_stream(run)
        return respond(handler, stream, _SpecEncoder(handler, stream))

    def respond(
        handler: EnhancedStreamHandler, stream: EventStream, encoder: StreamEncoder
    ) -> EventStreamResponse:
        """Every streamed response: the server's pings and pacing, counted in ``/healthz``."""
        return EventStreamResponse(
            stream,
            encoder,
            headers=handler.get_headers(),
            ping_interval=ping_interval,
            pacing=pacing,
            on_done=track(),
        )

    def handler_for(body: StreamRequest, simple: bool = False) -> EnhancedStreamHandler:
        if simple:
            return SimpleStreamHandler(debug=debug)
        return EnhancedStreamHandler(
            enable_token_events=body.token_events,
            enable_node_transitions=body.node_transitions,
            debug=debug,
        )

    # -- the spec's routes ---------------------------------------------------------------------
    @app.post("/agent/stream")
    async def agent_stream(request: Request) -> Response:
        check_key(request)
        body = await stream_request(request)
        return sse(handler_for(body), find(body.agent, "agent"), body)

    @app.post("/agent/stream/simple")
    async def agent_stream_simple(request: Request) -> Response:
        check_key(request)
        body = await stream_request(request)
        return sse(handler_for(body, simple=True), find(body.agent, "agent"), body)

    @app.post("/mas/stream")
    async def mas_stream(request: Request) -> Response:
        check_key(request)
        body = await stream_request(request)
        target = find(body.system, "system")
        if body.entry_agent is not None:
            find(body.entry_agent, "agent")  # an unknown entry agent is a 404, not a failed run
        return sse(handler_for(body), target, body)

    # -- OpenAI-compatible -----------------------------------------------------------------------
    @app.get("/v1/models")
    async def models(request: Request) -> dict[str, Any]:
        check_key(request)
        created = int(time.time())
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

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        check_key(request)
        data = await _json_body(request, max_body_bytes)
        try:
            chat = ChatRequest.model_validate(data)
        except ValidationError as exc:
            raise _Error(422, _validation_message(exc), "invalid_request") from None
        target = find(chat.model, None)
        handler = EnhancedStreamHandler(enable_token_events=True, debug=debug)
        stream = handler.open_stream(run_of(target, chat.query, chat.session_id))
        if chat.stream:
            return respond(handler, stream, ChatStreamEncoder(chat, stream))
        done = track()
        text = FinalText()
        try:
            stream.start()
            while (batch := await stream.next_batch()) is not None:
                for event in batch:
                    text.feed(event)
        finally:
            await stream.aclose()
            done(
                "failed"
                if stream.error
                else "completed"
                if stream.task and stream.task.done()
                else "cancelled"
            )
        if stream.error is not None:
            return JSONResponse({"error": error_body(stream.error)}, status_code=500)
        return JSONResponse(completion(chat, stream, text.text))

    # -- operations and UI ---------------------------------------------------------------------
    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        counts = {k: runs[k] for k in ("active", "completed", "cancelled", "failed")}
        loop = type(asyncio.get_running_loop()).__module__.partition(".")[0]  # uvloop / asyncio
        return {"status": "ok", "runs": counts, "event_loop": loop}

    @app.get("/")
    async def index() -> Response:
        return _static_file(STATIC, "index.html")

    @app.get("/static/{name}")
    async def static(name: str) -> Response:
        if name.startswith("masai-client."):
            for directory in CLIENT_DIRS:
                if (directory / name).is_file():
                    return _static_file(directory, name)
        return _static_file(STATIC, name)

    return app


def _static_file(directory: Path, name: str) -> Response:
    path = (directory / name).resolve()
    if path.parent != directory.resolve() or not path.is_file():
        raise HTTPException(404, f"no such file: {name}")
    media = {
        ".js": "text/javascript",
        ".ts": "text/plain",
        ".css": "text/css",
        ".html": "text/html",
    }.get(path.suffix)
    return FileResponse(path, media_type=media, headers={"Cache-Control": "no-cache"})


class _SpecEncoder:
    """The spec's chunks for the server response (role, events, stop or error, ``[DONE]``)."""

    def __init__(self, handler: EnhancedStreamHandler, stream: EventStream) -> None:
        from ..streaming import ChunkEncoder

        self.handler = handler
        self.chunks = ChunkEncoder(handler.model, stream.chunk_id, stream.created, sink=stream)

    def start(self) -> bytes:
        return self.chunks.chunk({"role": "assistant"})

    def events(self, batch: list[Any]) -> bytes:
        return self.chunks.events(batch)

    def finish(self, stream: EventStream) -> bytes:
        return self.handler.final_chunk(stream, self.chunks) + DONE.encode()
