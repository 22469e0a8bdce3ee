"""The one agent of the benchmark servers (``http_apps``, ``runs_apps``): its router calls the
agent's one tool with the ``COUNT INTERVAL`` of the query, then it answers "done".

A ``FunctionModel`` plays the LLM, so what is measured is the server's own work around the
tool's events. (No import of the apps' other dependencies here: ``runs_apps``'s server must
not load sse-starlette.)
"""

from __future__ import annotations

from typing import Any

from masai import AgentDetails, AgentManager, FunctionModel, ModelRequest, Tool
from masai.server import Registry


def plan(query: str) -> tuple[int, float]:
    """``COUNT INTERVAL`` (e.g. ``"1000 0.001"``); ``"hold"``: no event, the stream held open
    for an hour."""
    if query == "hold":
        return 0, 3600.0
    count, interval = query.split()
    return int(count), float(interval)


def registry(agent: str, tool: Tool, capability: str) -> Registry:
    """A registry of one agent, ``agent``, whose router calls ``tool(count, interval)``."""

    def decide(request: ModelRequest) -> dict[str, Any]:
        if request.component == "router":
            count, interval = plan(request.messages[-1].content)
            return {"tool": tool.name, "tool_input": {"count": count, "interval": interval}}
        return {"satisfied": True, "answer": "done"}

    manager = AgentManager(model=FunctionModel(decide), logging=False)
    manager.create_agent(
        agent, [tool], AgentDetails([capability]), tool_timeout_seconds=None, memory_order=0
    )
    return Registry(manager)
