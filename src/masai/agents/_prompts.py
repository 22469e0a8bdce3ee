"""The messages each agent component sends its model.

One system message says who the agent is, what this component must do, which tools and
co-workers exist and the reply format; then the session's history, the task, and this run's
decisions and tool observations so far.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import orjson

from ..models import Component, Message, ToolSpec
from ._details import AgentDetails

__all__ = ("build_messages",)

_INSTRUCTIONS: dict[str, str] = {
    "router": (
        "Decide the next step for the task. If you can answer it completely now, set "
        "satisfied=true and write the answer. If a tool would help, choose it and give its "
        "arguments with satisfied=false. If a co-worker is better suited, delegate to them."
    ),
    "evaluator": (
        "A tool has returned (see the latest observation). Judge whether you can now answer "
        "the task. If so, set satisfied=true with the complete answer; if more is needed, "
        "choose the next tool."
    ),
    "reflector": (
        "Your previous step did not produce an answer. Reflect on what went wrong or what is "
        "missing, then answer (satisfied=true), choose a tool, or delegate."
    ),
    "planner": (
        "Plan the work: lay out the steps in your reasoning, then take the first step (a "
        "tool), or answer directly when no step is needed."
    ),
    "supervisor": "Coordinate the agents to complete the task.",
}


def _system(
    name: str,
    details: AgentDetails,
    component: Component,
    tools: Sequence[ToolSpec],
    coworkers: Mapping[str, AgentDetails],
    parallel: bool,
) -> str:
    lines = [
        f"You are {name}, an AI agent.",
        f"Your capabilities: {', '.join(details.capabilities) or 'general'}.",
        f"Response style: {details.style}.",
    ]
    if details.description:
        lines.append(details.description)
    lines += ["", f"YOUR STEP ({component}): {_INSTRUCTIONS[component]}", ""]
    if tools:
        lines.append("TOOLS you can call (tool_input is a JSON object of the arguments):")
        for spec in tools:
            params = orjson.dumps(spec.parameters.get("properties", {})).decode()
            lines.append(f"- {spec.name}: {spec.description} Arguments: {params}")
    else:
        lines.append("You have no tools.")
    if coworkers:
        lines += ["", "CO-WORKERS you can delegate to (set delegate_to_agent to the name):"]
        lines += [f"- {other}: {d.summary()}" for other, d in coworkers.items()]
    fields = (
        "reasoning, satisfied, tool_calls (a list of {tool, tool_input})"
        if parallel
        else ("reasoning, satisfied, tool, tool_input")
    )
    lines += [
        "",
        f"Reply with one JSON object with these fields in this order: {fields}, "
        "delegate_to_agent, answer. Use null for fields that do not apply. Write the answer "
        "only when satisfied is true.",
    ]
    return "\n".join(lines)


def build_messages(
    *,
    name: str,
    details: AgentDetails,
    component: Component,
    tools: Sequence[ToolSpec],
    coworkers: Mapping[str, AgentDetails],
    parallel: bool,
    history: Sequence[Message],
    task: str,
    passed_from: str,
    scratch: Sequence[Message],
    notes: Sequence[str] = (),
) -> list[Message]:
    """``notes``: what the agent knows beyond the conversation (context, context callables'
    data, recalled long-term memory), appended to the system message."""
    if passed_from and passed_from != "user":
        task = f"Task passed to you by {passed_from}:\n{task}"
    system = _system(name, details, component, tools, coworkers, parallel)
    if notes:
        system = "\n\n".join((system, *notes))
    return [
        Message("system", system),
        *history,
        Message("user", task),
        *scratch,
    ]
