"""Agents for the AI SDK UI stream tests (``/ai-sdk/{id}``), for in-process servers and for
``masai serve --config tests.support.aisdk_registry:registry``: every ending a UI message
can have that the demo does not show.

- ``echo``: answers with every message it was given (a leaked or a lost history shows);
- ``broken``: its model fails with a secret in the exception (it must not reach the client);
- ``fumbler``: its tool fails, then it answers;
- ``publisher``: its tool needs a person's approval, then it answers with the tool's result;
- ``wobbler``: its tool retracts its first events, as a worker taking a run over does;
- ``sleeper``: its tool reports progress for about two seconds, then it answers.
"""

from __future__ import annotations

import asyncio
from typing import Any

from masai import AgentDetails, AgentManager, FunctionModel, emit_custom_event, tool
from masai.models import ModelRequest
from masai.server import Registry
from tests.support.registries import echo, wobble

#: What ``broken``'s model raises: a detail only the server's log may see.
SECRET = "db password hunter2"


def _observed(request: ModelRequest) -> str:
    last = request.messages[-1].content
    return last.removeprefix("Tool results:\n") if last.startswith("Tool results:") else ""


def _once(tool_name: str, tool_input: dict[str, Any] | None = None) -> FunctionModel:
    """Calls the tool once, then answers with what it saw."""

    def decide(request: ModelRequest) -> dict[str, Any]:
        if (seen := _observed(request)) != "":
            return {
                "reasoning": "I have what I need.",
                "satisfied": True,
                "answer": f"done: {seen}",
            }
        return {
            "reasoning": f"I will call {tool_name}.",
            "tool": tool_name,
            "tool_input": tool_input or {},
        }

    return FunctionModel(decide, token_delay=0.0)


def _fail(request: ModelRequest) -> dict[str, Any]:
    raise RuntimeError(SECRET)


@tool
async def fumble(item: str) -> str:
    """Fails."""
    raise ValueError(f"could not fetch {item}")


@tool(requires_approval=True, approval_timeout=30)
async def publish(title: str) -> str:
    """Publishes (needs a person's approval)."""
    await emit_custom_event("publishing", {"progress": 1.0})
    return f"published {title}"


@tool
async def crawl(pages: int) -> str:
    """Reports progress page by page, a tenth of a second each."""
    for page in range(1, pages + 1):
        await emit_custom_event(f"page {page}/{pages}", {"progress": page / pages, "page": page})
        await asyncio.sleep(0.1)
    return f"crawled {pages} pages"


def registry() -> Registry:
    manager = AgentManager(logging=False)
    details = AgentDetails(["testing"])
    manager.create_agent("echo", [], details, model=FunctionModel(echo))
    manager.create_agent("broken", [], details, model=FunctionModel(_fail))
    manager.create_agent("fumbler", [fumble], details, model=_once("fumble", {"item": "x"}))
    manager.create_agent(
        "publisher", [publish], details, model=_once("publish", {"title": "Q3 report"})
    )
    manager.create_agent("wobbler", [wobble], details, model=_once("wobble"))
    manager.create_agent("sleeper", [crawl], details, model=_once("crawl", {"pages": 20}))
    return Registry(manager)
