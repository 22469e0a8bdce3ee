"""Scale-out on Redis: a real deployment (a private ``redis-server``, ``masai serve --backend``
API servers, ``masai worker`` processes) against the in-process server (``masai serve`` without
``--backend``), same agents (``redis_apps``), all in one run, loopback only.

Runs as its own process (``python -m benchmarks.redis_bench [--quick]``, JSON on stdout). It
starts every process it measures and stops them all, on errors too. Nothing is pinned: the
machine's CPUs are shared by the client, the API servers, the workers and Redis, as they would
be on one small host; numbers are medians of repeats, the two sides interleaved where they can
be, so a noisy neighbour lands on both.

* **latency**: one run of ``events`` custom events at 1/ms, read from its start by one client
  (``_sse_reader``): each live event's latency is now − its emit time (the event carries
  ``time.time()``; same machine, same clock), p50/p99 per run; and a run of ``burst`` events
  emitted back to back: events/s from the first custom event to the end frame, at the client.
  Every event of every run is checked off ``0..n-1``: lost and duplicated events are counted.
* **throughput**: ``runs`` CPU-bound runs (``burner``: ``steps`` sync tool calls, each burning
  ``ms`` of CPU in pure Python) posted at once; runs/s = runs / (the last run's ``finished_at``
  − the first POST). With one worker, then two (``--concurrency`` 4 each), and on the in-process
  server.
* **resume**: a run of ``events`` at 1/ms read from API server A, dropped at ``drops`` random
  points, each time reconnecting with ``Last-Event-ID`` after 5-25 ms (so the first frame back
  is a replayed one), either to the other API server each time or to A: reconnect request →
  first frame with an ``id``. Both kinds of trial alternate; payloads and frame ids are checked
  across connections (no loss, no duplicate, ids ``0, 1, 2, ...``).
* **control**: an ``approver`` run waits for approval (seen in ``GET /runs/{id}``): the round
  trip of ``POST /runs/{id}/approvals/{call}`` (it returns once the run's executor applied the
  decision), and POST → the stream's end frame. A slow ``ticks`` run, a few events in:
  ``POST /runs/{id}/cancel?wait=true`` round trip, and POST → the stream's end frame.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable
from typing import Any

import httpx

from ._procs import free_port
from ._run import print_result
from ._sse_reader import Reading, Request, read
from ._targets import new_client
from .http_bench import CAPS, ROOT, start_masai, stop
from .serve_bench import percentile

CONFIG = "benchmarks.redis_apps:registry"
TERMINAL = ("completed", "failed", "cancelled")
#: How long a control may take to show in the run's stream before it counts as not applied.
STUCK = 10.0
#: Each worker's options: 4 runs at once (CPU-bound runs gain nothing from more in one
#: process), and no grace at the end (the benchmark is over).
WORKER = ("--config", CONFIG, "--concurrency", "4", "--grace", "0", "--log-level", "warning")


# -- the processes -----------------------------------------------------------------------------


def start_redis() -> tuple[subprocess.Popen[bytes], str]:
    """A private ``redis-server`` on a free loopback port, nothing saved; answers PING."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(500):
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5) as s:
            s.sendall(b"PING\r\n")
            if s.recv(64).startswith(b"+PONG"):
                return proc, f"redis://127.0.0.1:{port}/0"
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    proc.kill()
    raise RuntimeError("redis-server did not start")


