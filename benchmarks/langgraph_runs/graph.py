"""The LangGraph side of the runs benchmark (``benchmarks/runs_bench.py``), served by
``langgraph dev`` from its own virtualenv: one node writing ``n`` custom events through
``get_stream_writer()``, ``interval`` seconds apart on a deadline schedule (as
``benchmarks/http_apps.emit_events`` does for masai), each ``{"i": i, "t": time.time()}``.

Nothing of masai's is imported here: this file runs under LangGraph's interpreter.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, TypedDict

from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph


class Plan(TypedDict, total=False):
    n: int
    interval: float


async def emit_events(state: Plan) -> dict[str, Any]:
    write = get_stream_writer()
    n, interval = state.get("n", 1_000), state.get("interval", 0.001)
    start = time.monotonic()
    for i in range(n):
        write({"i": i, "t": time.time()})
        await asyncio.sleep(max(0.0, start + (i + 1) * interval - time.monotonic()))
    return {}


builder = StateGraph(Plan)
builder.add_node("emit_events", emit_events)
builder.add_edge(START, "emit_events")
builder.add_edge("emit_events", END)
graph = builder.compile()
