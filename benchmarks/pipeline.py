"""Event pipeline, in process: a tool's emits → SSE chunks out of ``EnhancedStreamHandler``.

Runs unchanged against masai and against the reference (masai-framework 0.6.5): both expose the
spec's API at the same import paths, so the same fake agent and tool drive both. Prints one JSON
object. Usage: ``python pipeline.py [--quick]`` with the interpreter of the package to measure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import time
from typing import Any

from masai.Tools.utilities.enhanced_streaming import EnhancedStreamHandler
from masai.Tools.utilities.streaming_events import (
    emit_custom_event,
    emit_tool_call,
    emit_tool_output,
)

T_FIELD = re.compile(r'"t": ?([0-9.]+)')


class FakeAgent:
    """MASAI-shaped: one reasoning state, a tool that emits ``n`` events, a final answer.

    ``by_hand``: the spec's hand-attributed style, as MASAI's own agent streams a tool: the
    step announces the call itself (``emit_tool_call``), the tool's progress follows, then the
    step reports the output (``emit_tool_output``), all outside any masai tool scope, so the
    stream has to attribute the progress to the open call on its own.
    """

    agent_name = "bench"

    def __init__(
        self,
        n: int,
        *,
        yield_each: bool = False,
        interval: float = 0.0,
        gate: asyncio.Event | None = None,
        by_hand: bool = False,
    ) -> None:
        self.n, self.yield_each, self.interval, self.gate = n, yield_each, interval, gate
        self.by_hand = by_hand

    async def initiate_agent_astream(self, query: str, passed_from: Any = None, **_: Any) -> Any:
        yield ("updates", {"router": {"reasoning": "go", "current_node": "router"}})
        if self.gate is not None:
            await self.gate.wait()
        if self.by_hand:
            await emit_tool_call("search", {"query": query})
        for i in range(self.n):
            await emit_custom_event("tick", {"i": i, "t": time.perf_counter()})
            if self.interval:
                await asyncio.sleep(self.interval)
            elif self.yield_each:
                await asyncio.sleep(0)
        if self.by_hand:
            await emit_tool_output("search", f"{self.n} results")
        yield (
            "updates",
            {
                "evaluator": {
                    "reasoning": "done",
                    "answer": "ok",
                    "satisfied": True,
                    "current_node": "evaluator",
                }
            },
        )


async def drain(agent: FakeAgent, *, count: bool = True) -> int:
    """Run the agent through a handler; the number of SSE frames that came out. Timed runs
    pass ``count=False``: scanning the chunks would bill the harness's work to the pipeline."""
    frames = 0
    async for chunk in EnhancedStreamHandler().stream_agent_execution(agent, "q"):
        if count:
            frames += chunk.count("data: ")  # a chunk may carry several frames (one write)
    return frames


async def cpu_per_event(n: int, yield_each: bool, repeats: int, by_hand: bool = False) -> float:
    """Median CPU µs per event over ``repeats`` runs, after one untimed run that checks every
    event came out as a frame."""
    frames = await drain(FakeAgent(n, yield_each=yield_each, by_hand=by_hand))
    assert frames >= n, (frames, n)
    samples = []
    for _ in range(repeats):
        t0 = time.process_time()
        await drain(FakeAgent(n, yield_each=yield_each, by_hand=by_hand), count=False)
        samples.append((time.process_time() - t0) / n * 1e6)
    return statistics.median(samples)


async def floor(n: int, yield_each: bool, repeats: int) -> float:
    """CPU µs per event of the fake tool alone, emitting to no stream: what any pipeline pays
    on top of. (In yielding mode, mostly the event loop's turn for ``sleep(0)``.)"""
    samples = []
    for _ in range(repeats):
        t0 = time.process_time()
        async for _update in FakeAgent(n, yield_each=yield_each).initiate_agent_astream("q"):
            pass
        samples.append((time.process_time() - t0) / n * 1e6)
    return statistics.median(samples)


