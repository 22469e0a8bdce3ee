"""The floor under "server CPU per event": the cheapest Python server that writes each event
the moment it happens. A bare Starlette ``StreamingResponse`` on uvicorn (uvloop, httptools,
as masai serve runs) whose generator sleeps ``interval`` and yields one ``{"i","t"}`` frame: no
agent, no log, no auth. Whatever masai or LangGraph spend per event beyond this is theirs; a
target below it cannot be met by any server that writes events one by one as they happen.

``python -m benchmarks._floor PORT`` serves it; ``floor_cpu`` measures it like ``stream``
measures the real servers (the process's CPU from the request to the last frame)."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from ._procs import cpu_mark, cpu_since, free_port, pin_tree
from ._sse_reader import Request, read

__all__ = ("floor_cpu",)


def app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request as HttpRequest
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    async def ticks(n: int, interval: float) -> AsyncIterator[bytes]:
        for i in range(n):
            await asyncio.sleep(interval)
            yield b'data: {"i": %d, "t": %.6f}\n\n' % (i, time.time())
        yield b"data: [DONE]\n\n"

    async def sse(request: HttpRequest) -> StreamingResponse:
        n, interval = int(request.query_params["n"]), float(request.query_params["interval"])
        return StreamingResponse(ticks(n, interval), media_type="text/event-stream")

    return Starlette(routes=[Route("/", sse)])


@contextlib.contextmanager
def floor_server() -> Iterator[tuple[subprocess.Popen[str], str]]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._floor", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the floor server did not start")
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


async def floor_cpu(n: int, interval: float, repeats: int) -> dict[str, Any]:
    """Median server CPU µs per event of the bare server over ``repeats`` streams."""
    samples = []
    with floor_server() as (proc, url):
        pin_tree(proc.pid, 0)
        await read(Request("GET", f"{url}/?n=50&interval={interval}"))  # warm-up
        for _ in range(repeats):
            mark = cpu_mark(proc.pid)
            got = await read(Request("GET", f"{url}/?n={n}&interval={interval}"))
            assert got.items == list(range(n)), len(got.items)
            samples.append(cpu_since(proc.pid, mark) / n * 1e6)
    return {"server_cpu_us_per_event": statistics.median(samples), "samples": samples}


def main() -> None:
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            print("ready", flush=True)  # (what ``floor_server`` waits for)

    port = int(sys.argv[1])
    Server(uvicorn.Config(app(), host="127.0.0.1", port=port, log_level="warning")).run()


if __name__ == "__main__":
    main()
