"""Over HTTP: ``masai serve`` against a plain sse-starlette endpoint, both on uvicorn.

Runs as its own process (``python -m benchmarks.http_bench [--quick]``, JSON on stdout) so the
client can have its own event loop (uvloop, as the servers have) and, on a machine with two or
more CPUs, its own CPU: each server is pinned to CPU 0 and the client to CPU 1. A uvicorn worker
uses one core whatever the machine has; pinning keeps client and server from competing for the
same one, so latency measures the server, not the scheduler.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import ssl
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from ._run import print_result
from ._sse_reader import frames_end

ROOT = Path(__file__).resolve().parents[1]
T_FIELD = re.compile(rb'"t": ?([0-9.]+)')


CPUS = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


def pin(pid: int, index: int) -> bool:
    """Run ``pid`` (0: this process) on the ``index``-th CPU, if the machine has two or more."""
    if len(CPUS) < 2:
        return False
    os.sched_setaffinity(pid, {CPUS[index]})
    return True


#: Run caps raised for every benchmark server: a benchmark is one trusted backend opening
#: hundreds of streams at once (1,000 idle ones, 100 at a time, 1,000 sync-tool runs), which
#: ``masai serve``'s per-principal defaults (100 in flight, a burst of 100, 20 runs/s) refuse.
CAPS = (
    "--max-runs",
    "5000",
    "--max-runs-per-principal",
    "5000",
    "--run-burst",
    "5000",
    "--global-run-burst",
    "5000",
    "--run-rate",
    "10000",
    "--global-run-rate",
    "10000",
)


def start_masai(
    *options: str,
    config: str = "benchmarks.http_apps:build_registry",
    source: Path | None = None,
) -> tuple[subprocess.Popen[str], str]:
    """``masai serve`` on a free port; ``source``: run the masai package found in that ``src``
    directory (an older version) instead of this checkout's."""
    path = str(ROOT) if source is None else f"{source}{os.pathsep}{ROOT}"
    env = {**os.environ, "PYTHONPATH": path}
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
            config,
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


async def _one(
    client: httpx.AsyncClient, url: str, query: str, lags: list[float], headers: dict[str, str]
) -> int:
    """Receive one stream, timing each event. Cheap on purpose (a regex over raw bytes, not a
    parser per line; a client per stream, since one pool of 100 connections scans itself on
    every read): the client shares the machine with the server it measures."""
    received = 0
    tail = b""
    async with (
        client,
        client.stream(
            "POST", f"{url}/agent/stream", json={"query": query}, headers=headers
        ) as response,
    ):
        async for piece in response.aiter_raw():
            now = time.time()
            data = tail + piece
            cut = frames_end(data)  # only whole frames; the rest waits for more
            for match in T_FIELD.finditer(data, 0, cut):
                lags.append(now - float(match.group(1)))
                received += 1
            tail = data[cut:]
    return received


async def throughput(
    url: str, streams: int, count: int, interval: float, headers: dict[str, str] | None = None
) -> dict[str, float]:
    """``streams`` clients at once, each receiving ``count`` events emitted ``interval`` apart
    (``headers``: sent with every request, e.g. an API key)."""
    lags: list[float] = []
    tls = ssl.create_default_context()  # unused on http://, but each client would load its own
    clients = [httpx.AsyncClient(timeout=120, verify=tls) for _ in range(streams)]
    t0 = time.perf_counter()
    query = f"{count} {interval}"
    counts = await asyncio.gather(*(_one(c, url, query, lags, headers or {}) for c in clients))
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


async def measure(quick: bool, server_options: list[str]) -> dict[str, Any]:
    """Each server in turn, alone on the machine: streaming throughput and latency under the
    load of the issue, a light one and with no pacing at all (medians of three runs), then the
    memory of idle connections."""
    streams, count = (10, 100) if quick else (100, 1_000)
    light = 2 if quick else 10
    repeats = 1 if quick else 3
    idle_streams = 100 if quick else 1_000
    result: dict[str, Any] = {
        "streams": streams,
        "light_streams": light,
        "events": count,
        "idle_streams": idle_streams,
    }
    result["pinned"] = pin(0, 1)
    servers = {
        "masai": lambda: start_masai(*CAPS, *server_options),
        "sse-starlette": start_baseline,
    }
    for name, start in servers.items():
        proc, url = start()
        pin(proc.pid, 0)
        try:
            await throughput(url, 10, 50, 0.001)  # warm-up: imports, first requests
            result[name] = await _median_run(url, streams, count, repeats)
            result[name]["light"] = await _median_run(url, light, count, repeats)
            # Capacity: the same clients, events emitted back to back (the 1/ms workload caps
            # every server at 100 clients × 1,000/s, so it cannot show what a server sustains).
            result[name]["saturated"] = await _median_run(url, streams, 3 * count, repeats, 0.0)
            result[name]["rss_after_load_mb"] = rss_mb(proc.pid)
        finally:
            stop(proc)
        # Idle connections on a fresh server: what they cost, not what the runs above left
        # (masai keeps finished runs' logs for reconnects, up to --run-retention-max-bytes).
        proc, url = start()
        pin(proc.pid, 0)
        try:
            await throughput(url, 10, 50, 0.001)  # warm-up
            result[name]["idle"] = await idle_rss(url, proc.pid, idle_streams)
        finally:
            stop(proc)
    return result


async def _median_run(
    url: str, streams: int, count: int, repeats: int, interval: float = 0.001
) -> dict[str, Any]:
    runs = [await throughput(url, streams, count, interval) for _ in range(repeats)]
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http_bench")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("server_options", nargs="*", help="extra options for masai serve")
    args = parser.parse_args()
    print_result(measure(args.quick, args.server_options))


if __name__ == "__main__":
    main()
