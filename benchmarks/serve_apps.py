"""Configs for the server benchmarks (``serve_bench``), each for ``masai serve --config``.

* ``build_sync_registry``: one agent whose tool is a plain ``def`` that sleeps 0.2 s (a sync
  tool waiting on I/O), called once per run; the model answers at once. The tool's output is
  its start and end times (``time.time()``), which the stream carries to the client.
* ``build_async_registry``: the same with an ``async def`` tool (``asyncio.sleep``): no thread,
  so what is left of a burst's latency is the rest of the server.
* ``build_echo_registry``: one agent whose model answers at once with the query it was given
  (no tool), so each run stores the query and its echo (a new string, as a real answer
  would be) in the session's history.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from masai import AgentDetails, AgentManager, FunctionModel, ModelRequest, tool
from masai.server import Registry

#: How long the sync tool blocks its thread.
TOOL_SECONDS = 0.2


@tool
def wait_on_io(seconds: float) -> str:
    """Blocks its thread for ``seconds`` (stands for a blocking client call). Answers with the
    wall-clock times it started and ended, so a client can tell the time before it from the
    time after it."""
    start = time.time()
    time.sleep(seconds)
    return f"{start:.6f} {time.time():.6f}"


@tool("wait_on_io")
async def wait_on_io_async(seconds: float) -> str:
    """Waits ``seconds`` without a thread; answers like ``wait_on_io``."""
    start = time.time()
    await asyncio.sleep(seconds)
    return f"{start:.6f} {time.time():.6f}"


def _call_tool_once(request: ModelRequest) -> dict[str, Any]:
    if request.component == "router":
        return {"tool": "wait_on_io", "tool_input": {"seconds": TOOL_SECONDS}}
    return {"satisfied": True, "answer": "done"}


def _tool_registry(tool_fn: Any) -> Registry:
    manager = AgentManager(model=FunctionModel(_call_tool_once), logging=False)
    manager.create_agent("waiter", [tool_fn], AgentDetails(["waiting"]), memory_order=0)
    return Registry(manager)


def build_sync_registry() -> Registry:
    return _tool_registry(wait_on_io)


def build_async_registry() -> Registry:
    return _tool_registry(wait_on_io_async)


def _echo(request: ModelRequest) -> dict[str, Any]:
    return {"satisfied": True, "answer": f"echo: {request.messages[-1].content}"}


def build_echo_registry() -> Registry:
    manager = AgentManager(model=FunctionModel(_echo), logging=False)
    manager.create_agent("echo", [], AgentDetails(["echoing"]))
    return Registry(manager)
