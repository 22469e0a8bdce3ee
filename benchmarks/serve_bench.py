"""What ``masai serve``'s safety features cost and buy, through a real server process.

Runs as its own process (``python -m benchmarks.serve_bench [--quick]``, JSON on stdout), a
client on uvloop pinned to CPU 1 with every server pinned to CPU 0, as in ``http_bench``:

* **sync tools**: N runs started at once, each calling a sync tool that sleeps 0.2 s, against
  one run alone; with the default ``--tool-threads`` and with ``--tool-threads 32``, and, as a
  control with no thread at all, an async tool awaiting 0.2 s. The server's CPU time during
  the burst is recorded too: with one event loop, a burst cannot end sooner than that.
* **auth and limits** (full mode, needs git history): the streaming workloads of ``http_bench``
  on today's server with an API key and run limits on, against the server before them (commit
  ``a8c7d12``), alternating the two.
* **session memory**: many runs with a fresh session and a 100 KB query each; the server's RSS
  before, halfway and after, and what ``/healthz`` says the sessions hold.

Every server gets the run caps raised (``http_bench.CAPS``): the client is one trusted backend.

The streams of the first and last are read by a minimal HTTP/1.1 client (a socket, one request,
read until ``data: [DONE]``): at 1,000 requests in the same instant, httpx's per-request cost on
the client's single CPU would show in the latencies it is supposed to measure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import statistics
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ._procs import cpu_seconds
from ._run import print_result
from .http_bench import CAPS, ROOT, pin, rss_mb, start_masai, stop, throughput

#: The server before this round's keys, gate and limits.
BEFORE = "a8c7d12"
#: The one principal every benchmark client is.
KEY = "bench-key-0123456789abcdef"
DONE = b"data: [DONE]"
#: The sync tool's output in the stream: its start and end times (``serve_apps.wait_on_io``).
TOOL_TIMES = re.compile(rb"wait_on_io\]\\n([0-9.]+) ([0-9.]+)")


# -- a minimal client --------------------------------------------------------------------------


def request_bytes(url: str, body: dict[str, Any]) -> bytes:
    """One ``POST /agent/stream`` that closes its connection after the response."""
    payload = json.dumps(body).encode()
    host = urlsplit(url).netloc
    head = (
        f"POST /agent/stream HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + payload


async def timed_run(url: str, request: bytes) -> float:
    """Seconds from opening the connection to the stream's ``data: [DONE]``."""
    return (await _exchange(url, request, keep=False))[0]


async def traced_run(url: str, request: bytes) -> tuple[float, float, float, bytes]:
    """``timed_run`` that also keeps the response: wall-clock start and end, and the bytes."""
    started = time.time()
    seconds, body = await _exchange(url, request, keep=True)
    return seconds, started, started + seconds, body


async def _exchange(url: str, request: bytes, keep: bool) -> tuple[float, bytes]:
    parts = urlsplit(url)
    t0 = time.perf_counter()
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    kept: list[bytes] = []
    try:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            status = head.split(b"\r\n", 1)[0]
            raise RuntimeError(f"the server answered {status!r}")
        tail = b""
        while True:
            piece = await reader.read(1 << 16)
            if not piece:
                raise RuntimeError("the stream ended before data: [DONE]")
            if keep:
                kept.append(piece)
            if DONE in tail + piece[: len(DONE)] or DONE in piece:
                return time.perf_counter() - t0, b"".join(kept)
            tail = piece[-len(DONE) :]
    finally:
        writer.close()


async def get_json(url: str, path: str) -> Any:
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode()
        )
        response = await reader.read()
    finally:
        writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    if b"chunked" in head.lower():
        body = _unchunk(body)
    return json.loads(body)


def _unchunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size, _, data = data.partition(b"\r\n")
        n = int(size, 16)
        if n == 0:
            break
        out += data[:n]
        data = data[n + 2 :]
    return bytes(out)


def threads_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextlib.contextmanager
def serving(*options: str, **how: Any) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc, url = start_masai(*options, **how)
    pin(proc.pid, 0)
    try:
        yield proc, url
    finally:
        stop(proc)


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(int(len(sorted_values) * fraction), len(sorted_values) - 1)]


# -- 1. sync tools -----------------------------------------------------------------------------


