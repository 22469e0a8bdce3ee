"""Agents for the AG-UI tests: one writing shared memory (keys that need JSON Pointer escaping,
one key written twice), one failing mid-run, one echoing the history it was given, one whose
tool needs approval (its real executions are kept in ``registry.signed``), one that naps."""

from __future__ import annotations

import asyncio
from typing import Any

from masai import AgentDetails, AgentManager, FunctionModel, get_run_context, tool
from masai.models import ModelRequest
from masai.server import Registry
from tests.support.registries import echo

#: What ``memo``'s run writes to shared memory, in order (``plan`` twice).
WRITES: list[tuple[str, Any]] = [
    ("plan", "draft"),
    ("a/b~c", {"n": 1, "tags": ["x", "y"]}),
    ("plan", "final"),
]


@tool
async def jot() -> str:
    """Writes the notes in ``WRITES`` to the run's shared memory."""
    ctx = get_run_context()
    assert ctx is not None
    for key, value in WRITES:
        await ctx.shared.set(key, value)
    return f"{len(WRITES)} notes"


@tool
async def nap(seconds: float) -> str:
    """Sleeps."""
    await asyncio.sleep(seconds)
    return "rested"


def _observed(request: ModelRequest) -> str:
    last = request.messages[-1].content
    return last.removeprefix("Tool results:\n") if last.startswith("Tool results:") else ""


def _memo(request: ModelRequest) -> dict[str, Any]:
    if request.component == "router":
        return {"reasoning": "Notes first.", "tool": "jot", "tool_input": {}}
    return {"reasoning": "Noted.", "satisfied": True, "answer": "All noted."}


def _broken(request: ModelRequest) -> dict[str, Any]:
    if request.component == "router":
        return {"reasoning": "Let me think.", "tool": "jot", "tool_input": {}}
    raise RuntimeError("secret internals: the model backend exploded")


def _napper(request: ModelRequest) -> dict[str, Any]:
    if request.component == "router":
        return {"tool": "nap", "tool_input": {"seconds": 30}}
    return {"satisfied": True, "answer": "woke up"}


def agui_registry() -> Registry:
    """``memo``, ``broken``, ``echo``, ``signer`` (``sign(text, copies)`` needs approval; the
    agent answers with what the tool returned, or the denial) and ``sleeper`` (naps 30 s)."""
    signed: list[dict[str, Any]] = []

    @tool(requires_approval=True)
    async def sign(text: str, copies: int = 1) -> str:
        """Signs ``text`` (needs approval)."""
        signed.append({"text": text, "copies": copies})
        return f"signed {text!r} x{copies}"

    def signer(request: ModelRequest) -> dict[str, Any]:
        if request.component == "router":
            task = next(m.content for m in request.messages if m.role == "user")
            return {
                "reasoning": "It needs a signature.",
                "tool": "sign",
                "tool_input": {"text": task},
            }
        return {"satisfied": True, "answer": _observed(request) or "nothing ran"}

    manager = AgentManager(logging=False)
    for name, tools, model in [
        ("memo", [jot], _memo),
        ("broken", [jot], _broken),
        ("echo", [], echo),
        ("signer", [sign], signer),
        ("sleeper", [nap], _napper),
    ]:
        manager.create_agent(name, tools, AgentDetails([name]), model=FunctionModel(model))
    registry = Registry(manager)
    registry.signed = signed  # type: ignore[attr-defined]
    return registry
