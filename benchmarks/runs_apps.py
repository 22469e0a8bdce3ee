"""The masai side of the runs benchmark (``runs_bench``): ``masai serve --config
benchmarks.runs_apps:build_registry``.

One agent whose tool emits ``COUNT INTERVAL`` custom events (the query, e.g. ``"1000 0.001"``),
each ``{"i": i, "t": time.time()}``, on a deadline schedule: the same events, at the same pace,
as the LangGraph graph of the baseline (``benchmarks/langgraph_runs/graph.py``). An interval of
0 emits them back to back.
"""

from __future__ import annotations

import asyncio
import time

from masai import emit_custom_event, tool
from masai.server import Registry

from ._tick_agent import registry


@tool
async def emit_ticks(count: int, interval: float) -> str:
    """Emits ``count`` custom events ``{"i", "t"}``, ``interval`` seconds apart."""
    start = time.monotonic()
    for i in range(count):
        await emit_custom_event("tick", {"i": i, "t": time.time()})
        if interval:
            # Deadlines, not fixed sleeps: one event per interval however coarse the timers.
            await asyncio.sleep(max(0.0, start + (i + 1) * interval - time.monotonic()))
    return "done"


def build_registry() -> Registry:
    return registry("ticks", emit_ticks, "benchmarking runs")
