"""Small registries for server tests: an echo agent that shows what history it was given, and
agents that wait (async or in a sync tool) so runs stay in flight while a test probes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from masai import AgentDetails, AgentManager, FunctionModel, tool
from masai.models import ModelRequest
from masai.server import Registry


def echo(request: ModelRequest) -> dict[str, Any]:
    """Answers with every message it was given but its own prompt: a leaked history shows."""
    seen = " | ".join(m.content for m in request.messages[1:])
    return {"satisfied": True, "answer": f"I saw: {seen}"}


def echo_registry() -> Registry:
    manager = AgentManager(logging=False)
    manager.create_agent("echo", [], AgentDetails(["echoing"]), model=FunctionModel(echo))
    return Registry(manager)


@tool
async def nap(seconds: float) -> str:
    """Sleeps (async)."""
    await asyncio.sleep(seconds)
    return "rested"


@tool
def block(seconds: float) -> str:
    """Sleeps in its thread (a sync tool waiting on I/O)."""
    time.sleep(seconds)
    return "done"


def _waiter(tool_name: str, seconds: float) -> FunctionModel:
    """Calls the tool once (router), then answers (evaluator): stateless, so any number of
    concurrent runs each wait their full time."""

    def decide(request: ModelRequest) -> dict[str, Any]:
        if request.component == "router":
            return {"tool": tool_name, "tool_input": {"seconds": seconds}}
        return {"satisfied": True, "answer": "woke up"}

    return FunctionModel(decide)


def sleepy_registry(seconds: float = 30.0) -> Registry:
    """``sleeper``: naps ``seconds`` (async) then answers; ``blocker``: a sync tool blocking
    for ``seconds`` in its thread."""
    manager = AgentManager(logging=False)
    manager.create_agent("sleeper", [nap], AgentDetails(["waiting"]), model=_waiter("nap", seconds))
    manager.create_agent(
        "blocker", [block], AgentDetails(["blocking"]), model=_waiter("block", seconds)
    )
    return Registry(manager)


def long_sleepy_registry() -> Registry:
    """For ``masai serve --config tests.support.registries:long_sleepy_registry``."""
    return sleepy_registry(60.0)
