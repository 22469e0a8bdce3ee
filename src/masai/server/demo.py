"""The built-in demo: a researcher, an analyst and a writer, three ways of working together.

Offline by default: each agent's "model" is a small deterministic policy (``FunctionModel``), so
the demo runs anywhere and streams every kind of event. With ``OPENAI_API_KEY`` or
``OPENAI_BASE_URL`` (any OpenAI-compatible server) or ``ANTHROPIC_API_KEY`` set, the same agents
and tools run on that model instead (``MASAI_MODEL`` names it).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import statistics
import time
from typing import Any

from ..agents import AgentDetails, AgentManager, get_run_context
from ..events import emit_custom_event, emit_custom_event_sync
from ..exceptions import ConfigError
from ..models import FunctionModel, Model, ModelRequest
from ..systems import MultiAgentSystem, SupervisorConfig
from ..tooling import tool
from ._targets import Registry

__all__ = ("build_demo", "demo_model")

logger = logging.getLogger("masai.server")

#: Seconds between streamed words of the offline answers, so streaming is visible.
TOKEN_DELAY = 0.02


def _pace(seconds: float) -> float:
    """A demo delay scaled by ``MASAI_DEMO_PACE`` (1 = as written, 0 = no waiting)."""
    try:
        return seconds * max(float(os.environ.get("MASAI_DEMO_PACE", "1")), 0.0)
    except ValueError:
        return seconds


_CORPUS: dict[str, list[tuple[str, str]]] = {
    "ai": [
        ("AI adoption report", "Enterprise AI adoption grew 38% in 2024; 72% of firms use it."),
        ("Compute trends", "Training compute for frontier models doubles every 6 months."),
        ("Open models", "Open-weight models reached 90% of closed-model quality on benchmarks."),
    ],
    "solar": [
        ("Solar outlook", "Global solar capacity grew 29% in 2024, adding 450 GW."),
        ("Panel prices", "Module prices fell 40% year on year to $0.11 per watt."),
        ("Storage", "Battery storage paired with solar rose 55% in new installations."),
    ],
    "ocean": [
        ("Ocean heat", "Ocean heat content set a record, 15 zettajoules above 2022."),
        ("Coral reefs", "About 84% of reef areas saw bleaching-level heat stress."),
        ("Fisheries", "Fish stocks fished within sustainable levels fell to 62%."),
    ],
}
_GENERAL = [
    ("Overview", "Interest in the topic rose 24% over the last two years."),
    ("Survey", "In a survey of 1,200 people, 61% called it important."),
    ("Outlook", "Analysts expect 12% yearly growth through 2030."),
]


def _topic(query: str) -> str:
    lowered = query.lower()
    for key in _CORPUS:
        if re.search(rf"\b{key}\b", lowered):
            return key
    return "general"


@tool
async def web_search(query: str) -> list[dict[str, str]]:
    """Search the web for a query and return the top results."""
    stages = ["connecting", "querying the index", "ranking", "fetching snippets", "done"]
    for i, stage in enumerate(stages, 1):
        await emit_custom_event(f"🔍 {stage}", {"progress": i / len(stages), "stage": stage})
        await asyncio.sleep(_pace(0.15))
    results = _CORPUS.get(_topic(query), _GENERAL)
    return [{"title": title, "snippet": snippet} for title, snippet in results]


@tool
async def deep_research(topic: str, steps: int = 60) -> str:
    """A thorough investigation of a topic (slow: about half a second per step)."""
    for i in range(1, steps + 1):
        await emit_custom_event(
            f"📚 reading source {i}/{steps}", {"progress": i / steps, "stage": "reading"}
        )
        await asyncio.sleep(_pace(0.5))
    return " ".join(s for _, s in _CORPUS.get(_topic(topic), _GENERAL))


@tool
def analyze_numbers(text: str) -> dict[str, Any]:
    """Find the figures in a text and summarise them (runs in a worker thread)."""
    numbers = [float(n.replace(",", "")) for n in re.findall(r"\d[\d,]*\.?\d*", text)]
    emit_custom_event_sync("🧮 extracting figures", {"progress": 0.5, "count": len(numbers)})
    time.sleep(_pace(0.2))
    emit_custom_event_sync("🧮 summarising", {"progress": 1.0})
    percents = [float(p) for p in re.findall(r"(\d+(?:\.\d+)?)%", text)]
    return {
        "figures": len(numbers),
        "percentages": percents,
        "mean_percentage": round(statistics.mean(percents), 1) if percents else None,
        "largest": max(numbers) if numbers else None,
    }


@tool
async def save_note(key: str, value: str) -> str:
    """Save a note to the team's shared memory."""
    ctx = get_run_context()
    if ctx is None:
        return "no shared memory outside a run"
    await ctx.shared.set(key, value)
    return f"saved {key}"


