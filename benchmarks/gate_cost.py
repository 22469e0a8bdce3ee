"""What the server's gate (Host check, API key, body read, security headers) adds to one
streamed request, in process: the same trivial ASGI app called bare and behind ``Gate``, in
alternating blocks. Over HTTP the cost of keys and limits is below what a shared machine lets a
throughput comparison resolve; this measures the part that keys add, per request and per write.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

from masai.server._gate import Gate
from masai.server._settings import ServerSettings

KEY = "bench-key-0123456789abcdef"
_BODY = json.dumps({"query": "1000 0.001"}).encode()
_HEADERS = [
    (b"host", b"127.0.0.1:8000"),
    (b"content-type", b"application/json"),
    (b"content-length", str(len(_BODY)).encode()),
    (b"authorization", f"Bearer {KEY}".encode()),
]


def _app(writes: int) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(writes):
            await send({"type": "http.response.body", "body": b"x", "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    return app


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": _BODY, "more_body": False}


async def _send(message: Any) -> None:
    pass


async def _block(target: Any, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/agent/stream",
            "headers": list(_HEADERS),
            "query_string": b"",
        }
        await target(scope, _receive, _send)
    return (time.perf_counter() - t0) / n * 1e6


async def gate_cost_us(blocks: int, per_block: int) -> dict[str, float]:
    """Median µs per request (no writes) and per write, bare and gated."""
    settings = ServerSettings.build({"api_keys": {"bench": KEY}})
    medians: dict[int, tuple[float, float]] = {}
    for writes in (0, 100):
        bare_app = _app(writes)
        gated_app = Gate(bare_app, settings)
        bare, gated = [], []
        for _ in range(blocks):
            bare.append(await _block(bare_app, per_block))
            gated.append(await _block(gated_app, per_block))
        medians[writes] = statistics.median(bare), statistics.median(gated)
    return {
        "request_bare_us": medians[0][0],
        "request_gated_us": medians[0][1],
        "write_bare_us": (medians[100][0] - medians[0][0]) / 100,
        "write_gated_us": (medians[100][1] - medians[0][1]) / 100,
    }
