"""The two servers of the HTTP benchmark.

* ``build_registry``: ``masai serve --config benchmarks.http_apps:build_registry``, one agent
  whose tool emits ``COUNT INTERVAL`` events (the query), or holds the stream open ("hold").
* ``baseline``: a plain sse-starlette endpoint emitting the same events, one write each.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from masai import emit_custom_event, tool
from masai.server import Registry

from ._tick_agent import plan, registry


async def _pace(start: float, i: int, interval: float) -> None:
    """Sleep until event ``i + 1`` is due: deadlines, not fixed sleeps, so the rate is one per
    ``interval`` however coarse the loop's timers are (uvloop's are 1 ms) or busy the loop is."""
    await asyncio.sleep(max(0.0, start + (i + 1) * interval - time.monotonic()))


@tool
async def emit_events(count: int, interval: float) -> str:
    """Emits ``count`` progress events, ``interval`` seconds apart (or holds the stream)."""
    if count == 0:
        await asyncio.sleep(interval)
    start = time.monotonic()
    for i in range(count):
        await emit_custom_event("tick", {"i": i, "t": time.time()})
        await _pace(start, i, interval)
    return "done"


def build_registry() -> Registry:
    return registry("bench", emit_events, "benchmarking")


async def _events(count: int, interval: float) -> AsyncIterator[dict[str, str]]:
    if count == 0:
        await asyncio.sleep(interval)
    start = time.monotonic()
    for i in range(count):
        chunk = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "bench",
            "choices": [
                {
                    "index": 0,
                    "delta": {"content": "tick", "custom_data": {"i": i, "t": time.time()}},
                    "finish_reason": None,
                }
            ],
            "event_type": "custom",
            "metadata": {},
        }
        yield {"data": json.dumps(chunk)}
        await _pace(start, i, interval)
    yield {"data": "[DONE]"}


async def _stream(request: Request) -> EventSourceResponse:
    body = await request.json()
    return EventSourceResponse(_events(*plan(body["query"])))


baseline = Starlette(routes=[Route("/agent/stream", _stream, methods=["POST"])])