@tool
def write_report(title: str, points: list[str]) -> str:
    """Format findings as a short report."""
    emit_custom_event_sync("✍️ drafting", {"progress": 1.0})
    return "\n".join([f"## {title}", *[f"- {p}" for p in points]])


@tool(requires_approval=True)
async def publish_report(title: str, channel: str = "team-blog") -> str:
    """Publish a report where everyone can read it (a person approves it first)."""
    await emit_custom_event(f"📣 publishing to {channel}", {"progress": 1.0})
    return f"published {title!r} to {channel}"


# -- the offline "brain" ----------------------------------------------------------------------


def _task(request: ModelRequest) -> str:
    """The task this agent was given (the user turn before this run's scratchpad)."""
    for message in reversed(request.messages):
        if message.role == "user" and not message.content.startswith(
            ("Tool results:", "Your last reply")
        ):
            return message.content
    return ""


def _question(task: str) -> str:
    """The user's question inside a hand-off or a supervisor's sub-task."""
    match = re.search(r"Original question: (.+)", task) or re.search(r" for: (.+)", task)
    if match:
        return match.group(1)
    return task.removeprefix("Task passed to you by").split("\n")[-1].strip()


def _observation(request: ModelRequest) -> str:
    """The latest tool output, without its ``[tool]`` label."""
    last = request.messages[-1].content
    if not last.startswith("Tool results:"):
        return ""
    return re.sub(r"^\[[\w -]+\]\n", "", last.removeprefix("Tool results:\n"))


def _researcher(request: ModelRequest) -> dict[str, Any]:
    task = _task(request)
    question = _question(task)
    if request.component in ("router", "planner"):
        if "thorough" in question.lower():
            return {
                "reasoning": "A thorough answer needs a deep investigation.",
                "tool": "deep_research",
                "tool_input": {"topic": question},
            }
        return {
            "reasoning": f"I should search for sources on: {question}",
            "tool": "web_search",
            "tool_input": {"query": question},
        }
    found = re.findall(r'"snippet":"([^"]+)"', _observation(request)) or [_observation(request)]
    summary = " ".join(found)
    if "analyst" in request.delegates:
        return {
            "reasoning": "The sources have figures; the analyst should interpret them.",
            "satisfied": True,
            "delegate_to_agent": "analyst",
            "answer": f"Sources found: {summary}",
        }
    return {
        "reasoning": "The sources answer the question.",
        "satisfied": True,
        "answer": f"Here is what I found: {summary}",
    }


def _analyst(request: ModelRequest) -> dict[str, Any]:
    task = _task(request)
    if request.component in ("router", "planner"):
        findings = "\n".join(re.findall(r"^- \w+: (.+)$", task, re.M)) or task
        return {
            "reasoning": "I will extract and summarise the figures first.",
            "tool": "analyze_numbers",
            "tool_input": {"text": findings},
        }
    stats = _observation(request)
    mean = re.search(r'"mean_percentage":([\d.]+)', stats)
    trend = f"an average change of {mean.group(1)}%" if mean else "no clear percentages"
    finding = f"The figures show {trend}; the trend is {'up' if mean else 'unclear'}."
    if "writer" in request.delegates:
        return {
            "reasoning": "The analysis is done; the writer should present it.",
            "satisfied": True,
            "delegate_to_agent": "writer",
            "answer": finding,
        }
    return {"reasoning": "The analysis answers the task.", "satisfied": True, "answer": finding}


