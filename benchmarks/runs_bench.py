"""Resumable runs: ``masai serve``'s ``POST /runs`` + ``GET /runs/{id}/events`` against
LangGraph's Agent Server (``langgraph dev``, in-memory runtime), in the same run.

Runs as its own process (``python -m benchmarks.runs_bench [--quick] [--only SECTION ...]``, JSON
on stdout), the client on uvloop pinned to CPU 1 and each server (every thread of its process
tree) pinned to CPU 0, as in ``http_bench``. Each server runs alone, one after the other.

The workload is the same on both: a run whose tool (masai: ``runs_apps.emit_ticks``; LangGraph:
a graph node with ``get_stream_writer()``, ``langgraph_runs/graph.py``) writes ``N`` custom
events ``{"i": i, "t": time.time()}``, one per millisecond on a deadline schedule.

Streams are read by a minimal client (``_sse_reader``: a socket per request, chunked bodies
decoded by hand, regexes over whole frames), JSON calls made with httpx; each server is a
``_targets.Target``. Server CPU is read from ``/proc`` for the server's whole process tree
(``_procs``): every thread's ``schedstat`` (ns), or the processes' tick counts if a thread
exited meanwhile.

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

LangGraph's server (``_langgraph``) is installed on first use into its own virtualenv,
``.venvs/langgraph-api`` (never into masai's); where it cannot be installed or started, its
columns say why.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from ._floor import floor_cpu
from ._langgraph import LangGraph, langgraph_python, langgraph_server
from ._procs import cpu_mark, cpu_since, pin_tree
from ._run import print_result
from ._sse_reader import count_events, read
from ._targets import Masai, Target, masai_server, new_client
from .http_bench import pin
from .serve_bench import percentile

# -- the measures ------------------------------------------------------------------------------


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
        "reconnect_p50_ms": percentile(sorted(latencies), 0.5) if latencies else None,
        "reconnect_p99_ms": percentile(sorted(latencies), 0.99) if latencies else None,
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
        "lag_p50_ms": percentile(sorted(lags), 0.5) * 1e3,
        "lag_p99_ms": percentile(sorted(lags), 0.99) * 1e3,
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
            frames += len(batch)
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
    if "masai" in only:
        result["floor"] = await floor_cpu(plan["events"], plan["interval"], plan["repeats"])
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
    print_result(measure(args.quick, tuple(args.only)))


if __name__ == "__main__":
    main()
