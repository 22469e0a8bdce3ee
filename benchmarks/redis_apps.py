"""The agents of the Redis benchmark (``redis_bench``): ``--config benchmarks.redis_apps:registry``,
given to the in-process server, the API servers and the workers alike (a worker finds a run's
target by name in the same configuration).

- ``ticks``: ``runs_apps.emit_ticks`` (query ``"COUNT INTERVAL"``): custom events
  ``{"i", "t"}``, ``t`` the emit time (``time.time()``), so a client on the same machine reads
  each event's latency off the event itself.
- ``burner``: ``steps`` calls of a sync tool that burns ``ms`` of CPU in pure Python (query
  ``"steps=3 ms=20"``), then answers: work whose throughput can only grow with processes, not
  with concurrency inside one (the GIL), which is what adding a worker is for.
- ``approver``: calls ``publish`` once, a tool that waits for a person's approval.
"""

from __future__ import annotations

import re
import time
from typing import Any

from masai import AgentDetails, AgentManager, FunctionModel, tool
from masai.models import ModelRequest
from masai.server import Registry

from ._tick_agent import plan
from .runs_apps import emit_ticks


def _option(request: ModelRequest, name: str, default: str) -> str:
    found = re.search(rf"\b{name}=(\S+)", " ".join(m.content for m in request.messages))
    return found.group(1) if found else default


@tool
def burn(n: int, ms: float) -> str:
    """Burns ``ms`` of CPU in pure Python (a loop on the thread's own CPU clock), holding the
    GIL as real Python work does."""
    end = time.thread_time() + ms / 1e3
    x = 0
    while time.thread_time() < end:
        for i in range(1_000):
            x += i * i
    return f"step {n} done"


@tool(requires_approval=True)
async def publish() -> str:
    """Publishes (after a person approved it)."""
    return "published"


def _ticker(request: ModelRequest) -> dict[str, Any]:
    if request.component == "router":
        count, interval = plan(request.messages[-1].content)
        return {"tool": "emit_ticks", "tool_input": {"count": count, "interval": interval}}
    return {"satisfied": True, "answer": "done"}


def _burner(request: ModelRequest) -> dict[str, Any]:
    steps = int(_option(request, "steps", "3"))
    ms = float(_option(request, "ms", "20"))
    done = re.findall(r"step (\d+) done", request.messages[-1].content)
    n = int(done[-1]) + 1 if done else 1
    if n > steps:
        return {"satisfied": True, "answer": f"all {steps} steps done"}
    return {"tool": "burn", "tool_input": {"n": n, "ms": ms}}


def _approver(request: ModelRequest) -> dict[str, Any]:
    last = request.messages[-1].content
    if last.startswith("Tool results:"):
        return {"satisfied": True, "answer": last.removeprefix("Tool results:\n")}
    return {"tool": "publish", "tool_input": {}}


def registry() -> Registry:
    manager = AgentManager(logging=False)
    for name, tools, model in (
        ("ticks", [emit_ticks], _ticker),
        ("burner", [burn], _burner),
        ("approver", [publish], _approver),
    ):
        manager.create_agent(
            name,
            tools,
            AgentDetails([f"benchmarking {name}"]),
            model=FunctionModel(model),
            tool_timeout_seconds=None,
            memory_order=0,
        )
    return Registry(manager)