def _writer(request: ModelRequest) -> dict[str, Any]:
    task = _task(request)
    question = _question(task)
    if request.component in ("router", "planner"):
        points = re.findall(r"^- \w+: (.+)$", task, re.M) or [
            line for line in task.split("\n")[2:] if line.strip()
        ]
        return {
            "reasoning": "I will turn the findings into a short report.",
            "tool": "write_report",
            "tool_input": {"title": f"Report: {question}", "points": points},
        }
    report = _observation(request)
    return {
        "reasoning": "The report is ready.",
        "satisfied": True,
        "answer": f"{report}\n\nIn short: the evidence points to steady growth.",
    }


def _publisher(request: ModelRequest) -> dict[str, Any]:
    if request.component in ("router", "planner"):
        title = _question(_task(request))[:80] or "the report"
        return {
            "reasoning": "Publishing needs a person's approval; I will ask for it.",
            "tool": "publish_report",
            "tool_input": {"title": title},
        }
    outcome = _observation(request)
    return {"reasoning": "That settles it.", "satisfied": True, "answer": outcome}


def _supervisor(request: ModelRequest) -> dict[str, Any]:
    question = request.messages[1].content
    results = [m.content for m in request.messages[2:] if " answered:\n" in m.content]
    plan = [
        ("researcher", "find sources"),
        ("analyst", "analyse the figures"),
        ("writer", "write the report"),
    ]
    if len(results) < len(plan):
        agent, step = plan[len(results)]
        context = results[-1].split("\n", 1)[1] if results else question
        return {
            "reasoning": f"Next, the {agent} should {step}.",
            "delegate_to_agent": agent,
            "agent_input": f"{step.capitalize()} for: {question}\n\n{context}",
        }
    return {
        "reasoning": "All three steps are done.",
        "satisfied": True,
        "answer": results[-1].split("\n", 1)[1],
    }


def demo_model(role: str) -> Model:
    """The model for one demo role: a real one when configured by the environment, else the
    offline policy."""
    policies = {
        "researcher": _researcher,
        "analyst": _analyst,
        "writer": _writer,
        "publisher": _publisher,
        "supervisor": _supervisor,
    }
    if role not in policies:
        raise ConfigError(f"the demo model's role must be one of {sorted(policies)}")
    real = _model_from_environment()
    if real is not None:
        return real
    return FunctionModel(policies[role], name=f"demo-{role}", token_delay=_pace(TOKEN_DELAY))


def _model_from_environment() -> Model | None:
    name = os.environ.get("MASAI_MODEL")
    if os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"):
        from ..models.openai import OpenAIModel

        return OpenAIModel(name or "gpt-4o-mini", base_url=os.environ.get("OPENAI_BASE_URL"))
    if os.environ.get("ANTHROPIC_API_KEY"):
        from ..models.anthropic import AnthropicModel

        return AnthropicModel(name or "claude-sonnet-4-5")
    return None


def build_demo() -> Registry:
    manager = AgentManager(logging=False)
    manager.create_agent(
        "researcher",
        [web_search, deep_research, save_note],
        AgentDetails(["research", "finding sources"], "Finds sources and facts.", "concise"),
        model=demo_model("researcher"),
    )
    manager.create_agent(
        "analyst",
        [analyze_numbers, save_note],
        AgentDetails(["analysis", "statistics"], "Interprets figures and trends.", "precise"),
        model=demo_model("analyst"),
    )
    manager.create_agent(
        "writer",
        [write_report],
        AgentDetails(["writing", "reports"], "Turns findings into clear reports.", "clear"),
        model=demo_model("writer"),
    )
    manager.create_agent(
        "publisher",
        [publish_report],
        AgentDetails(["publishing"], "Publishes reports, once a person approves.", "careful"),
        model=demo_model("publisher"),
    )
    registry = Registry(manager, default="research-team")
    team = MultiAgentSystem(agentManager=manager)
    registry.add_system(
        "research-team",
        team,
        mode="decentralized",
        entry_agent="researcher",
        description="researcher → analyst → writer, handing off as they see fit",
    )
    registry.add_system(
        "pipeline",
        team,
        mode="sequential",
        sequence=["researcher", "analyst", "writer"],
        description="researcher, then analyst, then writer",
    )
    supervised = MultiAgentSystem(
        agentManager=manager, supervisor_config=SupervisorConfig(model=demo_model("supervisor"))
    )
    registry.add_system(
        "supervised",
        supervised,
        mode="hierarchical",
        description="a supervisor assigns the work and answers",
    )
    return registry