def start_worker(backend: str) -> subprocess.Popen[str]:
    """``masai worker`` on ``backend``, once it says it is ready."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "masai", "worker", "--backend", backend, *WORKER],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("masai worker"):
        proc.kill()
        raise RuntimeError(f"masai worker did not start: {line!r}")
    return proc


class Deployment(contextlib.ExitStack):
    """Redis, two API servers, workers and the in-process server; ``close`` stops them all
    (the API servers and workers before Redis)."""

    def __init__(self) -> None:
        super().__init__()
        self.backend = ""
        self.api: list[str] = []
        self.inproc = ""

    def start(self) -> None:
        redis, self.backend = start_redis()
        self.callback(_stop_bytes, redis)  # (callbacks run last-in first-out: Redis last)
        for _ in range(2):
            self.api.append(self._serve("--backend", self.backend))
        self.inproc = self._serve()
        self.add_worker()

    def _serve(self, *options: str) -> str:
        proc, url = start_masai(*CAPS, *options, config=CONFIG)
        self.callback(stop, proc)
        return url

    def add_worker(self) -> None:
        self.callback(stop, start_worker(self.backend))


def _stop_bytes(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


# -- calls -------------------------------------------------------------------------------------


async def start_run(client: httpx.AsyncClient, url: str, agent: str, query: str) -> str:
    response = await client.post(f"{url}/runs", json={"agent": agent, "query": query})
    if response.status_code != 201:
        raise RuntimeError(f"POST /runs: {response.status_code} {response.text[:500]}")
    return str(response.json()["run_id"])


async def record_of(client: httpx.AsyncClient, url: str, run_id: str) -> dict[str, Any]:
    response = await client.get(f"{url}/runs/{run_id}")
    response.raise_for_status()
    return dict(response.json())


async def finished(client: httpx.AsyncClient, url: str, run_id: str) -> dict[str, Any]:
    """The run's record once it has finished (polled every 20 ms, for at most 2 minutes)."""
    for _ in range(6_000):
        record = await record_of(client, url, run_id)
        if record["status"] in TERMINAL:
            return record
        await asyncio.sleep(0.02)
    raise TimeoutError(f"run {run_id} did not finish")


def events_of(url: str, run_id: str, last_id: str | None = None) -> Request:
    headers = {} if last_id is None else {"Last-Event-ID": last_id}
    return Request("GET", f"{url}/runs/{run_id}/events", headers)


async def timed(work: Awaitable[Reading]) -> tuple[Reading, float]:
    """A stream's reading and when it ended (``time.time()``)."""
    got = await work
    return got, time.time()