async def latency(n: int) -> dict[str, float]:
    """emit → chunk latency at one event per millisecond."""
    handler = EnhancedStreamHandler()
    lags: list[float] = []
    async for chunk in handler.stream_agent_execution(FakeAgent(n, interval=0.001), "q"):
        now = time.perf_counter()
        lags.extend(now - float(t) for t in T_FIELD.findall(chunk))
    lags.sort()
    return {"p50_us": lags[len(lags) // 2] * 1e6, "p99_us": lags[int(len(lags) * 0.99)] * 1e6}


async def concurrent(streams: int, n: int) -> float:
    """Total events per second across ``streams`` concurrent streams (a handler each)."""
    t0 = time.perf_counter()
    counts = await asyncio.gather(*(drain(FakeAgent(n, yield_each=True)) for _ in range(streams)))
    elapsed = time.perf_counter() - t0
    assert all(c >= n for c in counts)
    return streams * n / elapsed


async def idle_cpu(streams: int, seconds: float) -> float:
    """CPU seconds used by ``streams`` open streams with nothing to send, over ``seconds``."""
    gate = asyncio.Event()
    tasks = [asyncio.ensure_future(drain(FakeAgent(1, gate=gate))) for _ in range(streams)]
    await asyncio.sleep(0.5)  # all open and waiting
    t0 = time.process_time()
    await asyncio.sleep(seconds)
    used = time.process_time() - t0
    gate.set()
    await asyncio.gather(*tasks)
    return used


async def peak_buffered(n: int) -> int:
    """Most events held in memory at once while a tool bursts ``n`` events."""
    handler = EnhancedStreamHandler()
    if hasattr(handler, "open_stream"):  # masai: the bounded stream reports its high-water mark
        from masai.streaming import agent_runner

        stream = handler.open_stream(agent_runner(FakeAgent(n), "q"))
        stream.start()
        while await stream.next_batch() is not None:
            pass
        await stream.aclose()
        return int(stream.peak_buffered)
    peak = 0  # the reference: an unbounded asyncio.Queue, sampled as chunks are written
    async for _ in handler.stream_agent_execution(FakeAgent(n), "q"):
        queue = handler.event_queue
        if queue is not None:
            peak = max(peak, queue.qsize() + 1)
    return peak


#: The CPU-per-event measures: result key, whether the tool yields after each event, and
#: whether the tool call is announced and closed by hand (``FakeAgent.by_hand``).
CPU_KEYS = (
    ("cpu_us_per_event", False, False),
    ("cpu_us_per_event_yielding", True, False),
    ("cpu_us_per_event_by_hand", False, True),
    ("cpu_us_per_event_by_hand_yielding", True, True),
)


async def cpu(quick: bool) -> dict[str, Any]:
    """CPU per event in every ``CPU_KEYS`` mode, by event count, and the tool's own floor."""
    sizes = [1_000, 5_000] if quick else [1_000, 10_000, 100_000]
    repeats = 1 if quick else 5
    result: dict[str, Any] = {key: {} for key, _, _ in CPU_KEYS}
    for n in sizes:
        # Small runs are over in a millisecond, where one preemption is 10 %: more samples.
        runs = max(repeats, repeats * 100_000 // (20 * n))
        for key, yielding, by_hand in CPU_KEYS:
            result[key][str(n)] = await cpu_per_event(n, yielding, runs, by_hand)
    result["floor_us_per_event"] = await floor(sizes[-1], False, repeats)
    result["floor_us_per_event_yielding"] = await floor(sizes[-1], True, repeats)
    return result


async def main(quick: bool, cpu_only: bool = False) -> dict[str, Any]:
    result = await cpu(quick)
    if cpu_only:
        return result
    sizes = [1_000, 5_000] if quick else [1_000, 10_000, 100_000]
    result["latency"] = await latency(200 if quick else 2_000)
    result["concurrent_events_per_s"] = await concurrent(
        20 if quick else 100, 200 if quick else 1_000
    )
    result["idle_cpu_s"] = await idle_cpu(100 if quick else 1_000, 1.0 if quick else 10.0)
    result["idle_streams"] = 100 if quick else 1_000
    result["idle_seconds"] = 1.0 if quick else 10.0
    result["peak_buffered"] = await peak_buffered(sizes[-1])
    result["burst"] = sizes[-1]
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--cpu-only",
        action="store_true",
        help="only CPU per event (and the floor): the rounds a caller alternates between the "
        "two implementations, so both see the same machine",
    )
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.quick, args.cpu_only))))
