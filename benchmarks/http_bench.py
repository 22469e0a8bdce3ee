"""Over HTTP: ``masai serve`` against a plain sse-starlette endpoint, both on uvicorn."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
T_FIELD = re.compile(rb'"t": ?([0-9.]+)')


def start_masai(*options: str) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "masai",
            "serve",
            "--port",
            "0",
            "--log-level",
            "warning",
            "--config",
            "benchmarks.http_apps:build_registry",
            *options,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("masai serving on "):
        proc.kill()
        raise RuntimeError(f"masai serve did not start: {line!r}")
    return proc, line.split()[-1]


def start_baseline() -> tuple[subprocess.Popen[str], str]:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "benchmarks.http_apps:baseline",
            "--fd",
            str(sock.fileno()),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        pass_fds=[sock.fileno()],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    sock.close()
    url = f"http://127.0.0.1:{port}"
    for _ in range(500):
        try:
            httpx.post(f"{url}/agent/stream", json={"query": "1 0"}, timeout=2)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.02)
    proc.kill()
    raise RuntimeError("the sse-starlette baseline did not start")


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _one(client: httpx.AsyncClient, url: str, query: str, lags: list[float]) -> int:
    """Receive one stream, timing each event. Cheap on purpose (a regex over raw bytes, not a
    parser per line): the client shares the machine with the server it measures."""
    received = 0
    tail = b""
    async with client.stream("POST", f"{url}/agent/stream", json={"query": query}) as response:
        async for piece in response.aiter_raw():
            now = time.time()
            data = tail + piece
            cut = _frames_end(data)  # only whole frames; the rest waits for more
            for match in T_FIELD.finditer(data, 0, cut):
                lags.append(now - float(match.group(1)))
                received += 1
            tail = data[cut:]
    return received


def _frames_end(data: bytes) -> int:
    """Where the last complete SSE frame ends (frames end in a blank line, LF or CRLF)."""
    lf, crlf = data.rfind(b"\n\n"), data.rfind(b"\r\n\r\n")
    return max(lf + 2 if lf >= 0 else 0, crlf + 4 if crlf >= 0 else 0)


async def throughput(url: str, streams: int, count: int, interval: float) -> dict[str, float]:
    """``streams`` clients at once, each receiving ``count`` events emitted ``interval`` apart."""
    lags: list[float] = []
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        t0 = time.perf_counter()
        counts = await asyncio.gather(
            *(_one(client, url, f"{count} {interval}", lags) for _ in range(streams))
        )
        elapsed = time.perf_counter() - t0
    assert all(c == count for c in counts), counts[:5]
    lags.sort()
    return {
        "events_per_s": sum(counts) / elapsed,
        "p50_ms": lags[len(lags) // 2] * 1e3,
        "p99_ms": lags[int(len(lags) * 0.99)] * 1e3,
        "seconds": elapsed,
    }


async def idle_rss(url: str, pid: int, streams: int) -> dict[str, float]:
    """Server RSS with ``streams`` idle SSE connections open."""
    before = rss_mb(pid)
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        opened: list[Any] = []
        ready = asyncio.Semaphore(0)

        async def hold() -> None:
            async with client.stream(
                "POST", f"{url}/agent/stream", json={"query": "hold"}
            ) as response:
                await response.aiter_bytes().__anext__()  # the first chunk: the stream is open
                ready.release()
                opened.append(response)
                await asyncio.sleep(3600)

        tasks = [asyncio.ensure_future(hold()) for _ in range(streams)]
        for _ in range(streams):
            await asyncio.wait_for(ready.acquire(), 60)
        await asyncio.sleep(1.0)
        during = rss_mb(pid)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {"rss_before_mb": before, "rss_mb": during, "streams": streams}