def pcts(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return percentile(ordered, 0.5), percentile(ordered, 0.99)


def checked(items: list[int], n: int) -> tuple[int, int]:
    """(lost, duplicated) custom events against ``0..n-1``."""
    seen = set(items)
    return len(set(range(n)) - seen), len(items) - len(seen)


# -- 1. latency and events/s -------------------------------------------------------------------


async def latency_once(url: str, events: int, burst: int) -> dict[str, Any]:
    """One paced run (latency of its live events) and one burst run (events/s at the client)."""
    async with new_client() as client:
        run_id = await start_run(client, url, "ticks", f"{events} 0.001")
        paced = await read(events_of(url, run_id), lags=True)
        run_id = await start_run(client, url, "ticks", f"{burst} 0")
        fast, ended = await timed(read(events_of(url, run_id)))
    lost, dup = checked(paced.items, events)
    lost_b, dup_b = checked(fast.items, burst)
    assert fast.first_item_at is not None and paced.lags, (url, len(paced.items))
    p50, p99 = pcts(paced.lags)
    return {
        "p50_ms": p50 * 1e3,
        "p99_ms": p99 * 1e3,
        "live_events": len(paced.lags),
        "events_per_s": burst / max(ended - fast.first_item_at, 1e-6),
        "lost": lost + lost_b,
        "duplicates": dup + dup_b,
        "ended": paced.done and fast.done,
    }


async def latency(targets: dict[str, str], plan: dict[str, Any]) -> dict[str, Any]:
    """``latency_once`` on each target, interleaved, ``repeats`` times: medians, and the lost
    and duplicated events summed."""
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
    for _ in range(plan["repeats"]):
        for name, url in targets.items():
            samples[name].append(await latency_once(url, plan["events"], plan["burst"]))
    out: dict[str, Any] = {"events": plan["events"], "burst": plan["burst"]}
    for name, runs in samples.items():
        out[name] = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        out[name] |= {
            "lost": sum(r["lost"] for r in runs),
            "duplicates": sum(r["duplicates"] for r in runs),
            "ended": all(r["ended"] for r in runs),
            "runs": len(runs),
            "repeats": runs,
        }
    return out


# -- 2. throughput -----------------------------------------------------------------------------


async def throughput_once(url: str, runs: int, steps: int, ms: float) -> dict[str, Any]:
    """``runs`` CPU-bound runs posted at once: runs/s to the last one's ``finished_at``."""
    async with new_client() as client:
        t0 = time.time()
        query = f"steps={steps} ms={ms}"
        ids = await asyncio.gather(*(start_run(client, url, "burner", query) for _ in range(runs)))
        records = [await finished(client, url, run_id) for run_id in ids]
    completed = sum(1 for r in records if r["status"] == "completed")
    last = max(r["finished_at"] for r in records)
    return {"runs_per_s": runs / (last - t0), "seconds": last - t0, "completed": completed}


async def throughput(url: str, plan: dict[str, Any]) -> dict[str, Any]:
    runs = [
        await throughput_once(url, plan["runs"], plan["steps"], plan["ms"])
        for _ in range(plan["throughput_repeats"])
    ]
    return {
        "runs": plan["runs"],
        "runs_per_s": statistics.median(r["runs_per_s"] for r in runs),
        "completed": min(r["completed"] for r in runs),
        "repeats": runs,
    }


# -- 3. resume on another server ---------------------------------------------------------------


async def resume_trial(
    servers: list[str], other: bool, n: int, drops: int, rng: random.Random
) -> dict[str, Any]:
    """One run read from ``servers[0]``, dropped at ``drops`` random points and resumed each
    time on the other server (``other``) or the same one."""
    points = sorted(rng.sample(range(1, n), drops))
    items: list[int] = []
    ids: list[str] = []
    latencies: list[float] = []
    where = 0
    async with new_client() as client:
        run_id = await start_run(client, servers[0], "ticks", f"{n} 0.001")
    request, resumed = events_of(servers[0], run_id), False
    while True:
        while points and points[0] <= len(items):
            points.pop(0)  # (one read may bring several events)
        t0 = time.time()
        got = await read(request, drop_after=points[0] - len(items) if points else None)
        if resumed and got.first_id_at is not None:
            latencies.append((got.first_id_at - t0) * 1e3)
        items += got.items
        ids += got.ids
        if not got.dropped:
            break
        await asyncio.sleep(rng.uniform(0.005, 0.025))
        where = 1 - where if other else where
        request, resumed = events_of(servers[where], run_id, ids[-1]), True
    numbered = [int(i) for i in ids]
    id_errors = (numbered[0] != 0) + sum(b != a + 1 for a, b in itertools.pairwise(numbered))
    lost, dup = checked(items, n)
    return {"latencies": latencies, "lost": lost, "duplicates": dup, "id_errors": id_errors}


async def resume(servers: list[str], plan: dict[str, Any]) -> dict[str, Any]:
    rng = random.Random(plan["seed"])
    out: dict[str, Any] = {"trials": plan["trials"], "drops_per_trial": plan["drops"]}
    results: dict[str, list[dict[str, Any]]] = {"other": [], "same": []}
    for trial in range(2 * plan["trials"]):
        kind = "other" if trial % 2 == 0 else "same"
        got = await resume_trial(servers, kind == "other", plan["events"], plan["drops"], rng)
        results[kind].append(got)
    for kind, trials in results.items():
        latencies = [ms for t in trials for ms in t["latencies"]]
        p50, p99 = pcts(latencies)
        out[kind] = {
            "reconnects": len(latencies),
            "reconnect_p50_ms": p50,
            "reconnect_p99_ms": p99,
            "lost": sum(t["lost"] for t in trials),
            "duplicates": sum(t["duplicates"] for t in trials),
            "id_errors": sum(t["id_errors"] for t in trials),
            "latencies_ms": latencies,
        }
    return out


# -- 4. control --------------------------------------------------------------------------------


async def approval_once(
    client: httpx.AsyncClient, url: str, stuck: float = STUCK
) -> tuple[float, float, str]:
    """POST approval round trip and POST → end frame (ms), and the run's final status. The
    decision is posted the moment the call shows as pending, as a UI does."""
    run_id = await start_run(client, url, "approver", "publish it")
    reader = asyncio.create_task(timed(read(events_of(url, run_id))))
    for _ in range(2_000):
        if pending := (await record_of(client, url, run_id))["pending_approvals"]:
            break
        await asyncio.sleep(0.01)
    else:
        raise TimeoutError("no approval was ever asked for")
    call = pending[0]["tool_call_id"]
    t0 = time.time()
    response = await client.post(f"{url}/runs/{run_id}/approvals/{call}", json={"approved": True})
    rtt = time.time() - t0
    response.raise_for_status()
    try:
        got, ended = await asyncio.wait_for(reader, stuck)
    except TimeoutError:  # (the decision never reached the run: say so, and move on)
        await client.post(f"{url}/runs/{run_id}/cancel", params={"wait": "true"})
        return rtt * 1e3, stuck * 1e3, "approval not applied"
    record = await finished(client, url, run_id)
    ok = got.done and "published" in str(record["answer"])
    return rtt * 1e3, (ended - t0) * 1e3, record["status"] if ok else "wrong"


async def cancel_once(client: httpx.AsyncClient, url: str) -> tuple[float, float, str]:
    """POST cancel?wait=true round trip and POST → end frame (ms), and the final status."""
    run_id = await start_run(client, url, "ticks", "100000 0.005")
    reader = asyncio.create_task(timed(read(events_of(url, run_id))))
    for _ in range(2_000):
        if (await record_of(client, url, run_id))["event_count"] >= 5:
            break
        await asyncio.sleep(0.01)
    t0 = time.time()
    response = await client.post(f"{url}/runs/{run_id}/cancel", params={"wait": "true"})
    rtt = time.time() - t0
    response.raise_for_status()
    try:
        got, ended = await asyncio.wait_for(reader, STUCK)
    except TimeoutError:
        return rtt * 1e3, STUCK * 1e3, "stream did not end"
    status = response.json()["status"] if got.done else "stream did not end"
    return rtt * 1e3, (ended - t0) * 1e3, status


async def control(targets: dict[str, str], repeats: int) -> dict[str, Any]:
    """Approvals and cancels on each target, interleaved: p50/p99 of each time."""
    raw: dict[str, dict[str, list[Any]]] = {
        name: {k: [] for k in ("approve_ms", "approve_end_ms", "cancel_ms", "cancel_end_ms", "st")}
        for name in targets
    }
    async with new_client() as client:
        for _ in range(repeats):
            for name, url in targets.items():
                got = raw[name]
                rtt, end, status = await approval_once(client, url)
                got["approve_ms"].append(rtt)
                got["approve_end_ms"].append(end)
                got["st"].append(("completed", status))
                rtt, end, status = await cancel_once(client, url)
                got["cancel_ms"].append(rtt)
                got["cancel_end_ms"].append(end)
                got["st"].append(("cancelled", status))
    out: dict[str, Any] = {"repeats": repeats}
    for name, got in raw.items():
        out[name] = {"as_expected": sum(want == st for want, st in got["st"]), "of": len(got["st"])}
        for key in ("approve_ms", "approve_end_ms", "cancel_ms", "cancel_end_ms"):
            p50, p99 = pcts(got[key])
            out[name] |= {f"{key[:-3]}_p50_ms": p50, f"{key[:-3]}_p99_ms": p99}
        out[name]["samples"] = {k: v for k, v in got.items() if k != "st"}
    return out


# -- all of it ---------------------------------------------------------------------------------


def plan_for(quick: bool) -> dict[str, Any]:
    if quick:
        return {
            "events": 300,
            "burst": 1_000,
            "repeats": 2,
            "runs": 12,
            "steps": 2,
            "ms": 20.0,
            "throughput_repeats": 1,
            "trials": 2,
            "drops": 2,
            "control_repeats": 3,
            "seed": 7,
        }
    return {
        "events": 1_000,
        "burst": 5_000,
        "repeats": 5,
        "runs": 40,
        "steps": 3,
        "ms": 25.0,
        "throughput_repeats": 3,
        "trials": 6,
        "drops": 5,
        "control_repeats": 15,
        "seed": 7,
    }


async def warm_up(urls: list[str]) -> None:
    """A short run of each agent on each server (imports, first connections) untimed."""
    async with new_client() as client:
        for url in urls:
            for agent, query in (("ticks", "20 0.001"), ("burner", "steps=1 ms=1")):
                await finished(client, url, await start_run(client, url, agent, query))


async def measure(quick: bool) -> dict[str, Any]:
    plan = plan_for(quick)
    started = time.perf_counter()
    result: dict[str, Any] = {"plan": plan, "cpus": os.cpu_count()}
    with Deployment() as deployment:
        deployment.start()
        api, inproc = deployment.api, deployment.inproc
        await warm_up([*api, inproc])
        targets = {"redis": api[0], "in_process": inproc}
        result["latency"] = await latency(targets, plan)
        result["resume"] = await resume(api, plan)
        result["control"] = await control(targets, plan["control_repeats"])
        result["throughput"] = {
            "in_process": await throughput(inproc, plan),
            "workers_1": await throughput(api[0], plan),
        }
        deployment.add_worker()
        await throughput_once(api[0], 8, 1, 1.0)  # (the new worker's warm-up)
        result["throughput"]["workers_2"] = await throughput(api[0], plan)
    result["seconds"] = time.perf_counter() - started
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.redis_bench")
    parser.add_argument("--quick", action="store_true", help="smoke mode (seconds)")
    print_result(measure(parser.parse_args().quick))


if __name__ == "__main__":
    main()
