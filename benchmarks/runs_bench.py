"""Resumable runs: ``masai serve``'s ``POST /runs`` + ``GET /runs/{id}/events`` against
LangGraph's Agent Server (``langgraph dev``, in-memory runtime), in the same run.

Runs as its own process (``python -m benchmarks.runs_bench [--quick] [--only SECTION ...]``, JSON
on stdout), the client on uvloop pinned to CPU 1 and each server (every thread of its process
tree) pinned to CPU 0, as in ``http_bench``. Each server runs alone, one after the other.

The workload is the same on both: a run whose tool (masai: ``runs_apps.emit_ticks``; LangGraph:
a graph node with ``get_stream_writer()``, ``langgraph_runs/graph.py``) writes ``N`` custom
events ``{"i": i, "t": time.time()}``, one per millisecond on a deadline schedule.

Streams are read by a minimal client (a socket per request, chunked bodies decoded by hand,
regexes over whole frames), JSON calls made with httpx. Server CPU is read from ``/proc`` for
the server's whole process tree: every thread's ``schedstat`` (ns), or the processes' tick
counts if a thread exited meanwhile.

* **idle**: the server's CPU per second with nothing to do (its background loops), once.
* **stream**: start a run and read it to its end, no drop. Server CPU per event (from before
  the start request to the run's end as the server reports it, divided by ``N``) and start →
  first custom event (masai: ``POST /runs`` then ``GET /runs/{id}/events``; LangGraph:
  ``POST /threads/{tid}/runs/stream``, the thread made beforehand, untimed).
* **drop and resume**: each trial drops the connection at ``drops`` random points (a random
  custom event index; the drop happens after the read that brought it, as a client's would) and
  reconnects after a random 5-25 ms pause (so the first frame back is a replayed one) with
  ``Last-Event-ID``: the ``id`` of the last frame received (masai: ``GET /runs/{id}/events``;
  LangGraph: ``GET /threads/{tid}/runs/{rid}/stream``, the run made with
  ``stream_resumable: true``). The time from the reconnect's request to the first frame with an
  ``id`` is one latency sample; the concatenated custom payloads of a trial are compared with
  ``0..N-1``: duplicates (received more than once) and losses (never received). masai's frame
  ids are checked too: ``0, 1, 2, ...`` with no gap and no repeat across connections.
* **replay**: a finished run's log of ``replay_events`` events (emitted back to back) read
  whole by one client (masai: ``GET /runs/{id}/events``; LangGraph: the join stream with
  ``Last-Event-ID: 0``), events/s; median of a few reads.
* **viewers**: ``viewers`` clients on one run of ``N`` events at 1/ms, all from its start
  (LangGraph: ``Last-Event-ID: 0``, since a join without one only gets what comes after it).
  Start to the last viewer's end, the server's CPU over that, viewers that got every event
  exactly once, and each live event's lag (its ``t`` to the viewer's receive time; events
  emitted before the viewer's stream opened are left out, their lag is the viewer's own
  connect time), p99 over all; medians of a few repetitions.
* **log cost** (in process, masai only): the pipeline benchmark's workload
  (``pipeline.FakeAgent``, ``log_events`` events in a tight loop) through an ``EventStream``
  (``EnhancedStreamHandler``, as ``pipeline.cpu_per_event``) and through
  ``masai.streaming.Runs`` (each event encoded into the run's log, read back in batches as
  ``GET /runs/{id}/events`` reads it, and event by event through ``RunHandle.events()``), in a
  rotating order; median CPU µs per event of each.

LangGraph's server is installed on first use into its own virtualenv, ``.venvs/langgraph-api``
(never into masai's); where it cannot be installed or started, its columns say why.
"""

from __future__ import annotations

import abc
import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from .http_bench import CAPS, pin, start_masai, stop

HERE = Path(__file__).resolve().parent
#: LangGraph's Agent Server, pinned: the versions the numbers in the README were taken with.
LANGGRAPH_SPEC = (
    "langgraph-cli[inmem]==0.4.40",
    "langgraph-api==0.16.7",
    "langgraph-runtime-inmem==0.36.7",
)
LANGGRAPH_VENV = HERE / ".venvs" / "langgraph-api"
LANGGRAPH_GRAPH = HERE / "langgraph_runs"
#: ``langgraph dev`` as its docs start it, without the browser and the file watcher.
LANGGRAPH_DEV = ("dev", "--no-browser", "--no-reload")

