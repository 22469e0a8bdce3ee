"""Agents for the Responses API tests: each answer shows something a test must see through
the protocol (what history reached the agent, a hand-over, a tool, a failure).

``masai serve --config tests.support.responses_registry:responses_registry`` serves it (the JS
tests and the Redis test do).
"""

from __future__ import annotations

import asyncio
from typing import Any

from masai import AgentDetails, AgentManager, FunctionModel, emit_custom_event, tool
from masai.models import ModelRequest
from masai.server import Registry
from masai.systems import MultiAgentSystem

#: What the drafter hands the finisher: it must never reach the reply text.
DRAFT = "DRAFT-7f3a: notes for the finisher only"
#: The relay's reply.
FINAL = "All done, checked twice."
#: What the crashing model raises: it must never reach a client.
SECRET = "secret detail 9b1c"


def recall(request: ModelRequest) -> dict[str, Any]:
    """Answers with what it was told before the task (its history, without its own prompt
    and the task): ``turn N`` counts the user turns, this one included."""
    history = request.messages[1:-1]
    users = sum(m.role == "user" for m in history)
    told = " | ".join(f"{m.role}:{m.content}" for m in history) or "none"
    return {
        "reasoning": f"{users} earlier user turns",
        "satisfied": True,
        "answer": f"turn {users + 1} (history: {told})",
    }


def crash(_: ModelRequest) -> dict[str, Any]:
    raise RuntimeError(SECRET)


@tool
async def gauge(tag: str) -> str:
    """Reads a gauge, reporting progress."""
    await emit_custom_event(f"reading {tag}", {"progress": 0.5})
    return "42"


@tool
async def dawdle(seconds: float) -> str:
    """Takes its time."""
    await asyncio.sleep(seconds)
    return "finally"


def _observed(request: ModelRequest) -> str:
    """The last tool result the agent was shown (its last line), or ``""``."""
    last = request.messages[-1].content
    return last.rsplit("\n", 1)[-1] if last.startswith("Tool results:") else ""


def _with_tool(tool_name: str, tool_input: dict[str, Any], answer: str) -> FunctionModel:
    """Calls the tool once, then answers ``answer`` with what the tool returned."""

    def decide(request: ModelRequest) -> dict[str, Any]:
        if seen := _observed(request):
            return {"reasoning": "The tool answered.", "satisfied": True, "answer": answer + seen}
        return {"reasoning": f"I need {tool_name}.", "tool": tool_name, "tool_input": tool_input}

    return FunctionModel(decide)


def _constant(answer: str) -> FunctionModel:
    def decide(_: ModelRequest) -> dict[str, Any]:
        return {"reasoning": "Nothing to look up.", "satisfied": True, "answer": answer}

    return FunctionModel(decide)


def responses_registry() -> Registry:
    """``recall`` (shows its history), ``crashy`` (its model raises), ``gauger`` (a tool
    with progress, then ``gauge says 42``), ``slowpoke`` (a 1 s tool, then ``slow: finally``),
    and ``relay``: ``drafter`` (answers ``DRAFT``) then ``finisher`` (answers ``FINAL``)."""
    manager = AgentManager(logging=False)
    manager.create_agent("recall", [], AgentDetails(["recalling"]), model=FunctionModel(recall))
    manager.create_agent("crashy", [], AgentDetails(["crashing"]), model=FunctionModel(crash))
    manager.create_agent(
        "gauger",
        [gauge],
        AgentDetails(["gauging"]),
        model=_with_tool("gauge", {"tag": "t"}, "gauge says "),
    )
    manager.create_agent(
        "slowpoke",
        [dawdle],
        AgentDetails(["waiting"]),
        model=_with_tool("dawdle", {"seconds": 1.0}, "slow: "),
    )
    manager.create_agent("drafter", [], AgentDetails(["drafting"]), model=_constant(DRAFT))
    manager.create_agent("finisher", [], AgentDetails(["finishing"]), model=_constant(FINAL))
    registry = Registry(manager)
    registry.add_system(
        "relay",
        MultiAgentSystem(agentManager=manager),
        mode="sequential",
        sequence=["drafter", "finisher"],
    )
    return registry