async def tool_burst(
    runs: int, singles: int, repeats: int, threads: str | None = None, tool: str = "sync"
) -> dict[str, Any]:
    """``runs`` runs started at once, each blocking a tool thread for 0.2 s (``tool="async"``:
    awaiting 0.2 s instead), against one run alone (``singles`` in a row, before the burst); a
    fresh server for every repetition, so every burst starts with no tool threads (they are
    made as needed). Each run's latency is split by its tool's own clock: before the tool
    started, and after it ended."""
    options = [*CAPS, *(["--tool-threads", threads] if threads else [])]
    config = f"benchmarks.serve_apps:build_{tool}_registry"
    bursts: list[dict[str, float]] = []
    alone: list[float] = []
    for _ in range(repeats):
        with serving(*options, config=config) as (proc, url):
            request = request_bytes(url, {"query": "go"})
            await timed_run(url, request)  # warm-up: first request, first tool thread
            alone += [await timed_run(url, request) for _ in range(singles)]
            cpu0 = cpu_seconds(proc.pid)
            t0 = time.perf_counter()
            traces = await asyncio.gather(*(traced_run(url, request) for _ in range(runs)))
            wall = time.perf_counter() - t0
            cpu = cpu_seconds(proc.pid) - cpu0
            threads_now = threads_of(proc.pid)
        latencies = sorted(t[0] for t in traces)
        before, after = [], []
        for _, started, ended, body in traces:
            match = TOOL_TIMES.search(body)
            assert match is not None, body[-500:]
            before.append(float(match.group(1)) - started)
            after.append(ended - float(match.group(2)))
        before.sort()
        after.sort()
        bursts.append(
            {
                "p50_s": percentile(latencies, 0.5),
                "p99_s": percentile(latencies, 0.99),
                "max_s": latencies[-1],
                "before_tool_p50_s": percentile(before, 0.5),
                "before_tool_p99_s": percentile(before, 0.99),
                "after_tool_p50_s": percentile(after, 0.5),
                "after_tool_p99_s": percentile(after, 0.99),
                "wall_s": wall,
                "server_cpu_s": cpu,
                "threads": threads_now,
            }
        )
    result: dict[str, Any] = {key: statistics.median(b[key] for b in bursts) for key in bursts[0]}
    result |= {"single_s": statistics.median(alone), "runs": runs, "repeats": repeats}
    result["tool_threads"] = threads or "default"
    result["tool"] = tool
    result["bursts"] = bursts
    return result


# -- 2. auth and limits ------------------------------------------------------------------------


def extract_before(into: Path) -> Path | None:
    """The ``src`` tree of commit ``BEFORE``, or None without git history."""
    if not (ROOT / ".git").exists():
        return None
    try:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "--format=tar", BEFORE, "src"],
            capture_output=True,
            check=False,
        )
    except OSError:  # (no git)
        return None
    if archive.returncode != 0:  # (a shallow clone without that commit)
        return None
    with tempfile.TemporaryFile() as tar_file:
        tar_file.write(archive.stdout)
        tar_file.seek(0)
        with tarfile.open(fileobj=tar_file) as tar:
            tar.extractall(into, filter="data")
    return into / "src"