#: A frame's ``id:`` line, and a custom event's payload (masai: in ``delta.custom_data``).
ID_LINE = re.compile(rb"(?:^|\n)id: ?([^\r\n]*)")
ITEM = re.compile(rb'"i": ?([0-9]+), ?"t": ?([0-9.]+)')
DONE = b"data: [DONE]"
TLS = ssl.create_default_context()  # unused on http://; one for every client


# -- process trees -----------------------------------------------------------------------------


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from ``/proc``)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo += children.get(p, [])
    return found


def _ticks(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its descendants (every thread, exited ones
    too), in clock ticks (10 ms)."""
    total = 0
    for p in tree(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _task_ns(pid: int) -> dict[int, int]:
    """Nanoseconds on CPU of every live thread of ``pid`` and its descendants (schedstat)."""
    found: dict[int, int] = {}
    for p in tree(pid):
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{p}/task").iterdir():
                with contextlib.suppress(OSError, ValueError):
                    found[int(task.name)] = int((task / "schedstat").read_text().split()[0])
    return found


@dataclass
class CpuMark:
    ticks: float
    tasks: dict[int, int]


def cpu_mark(pid: int) -> CpuMark:
    return CpuMark(_ticks(pid), _task_ns(pid))


def cpu_since(pid: int, mark: CpuMark) -> float:
    """CPU seconds the server's process tree used since ``mark``: to the nanosecond from each
    thread's schedstat, or, if a thread exited in between (its time would be missed), from the
    processes' tick counts."""
    now = _task_ns(pid)
    if set(mark.tasks) <= set(now):
        return sum(ns - mark.tasks.get(tid, 0) for tid, ns in now.items()) / 1e9
    return _ticks(pid) - mark.ticks


def pin_tree(pid: int, index: int) -> None:
    """Every thread of ``pid`` and its descendants on the ``index``-th CPU (threads made before
    pinning keep their own affinity: each one is pinned)."""
    for p in tree(pid):
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{p}/task").iterdir():
                with contextlib.suppress(OSError):
                    pin(int(task.name), index)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- reading a stream --------------------------------------------------------------------------


@dataclass
class Request:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None


@dataclass
class Reading:
    """What one connection brought: frame ids and custom payloads in order, and when."""

    ids: list[str] = field(default_factory=list)
    items: list[int] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    first_id_at: float | None = None
    first_item_at: float | None = None
    done: bool = False
    dropped: bool = False
    location: str | None = None


def _frames_end(data: bytes) -> int:
    """Where the last complete SSE frame ends (frames end in a blank line, LF or CRLF)."""
    lf, crlf = data.rfind(b"\n\n"), data.rfind(b"\r\n\r\n")
    return max(lf + 2 if lf >= 0 else 0, crlf + 4 if crlf >= 0 else 0)


@contextlib.asynccontextmanager
async def open_stream(request: Request) -> AsyncIterator[tuple[int, dict[str, str], Any]]:
    """One request on its own connection, by hand (a socket, HTTP/1.1, chunked bodies
    decoded): the status, the headers and the body as it comes, one piece per socket read.
    A stream reader's cost per read is what a client pays per event at 1 event/ms; httpx's,
    for 100 viewers on the client's one CPU, would land in the lags it is meant to measure."""
    parts = urlsplit(request.url)
    body = b"" if request.body is None else json.dumps(request.body).encode()
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"{request.method} {path} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
    lines += ["Accept: text/event-stream", *(f"{k}: {v}" for k, v in request.headers.items())]
    if request.body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write("\r\n".join(lines).encode() + b"\r\n\r\n" + body)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        headers = {}
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower().decode()] = value.strip().decode()
        chunked = headers.get("transfer-encoding", "").lower() == "chunked"
        yield status, headers, _dechunked(reader) if chunked else _plain(reader)
    finally:
        writer.close()


