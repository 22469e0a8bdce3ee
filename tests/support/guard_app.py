"""A small app for the connection-guard tests and, run as a script, a ``MasaiServer`` process
for the shutdown tests: ``python tests/support/guard_app.py PORTFILE``.

Routes: ``/json``; ``/sse?n=N&size=B&interval=S`` (N events, or forever without ``n``);
``/state``, what the server side saw of its streams (so a test can tell that a disconnected
client's stream was really cancelled).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from masai.server._serve import ConnectionLimits, MasaiServer

logger = logging.getLogger("tests.guard_app")


@dataclass
class StreamState:
    started: int = 0
    active: int = 0
    completed: int = 0
    cancelled: int = 0
    closing: bool = False  # set by the drain: streams end with a terminal frame


def build_app(state: StreamState) -> Starlette:
    async def json_route(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def state_route(request: Request) -> Response:
        return JSONResponse(asdict(state))

    async def events(n: int | None, size: int, interval: float) -> AsyncIterator[bytes]:
        state.started += 1
        state.active += 1
        finished = False
        payload = "x" * size
        try:
            i = 0
            while n is None or i < n:
                if state.closing:
                    yield b"event: end\ndata: shutdown\n\n"
                    break
                yield f"id: {i}\ndata: {payload}\n\n".encode()
                i += 1
                if interval:
                    await asyncio.sleep(interval)
                elif i % 64 == 0:
                    await asyncio.sleep(0)  # an endless stream must not hog the loop
            finished = True
        finally:
            state.active -= 1
            if finished:
                state.completed += 1
            else:
                state.cancelled += 1
                logger.info("stream cancelled")

    async def sse_route(request: Request) -> Response:
        query = request.query_params
        n = int(query["n"]) if "n" in query else None
        size = int(query.get("size", "16"))
        interval = float(query.get("interval", "0"))
        return StreamingResponse(events(n, size, interval), media_type="text/event-stream")

    return Starlette(
        routes=[
            Route("/json", json_route),
            Route("/sse", sse_route),
            Route("/state", state_route),
        ]
    )


#: Like the app's: how long past its deadline the drain waits for streams' end frames.
END_FRAME_GRACE = 2.0


async def drain(state: StreamState, budget: float) -> None:
    """What the real app's drain does, in small: ask every stream to end with an end frame and
    wait for them, until the deadline and then a grace for the end frames (a stream stuck
    writing to a client that does not read can end only once the server drops that client)."""
    state.closing = True
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget + END_FRAME_GRACE
    while state.active and loop.time() < deadline:  # noqa: ASYNC110 (a test double)
        await asyncio.sleep(0.05)


def main(portfile: Path) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]

    def announce() -> None:
        partial = portfile.with_suffix(".tmp")
        partial.write_text(str(port))
        os.replace(partial, portfile)

    state = StreamState()
    server = MasaiServer(
        build_app(state),
        limits=ConnectionLimits(shutdown_timeout=2.0),
        drain=lambda budget: drain(state, budget),
        on_started=announce,
    )
    server.run(sockets=[sock])
    logger.info("final state %s", json.dumps(asdict(state)))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
