"""Small registries for server tests: an echo agent that shows what history it was given, and
agents that wait (async or in a sync tool) so runs stay in flight while a test probes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from masai import AgentDetails, AgentManager, FunctionModel, emit_custom_event, emit_event, tool
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


def _observed(request: ModelRequest) -> str:
    """The latest tool result the agent was shown, or ``""``."""
    last = request.messages[-1].content
    return last.removeprefix("Tool results:\n") if last.startswith("Tool results:") else ""


def approval_registry(
    approval_timeout: float | None = None, published: list[dict[str, Any]] | None = None
) -> Registry:
    """``publisher``: calls ``publish(text=<query>)``, which needs a person's approval, then
    answers with what the tool returned (or the denial): the test sees what really ran.
    ``published`` (``registry.published``) gets the tool's real executions."""
    published = [] if published is None else published

    @tool(requires_approval=True, approval_timeout=approval_timeout)
    async def publish(text: str, copies: int = 1) -> str:
        """Publish ``text`` (needs approval)."""
        published.append({"text": text, "copies": copies})
        return f"published {text!r} x{copies}"

    def decide(request: ModelRequest) -> dict[str, Any]:
        if request.component == "router":
            task = next(m.content for m in request.messages if m.role == "user")
            return {"tool": "publish", "tool_input": {"text": task}}
        return {"satisfied": True, "answer": _observed(request) or "nothing ran"}

    manager = AgentManager(logging=False)
    manager.create_agent(
        "publisher", [publish], AgentDetails(["publishing"]), model=FunctionModel(decide)
    )
    registry = Registry(manager)
    registry.published = published  # type: ignore[attr-defined]
    return registry


def ticker_registry(count: int = 200, interval: float = 0.001) -> Registry:
    """``ticker``: its tool emits ``count`` custom events ``interval`` seconds apart (progress
    ``i``), then the agent answers: a run that streams steadily while clients drop and come
    back."""

    @tool
    async def tick(count: int, interval: float) -> str:
        """Emits numbered progress events."""
        for i in range(count):
            await emit_custom_event(f"tick {i}", {"i": i})
            await asyncio.sleep(interval)
        return f"{count} ticks"

    def decide(request: ModelRequest) -> dict[str, Any]:
        if request.component == "router":
            return {"tool": "tick", "tool_input": {"count": count, "interval": interval}}
        return {"satisfied": True, "answer": "ticked"}

    manager = AgentManager(logging=False)
    manager.create_agent("ticker", [tick], AgentDetails(["ticking"]), model=FunctionModel(decide))
    return Registry(manager)


@tool
async def wobble() -> str:
    """Emits progress, then retracts the events so far (seq 0 and 1) as a worker that took
    the run over does, then finishes: what a client must show for a take-over."""
    await emit_custom_event("first try", {"try": 1})
    await emit_event("retracted", {"from_seq": 0, "to_seq": 1})
    await emit_custom_event("second try", {"try": 2})
    return "steady"


@tool
async def hiccup() -> str:
    """Emits the frame a server writes when it loses its backend mid-stream (an ``error``
    event with ``error_code: backend_unavailable``), then goes on: the run is not over."""
    await emit_event(
        "error",
        {"error": "The backend (Redis) is unavailable.", "code": "backend_unavailable"},
        {"error_code": "backend_unavailable"},
    )
    return "still here"


def retracting_registry() -> Registry:
    """``wobbler``: calls ``wobble`` once, then answers (for clients' ``retracted`` handling);
    ``hiccuper``: the same with ``hiccup`` (a backend outage's frame, mid-run)."""
    manager = AgentManager(logging=False)
    manager.create_agent("wobbler", [wobble], AgentDetails(["wobbling"]), model=_once("wobble"))
    manager.create_agent("hiccuper", [hiccup], AgentDetails(["hiccups"]), model=_once("hiccup"))
    return Registry(manager)


def _once(tool_name: str) -> FunctionModel:
    def decide(request: ModelRequest) -> dict[str, Any]:
        if (seen := _observed(request)) != "":
            return {"satisfied": True, "answer": f"done: {seen}"}
        return {"tool": tool_name, "tool_input": {}}

    return FunctionModel(decide)