async def _plain(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    while piece := await reader.read(1 << 16):
        yield piece


async def _dechunked(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    """A chunked body's data, as much as each socket read completes (a chunk's data is passed
    on as it arrives, not held back until the whole chunk is in)."""
    buf, left, after_data = b"", 0, False
    while more := await reader.read(1 << 16):
        buf += more
        out, pos, end_of_buf = [], 0, len(buf)
        while pos < end_of_buf:
            if left:
                take = min(left, end_of_buf - pos)
                out.append(buf[pos : pos + take])
                pos, left, after_data = pos + take, left - take, True
                continue
            skip = pos + (2 if after_data else 0)  # (the CRLF after a chunk's data)
            line_end = buf.find(b"\r\n", skip)
            if line_end < 0:
                break
            size = int(buf[skip:line_end].split(b";")[0], 16)
            pos, after_data = line_end + 2, False
            if size == 0:
                if out:
                    yield b"".join(out)
                return
            left = size
        buf = buf[pos:]
        if out:
            yield b"".join(out)


async def read(request: Request, drop_after: int | None = None, lags: bool = False) -> Reading:
    """Read one stream to its end (masai: ``data: [DONE]``; LangGraph: the end of the body),
    or, with ``drop_after``, close it after the read that brought that many custom events.
    Cheap on purpose (regexes over whole frames, not a parser per line): the client shares the
    machine with the server it measures."""
    got = Reading()
    tail = b""
    async with open_stream(request) as (status, headers, pieces):
        if status != 200:
            rest = b"".join([piece async for piece in pieces])
            raise RuntimeError(f"{request.method} {request.url}: {status} {rest[:500]!r}")
        got.location = headers.get("content-location")
        opened = time.time()  # lags: live events only (emitted after the stream opened)
        async for piece in pieces:
            now = time.time()
            data = tail + piece
            cut = _frames_end(data)
            if cut:
                ids = ID_LINE.findall(data, 0, cut)
                if ids:
                    got.first_id_at = got.first_id_at or now
                    got.ids += [i.decode() for i in ids]
                for i, t in ITEM.findall(data, 0, cut):
                    got.items.append(int(i))
                    if lags and float(t) >= opened:
                        got.lags.append(now - float(t))
                if got.items and got.first_item_at is None:
                    got.first_item_at = now
                if DONE in data[:cut]:
                    got.done = True
                    break
                if drop_after is not None and len(got.items) >= drop_after:
                    got.dropped = True
                    break
            tail = data[cut:]
    return got


async def count_events(request: Request, expect: int) -> int:
    """Read a stream until its end or its ``expect``-th custom event, counting custom events
    only (a regex count per read). (A LangGraph join ends up to 0.5 s after its last event: it
    polls the run's status when its queue has been empty that long.)"""
    count, tail = 0, b""
    async with open_stream(request) as (status, _, pieces):
        assert status == 200, status
        async for piece in pieces:
            data = tail + piece
            cut = _frames_end(data)
            count += len(ITEM.findall(data, 0, cut))
            if count >= expect or DONE in data[:cut]:
                break
            tail = data[cut:]
    return count


def new_client() -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    return httpx.AsyncClient(timeout=120, verify=TLS, limits=limits)


# -- the two servers ---------------------------------------------------------------------------


class Target(abc.ABC):
    """One server and how its runs are started, read, resumed and waited for."""

    name = ""
    pid = 0

    async def prepare(self, client: httpx.AsyncClient) -> Any:
        """Untimed set-up before a run (LangGraph: a thread)."""
        return None

    @abc.abstractmethod
    async def begin(
        self, client: httpx.AsyncClient, prep: Any, n: int, interval: float
    ) -> tuple[Any, Request]:
        """Start a run (or get the request that starts it): its handle and the request that
        streams it from its start."""

    def located(self, run: Any, reading: Reading) -> Any:
        """The run's handle once its first stream answered (LangGraph names it only there)."""
        return run

    @abc.abstractmethod
    def resume(self, run: Any, last_id: str) -> Request:
        """The request that reads the run on from ``last_id``."""

    @abc.abstractmethod
    async def background(
        self, client: httpx.AsyncClient, n: int, interval: float
    ) -> tuple[Any, Request]:
        """Start a run nobody reads: its handle, and the request that reads it from its start."""

    @abc.abstractmethod
    async def wait(self, client: httpx.AsyncClient, run: Any) -> None:
        """Until the run has finished, as the server says."""


class Masai(Target):
    name = "masai"

    def __init__(self, url: str, pid: int) -> None:
        self.url, self.pid = url, pid

    async def begin(
        self, client: httpx.AsyncClient, prep: Any, n: int, interval: float
    ) -> tuple[Any, Request]:
        run_id = await self._start(client, n, interval)
        return run_id, Request("GET", f"{self.url}/runs/{run_id}/events")

    async def _start(self, client: httpx.AsyncClient, n: int, interval: float) -> str:
        response = await client.post(
            f"{self.url}/runs", json={"agent": "ticks", "query": f"{n} {interval}"}
        )
        if response.status_code != 201:
            raise RuntimeError(f"POST /runs: {response.status_code} {response.text[:500]}")
        return str(response.json()["run_id"])

    def resume(self, run: Any, last_id: str) -> Request:
        return Request("GET", f"{self.url}/runs/{run}/events", {"Last-Event-ID": last_id})

    async def background(
        self, client: httpx.AsyncClient, n: int, interval: float
    ) -> tuple[Any, Request]:
        return await self.begin(client, None, n, interval)

    async def wait(self, client: httpx.AsyncClient, run: Any) -> None:
        for _ in range(12_000):
            status = (await client.get(f"{self.url}/runs/{run}")).json()["status"]
            if status in ("completed", "failed", "cancelled"):
                assert status == "completed", status
                return
            await asyncio.sleep(0.01)
        raise TimeoutError(f"run {run} did not finish")


class LangGraph(Target):
    name = "langgraph"

    def __init__(self, url: str, pid: int) -> None:
        self.url, self.pid = url, pid

    def _body(self, n: int, interval: float) -> dict[str, Any]:
        return {
            "assistant_id": "ticks",
            "input": {"n": n, "interval": interval},
            "stream_mode": ["custom"],
            "stream_resumable": True,
            "on_disconnect": "continue",
        }

    async def prepare(self, client: httpx.AsyncClient) -> Any:
        response = await client.post(f"{self.url}/threads", json={})
        response.raise_for_status()
        return response.json()["thread_id"]

    async def begin(
        self, client: httpx.AsyncClient, prep: Any, n: int, interval: float
    ) -> tuple[Any, Request]:
        return None, Request(
            "POST", f"{self.url}/threads/{prep}/runs/stream", {}, self._body(n, interval)
        )

    def located(self, run: Any, reading: Reading) -> Any:
        # Content-Location: /threads/{tid}/runs/{rid}
        assert reading.location, "the run stream named no run"
        return reading.location

    def resume(self, run: Any, last_id: str) -> Request:
        headers = {"Last-Event-ID": last_id}
        return Request("GET", f"{self.url}{run}/stream?stream_mode=custom", headers)

    async def background(
        self, client: httpx.AsyncClient, n: int, interval: float
    ) -> tuple[Any, Request]:
        thread = await self.prepare(client)
        response = await client.post(
            f"{self.url}/threads/{thread}/runs", json=self._body(n, interval)
        )
        response.raise_for_status()
        run = f"/threads/{thread}/runs/{response.json()['run_id']}"
        # A join with no Last-Event-ID only gets what comes after it: "0" is before every id.
        return run, self.resume(run, "0")

    async def wait(self, client: httpx.AsyncClient, run: Any) -> None:
        response = await client.get(f"{self.url}{run}/join")
        response.raise_for_status()


# -- langgraph dev -----------------------------------------------------------------------------


def langgraph_python() -> tuple[str | None, str]:
    """The interpreter of LangGraph's own virtualenv, installing it on first use (or again when
    ``LANGGRAPH_SPEC`` changed); ``(None, why)`` if it cannot be installed here."""
    python = LANGGRAPH_VENV / "bin" / "python"
    stamp = LANGGRAPH_VENV / ".installed"
    want = " ".join(LANGGRAPH_SPEC)
    if python.exists() and stamp.exists() and stamp.read_text() == want:
        return str(python), ""
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", "--clear", str(LANGGRAPH_VENV)],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                *LANGGRAPH_SPEC,
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=900,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        return None, f"cannot install {' '.join(LANGGRAPH_SPEC)}: {detail.strip()[-300:]}"
    stamp.write_text(want)
    return str(python), ""


@contextlib.contextmanager
def langgraph_server(python: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``langgraph dev --no-browser --no-reload`` on a free port, from a scratch copy of
    ``langgraph_runs`` (the in-memory runtime writes its state next to ``langgraph.json``)."""
    with tempfile.TemporaryDirectory(prefix="masai-langgraph-") as scratch:
        for name in ("graph.py", "langgraph.json"):
            shutil.copy(LANGGRAPH_GRAPH / name, scratch)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env |= {
            "LANGSMITH_TRACING": "false",
            "LANGCHAIN_TRACING_V2": "false",
            "LANGGRAPH_CLI_NO_ANALYTICS": "1",
            "LOG_LEVEL": "WARNING",  # as masai serve's --log-level warning
        }
        cli = str(Path(python).parent / "langgraph")
        proc = subprocess.Popen(
            [cli, *LANGGRAPH_DEV, "--port", str(port)],
            cwd=scratch,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"langgraph dev exited with {proc.returncode}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError("langgraph dev did not answer /ok within 120 s")
                time.sleep(0.1)
            yield proc, url
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@contextlib.contextmanager
def masai_server() -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc, url = start_masai(*CAPS, config="benchmarks.runs_apps:build_registry")
    try:
        yield proc, url
    finally:
        stop(proc)


# -- the measures ------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * fraction), len(ordered) - 1)]


async def stream(target: Target, n: int, interval: float, repeats: int) -> dict[str, Any]:
    """Runs read start to end without a drop: the server's CPU per event (from before the
    start request to the run's end, as the server reports it), start → first frame with an
    ``id``, start → first custom event."""
    cpu, first_frame, first_event = [], [], []
    for _ in range(repeats):
        async with new_client() as client:
            prep = await target.prepare(client)
            mark = cpu_mark(target.pid)
            t0 = time.time()
            run, request = await target.begin(client, prep, n, interval)
            got = await read(request)
            await target.wait(client, target.located(run, got))
            cpu.append(cpu_since(target.pid, mark) / n * 1e6)
        assert got.items == list(range(n)), (target.name, len(got.items))
        assert got.first_item_at is not None and got.first_id_at is not None
        first_frame.append((got.first_id_at - t0) * 1e3)
        first_event.append((got.first_item_at - t0) * 1e3)
    return {
        "server_cpu_us_per_event": statistics.median(cpu),
        "first_frame_ms": statistics.median(first_frame),
        "first_event_ms": statistics.median(first_event),
        "samples": {
            "server_cpu_us_per_event": cpu,
            "first_frame_ms": first_frame,
            "first_event_ms": first_event,
        },
    }


async def idle(target: Target, seconds: float) -> float:
    """The server's CPU per second with nothing to do (its background loops)."""
    mark = cpu_mark(target.pid)
    await asyncio.sleep(seconds)
    return cpu_since(target.pid, mark) / seconds


async def drop_and_resume(
    target: Target, n: int, interval: float, trials: int, drops: int, seed: int
) -> dict[str, Any]:
    """``trials`` runs, each dropped at ``drops`` random points and resumed each time:
    reconnect latency, and the payloads received against ``0..n-1``."""
    rng = random.Random(seed)
    latencies: list[float] = []
    duplicates = losses = id_errors = 0
    per_trial = []
    for _ in range(trials):
        points = sorted(rng.sample(range(1, n), drops))
        items: list[int] = []
        ids: list[str] = []
        async with new_client() as client:
            prep = await target.prepare(client)
            run, request = await target.begin(client, prep, n, interval)
            resumed = False
            while True:
                # The next drop point still ahead (one read may bring several events).
                while points and points[0] <= len(items):
                    points.pop(0)
                want = points[0] - len(items) if points else None
                t0 = time.time()
                got = await read(request, drop_after=want)
                if resumed and got.first_id_at is not None:
                    latencies.append((got.first_id_at - t0) * 1e3)
                if not resumed:
                    run = target.located(run, got)
                items += got.items
                ids += got.ids
                if not got.dropped:
                    break  # the end of the run
                await asyncio.sleep(rng.uniform(0.005, 0.025))
                request = target.resume(run, ids[-1])
                resumed = True
        seen = set(items)
        dup = len(items) - len(seen)
        lost = len(set(range(n)) - seen)
        duplicates += dup
        losses += lost
        if target.name == "masai":  # frame ids: 0, 1, 2, ... across every connection
            numbered = [int(i) for i in ids]
            id_errors += numbered[0] != 0
            id_errors += sum(1 for a, b in itertools.pairwise(numbered) if b != a + 1)
        per_trial.append({"events": len(items), "duplicates": dup, "losses": lost})
    return {
        "trials": trials,
        "drops_per_trial": drops,
        "reconnects": len(latencies),
        "reconnect_p50_ms": percentile(latencies, 0.5) if latencies else None,
        "reconnect_p99_ms": percentile(latencies, 0.99) if latencies else None,
        "duplicates": duplicates,
        "losses": losses,
        "id_errors": id_errors,
        "per_trial": per_trial,
        "latencies_ms": latencies,
    }


async def replay(target: Target, n: int, repeats: int) -> dict[str, Any]:
    """A finished run of ``n`` events (emitted back to back) read whole by one client."""
    rates = []
    async with new_client() as client:
        run, request = await target.background(client, n, 0.0)
        await target.wait(client, run)
        for _ in range(repeats):
            t0 = time.perf_counter()
            count = await count_events(request, n)
            rates.append(count / (time.perf_counter() - t0))
            assert count == n, (target.name, count, n)
    return {"events": n, "events_per_s": statistics.median(rates), "samples": rates}


async def viewers(target: Target, n: int, interval: float, count: int) -> dict[str, Any]:
    """``count`` viewers of one run of ``n`` events, all from its start."""
    async with new_client() as client:
        mark = cpu_mark(target.pid)
        t0 = time.perf_counter()
        _run, request = await target.background(client, n, interval)
        readings = await asyncio.gather(*(read(request, lags=True) for _ in range(count)))
        seconds = time.perf_counter() - t0
        cpu = cpu_since(target.pid, mark)
    complete = sum(1 for r in readings if r.items == list(range(n)))
    lags = [lag for r in readings for lag in r.lags]
    return {
        "viewers": count,
        "events": n,
        "seconds": seconds,
        "server_cpu_s": cpu,
        "server_cpu_us_per_delivered_event": cpu / (count * n) * 1e6,
        "complete_viewers": complete,
        "lag_p50_ms": percentile(lags, 0.5) * 1e3,
        "lag_p99_ms": percentile(lags, 0.99) * 1e3,
    }


async def measure_target(target: Target, plan: dict[str, Any]) -> dict[str, Any]:
    n, interval = plan["events"], plan["interval"]
    async with new_client() as client:  # warm-up: imports, first requests
        prep = await target.prepare(client)
        _, request = await target.begin(client, prep, 50, interval)
        await read(request)
    return {
        "idle_cpu_ms_per_s": await idle(target, plan["idle_seconds"]) * 1e3,
        "stream": await stream(target, n, interval, plan["repeats"]),
        "resume": await drop_and_resume(
            target, n, interval, plan["trials"], plan["drops"], plan["seed"]
        ),
        "replay": await replay(target, plan["replay_events"], plan["repeats"]),
        "viewers": await crowd(target, n, interval, plan["viewers"], plan["viewer_repeats"]),
    }


async def crowd(
    target: Target, n: int, interval: float, count: int, repeats: int
) -> dict[str, Any]:
    """``viewers`` ``repeats`` times: the median of each number, and the fewest complete
    viewers of any repetition."""
    runs = [await viewers(target, n, interval, count) for _ in range(repeats)]
    result: dict[str, Any] = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    result["complete_viewers"] = min(r["complete_viewers"] for r in runs)
    result["repeats"] = runs
    return result


# -- the log's cost, in process ----------------------------------------------------------------


async def log_cost(n: int, repeats: int) -> dict[str, Any]:
    """The pipeline benchmark's tight loop (``pipeline.FakeAgent``: ``n`` custom events, no
    yield between them) through an ``EventStream`` as ``pipeline.cpu_per_event`` measures it
    (``EnhancedStreamHandler``: events → SSE text, read by one consumer), and through
    ``masai.streaming.Runs``: each event encoded once into the run's in-process log, read back
    (a) as ``GET /runs/{id}/events`` reads it, in batches of frames (``Runs.follow``), and (b)
    through the Python API, event by event (``RunHandle.events()``). Each repetition runs the
    three in a rotated order; median CPU µs per event of each."""
    from masai.streaming import Runs

    from .pipeline import FakeAgent, drain

    runs = Runs()

    async def follow() -> int:
        handle = await runs.start(FakeAgent(n), "q")
        frames = 0
        async for batch in runs.follow(handle.record.owner, handle.run_id):
            frames += len(batch.frames)
        return frames

    async def events() -> int:
        handle = await runs.start(FakeAgent(n), "q")
        count = 0
        async for _ in handle.events():
            count += 1
        return count

    ways: dict[str, Callable[[], Awaitable[Any]]] = {
        "stream": lambda: drain(FakeAgent(n), count=False),
        "runs_follow": follow,
        "runs_events": events,
    }
    samples: dict[str, list[float]] = {name: [] for name in ways}
    try:
        assert await drain(FakeAgent(n)) >= n
        assert await follow() >= n and await events() >= n
        names = list(ways)
        for i in range(repeats):
            for name in names[i % 3 :] + names[: i % 3]:
                t0 = time.process_time()
                await ways[name]()
                samples[name].append((time.process_time() - t0) / n * 1e6)
    finally:
        await runs.aclose()
    result: dict[str, Any] = {"events": n, "repeats": repeats}
    for name, values in samples.items():
        result[f"{name}_us_per_event"] = statistics.median(values)
    stream_us = result["stream_us_per_event"]
    result["overhead"] = result["runs_follow_us_per_event"] / stream_us - 1
    result["overhead_events_api"] = result["runs_events_us_per_event"] / stream_us - 1
    result["samples"] = samples
    return result


# -- all of it ---------------------------------------------------------------------------------


def plan_for(quick: bool) -> dict[str, Any]:
    if quick:
        return {
            "events": 300,
            "interval": 0.001,
            "repeats": 2,
            "trials": 3,
            "drops": 2,
            "replay_events": 2_000,
            "viewers": 20,
            "viewer_repeats": 1,
            "log_events": 2_000,
            "log_repeats": 5,
            "idle_seconds": 1.0,
            "seed": 11,
        }
    return {
        "events": 1_000,
        "interval": 0.001,
        "repeats": 5,
        "trials": 12,
        "drops": 8,
        "replay_events": 10_000,
        "viewers": 100,
        "viewer_repeats": 3,
        "log_events": 10_000,
        "log_repeats": 21,
        "idle_seconds": 5.0,
        "seed": 11,
    }


SECTIONS = ("masai", "langgraph", "log")


async def measure(quick: bool, only: tuple[str, ...] = SECTIONS) -> dict[str, Any]:
    plan = plan_for(quick)
    result: dict[str, Any] = {"plan": plan, "pinned": pin(0, 1)}
    if "masai" in only:
        with masai_server() as (proc, url):
            pin_tree(proc.pid, 0)
            result["masai"] = await measure_target(Masai(url, proc.pid), plan)
    if "langgraph" not in only:
        result["langgraph"] = {"unavailable": "not measured in this run (--only)"}
    else:
        python, why = langgraph_python()
        if python is None:
            result["langgraph"] = {"unavailable": why}
        else:
            try:
                with langgraph_server(python) as (lg_proc, lg_url):
                    pin_tree(lg_proc.pid, 0)
                    target = LangGraph(lg_url, lg_proc.pid)
                    result["langgraph"] = await measure_target(target, plan)
            except (RuntimeError, OSError, httpx.HTTPError) as exc:
                result["langgraph"] = {"unavailable": f"{type(exc).__name__}: {exc}"[:300]}
    if "log" in only:
        result["log_cost"] = await log_cost(plan["log_events"], plan["log_repeats"])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.runs_bench")
    parser.add_argument("--quick", action="store_true", help="smoke mode (seconds)")
    parser.add_argument(
        "--only", nargs="+", choices=SECTIONS, default=SECTIONS, help="some sections only"
    )
    args = parser.parse_args()
    try:
        import uvloop

        run: Any = uvloop.run
    except ImportError:
        run = asyncio.run
    sys.stdout.write(json.dumps(run(measure(args.quick, tuple(args.only)))) + "\n")


if __name__ == "__main__":
    main()