async def auth_cost(streams: int, count: int, rounds: int) -> dict[str, Any]:
    """The ``http_bench`` throughput workloads on (a) today's server, every request with a key
    and the run limits on, and (b) the server at ``BEFORE``: both up at once, measured in turn,
    each workload on one right after the other (the order flipped every round), so that each
    pair sees the same machine; the host's speed drifts over tens of seconds."""
    with tempfile.TemporaryDirectory(prefix="masai-before-") as tmp:
        source = extract_before(Path(tmp))
        if source is None:
            return {"skipped": f"no git history here: cannot extract commit {BEFORE}"}
        auth = {"Authorization": f"Bearer {KEY}"}
        with (
            serving(*CAPS, "--api-key", f"bench:{KEY}") as (now_proc, now_url),
            serving(source=source) as (before_proc, before_url),
        ):
            servers = {
                "now": (now_proc.pid, now_url, auth),
                "before": (before_proc.pid, before_url, {}),
            }
            for _, url, headers in servers.values():
                await throughput(url, 10, 50, 0.001, headers)  # warm-up
            plans = {"paced": (count, 0.001), "saturated": (3 * count, 0.0)}
            samples: dict[str, dict[str, list[dict[str, float]]]] = {
                name: {plan: [] for plan in plans} for name in servers
            }
            names = list(servers)
            for i in range(rounds):
                for j, (plan, (events, interval)) in enumerate(plans.items()):
                    # A B, then B A: each server goes first in every other pair of a workload.
                    for name in names if (i + j) % 2 == 0 else names[::-1]:
                        pid, url, headers = servers[name]
                        cpu = cpu_seconds(pid)
                        measured = await throughput(url, streams, events, interval, headers)
                        cpu = cpu_seconds(pid) - cpu
                        measured["server_cpu_us_per_event"] = cpu / (streams * events) * 1e6
                        samples[name][plan].append(measured)
    result: dict[str, Any] = {"commit": BEFORE, "rounds": rounds, "streams": streams}
    result["events"] = count
    for name, runs_of in samples.items():
        result[name] = {
            plan: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
            for plan, runs in runs_of.items()
        }
        result[name]["rounds"] = runs_of
    # Each pair's own ratio: what drift between pairs cannot move.
    result["paired_ratio"] = {
        plan: {
            key: sorted(
                a[key] / b[key]
                for a, b in zip(samples["now"][plan], samples["before"][plan], strict=True)
            )
            for key in ("events_per_s", "p99_ms", "server_cpu_us_per_event")
        }
        for plan in plans
    }
    return result


# -- 3. session memory -------------------------------------------------------------------------


async def session_memory(runs: int, query_chars: int, concurrency: int) -> dict[str, Any]:
    """``runs`` runs of an echo agent, each a fresh session with a ``query_chars`` query,
    ``concurrency`` at a time; RSS before (after a warm-up), halfway and after, and what
    ``/healthz`` says the sessions hold."""
    with serving(*CAPS, config="benchmarks.serve_apps:build_echo_registry") as (proc, url):
        for _ in range(5):
            await timed_run(url, request_bytes(url, {"query": "warm-up"}))
        before = rss_mb(proc.pid)
        filler = "x" * query_chars
        t0 = time.perf_counter()
        halfway = 0.0
        for first, last in ((0, runs // 2), (runs // 2, runs)):
            pending = iter(range(first, last))

            async def worker(pending: Iterator[int] = pending) -> None:
                for i in pending:
                    label = f"{i} "
                    query = label + filler[len(label) :]
                    await timed_run(url, request_bytes(url, {"query": query}))

            await asyncio.gather(*(worker() for _ in range(concurrency)))
            halfway = halfway or rss_mb(proc.pid)
        elapsed = time.perf_counter() - t0
        after = rss_mb(proc.pid)
        health = await get_json(url, "/healthz")
        peak = peak_rss_mb(proc.pid)
    sessions = health["sessions"]
    return {
        "runs": runs,
        "query_chars": query_chars,
        "concurrency": concurrency,
        "rss_before_mb": before,
        "rss_halfway_mb": halfway,
        "rss_after_mb": after,
        "rss_peak_mb": peak,
        "sessions": sessions["sessions"],
        "session_bytes": sessions["bytes"],
        "session_max_bytes": sessions["max_bytes"],
        "seconds": elapsed,
    }


async def measure(quick: bool, only: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"pinned": pin(0, 1)}
    runs, singles, repeats = (100, 3, 1) if quick else (1_000, 10, 3)
    if only in (None, "tools"):
        result["sync_tools"] = await tool_burst(runs, singles, repeats)
        result["sync_tools_32"] = await tool_burst(runs, singles, repeats, threads="32")
        result["async_tools"] = await tool_burst(runs, singles, repeats, tool="async")
    if only in (None, "auth"):
        if quick:
            result["auth_cost"] = {"skipped": "quick mode"}
        else:
            result["auth_cost"] = await auth_cost(100, 1_000, 8)
    if only in (None, "sessions"):
        result["session_memory"] = await session_memory(500 if quick else 10_000, 100_000, 8)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serve_bench")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--only", choices=["tools", "auth", "sessions"], help="one section (for profiling)"
    )
    args = parser.parse_args()
    print_result(measure(args.quick, args.only))


if __name__ == "__main__":
    main()
