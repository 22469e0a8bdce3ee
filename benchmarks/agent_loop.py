"""masai's agent loop: µs per router/evaluator → execute_tool iteration, zero-latency model."""

from __future__ import annotations

import statistics
import time
from typing import Any

from masai import AgentDetails, AgentManager, FunctionModel, ModelRequest, tool


@tool
async def noop(i: int) -> str:
    """Does nothing (async, like the baseline's tool node)."""
    return "ok"


def _agent(iterations: int) -> Any:
    calls = 0

    def decide(request: ModelRequest) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls <= iterations:
            return {"tool": "noop", "tool_input": {"i": calls}}
        return {"satisfied": True, "answer": "done"}

    manager = AgentManager(model=FunctionModel(decide), logging=False)
    return manager.create_agent(
        "loop",
        [noop],
        AgentDetails(["bench"]),
        max_tool_calls=None,
        max_steps=10 * iterations + 10,
        memory_order=0,
    )


async def agent_loop_us(iterations: int, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        agent = _agent(iterations)
        t0 = time.perf_counter()
        final = await agent.initiate_agent("go")
        samples.append((time.perf_counter() - t0) / iterations * 1e6)
        assert final["total_tool_calls"] == iterations
    return statistics.median(samples)
