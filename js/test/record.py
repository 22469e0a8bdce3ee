"""Record the JS client's test fixtures by running masai's stream handlers offline.

Each fixture is the exact SSE text a handler produced for a scripted run (``ScriptedModel``, no
network), with the random parts made stable: the run id (also inside the ``chatcmpl-`` id), tool
call ids and ``created``. Run from the repository root::

    .venv/bin/python js/test/record.py           # (re)write js/test/fixtures/*.sse
    .venv/bin/python js/test/record.py --check   # exit 1 if a fixture is stale

The JS suite runs ``--check``, so a change in masai's wire format shows up as a failing test.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from masai import (
    AgentDetails,
    AgentManager,
    ScriptedModel,
    emit_custom_event,
    get_run_context,
    tool,
)
from masai.MultiAgents.MultiAgent import MultiAgentSystem
from masai.streaming import EnhancedStreamHandler

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MODEL = "mas-ai-general"


# -- tools ---------------------------------------------------------------------------------------


@tool
async def crunch_numbers(dataset: str, rows: int) -> dict[str, Any]:
    """Aggregate a dataset, reporting progress as it goes."""
    await emit_custom_event(f"📦 Loaded {dataset}", {"stage": "load"})
    for done in range(0, rows + 1, rows // 4):
        await emit_custom_event(
            f"Crunching rows {done}/{rows}",
            {"progress": done / rows, "stage": "crunch", "rows_done": done},
        )
    return {"dataset": dataset, "rows": rows, "mean": 42.5}


@tool
async def note(key: str, value: str) -> str:
    """Write a note to the run's shared memory."""
    ctx = get_run_context()
    assert ctx is not None
    await ctx.shared.set(key, value)
    return "noted"


@tool
async def web_search(query: str) -> list[str]:
    """Search the web."""
    await emit_custom_event("🔍 Searching…", {"progress": 0.5})
    await emit_custom_event("✅ Done", {"progress": 1.0})
    return [f"{query}: market grew 30% in 2024", f"{query}: adoption doubled"]


@tool
async def flaky_lookup(key: str) -> str:
    """A lookup whose backend is down."""
    raise ConnectionError(f"backend for {key} unreachable")


@tool
async def translate(text: str, target: str) -> str:
    """Translate text (a canned one for the fixture)."""
    await emit_custom_event("🌍 Übersetze… 翻訳中 🚀", {"progress": 0.5, "note": "½ done ✓"})
    await emit_custom_event("🏁 fertig — 完了", {"progress": 1.0})
    return "こんにちは世界 👋🏽 — Grüße aus Zürich; مرحبا بالعالم; 👨‍👩‍👧‍👦 family"


# -- runs ----------------------------------------------------------------------------------------

Recording = Callable[[], AsyncIterator[str]]


def agent_tool_progress() -> AsyncIterator[str]:
    """One agent, one tool reporting progress, node transitions, the answer as tokens."""
    manager = AgentManager(logging=False)
    agent = manager.create_agent(
        "researcher",
        [crunch_numbers],
        AgentDetails(["analysis"], "Crunches numbers."),
        model=ScriptedModel(
            [
                {
                    "reasoning": "I need the aggregate first",
                    "tool": "crunch_numbers",
                    "tool_input": {"dataset": "sales-2024", "rows": 400},
                },
                {
                    "reasoning": "The mean answers it",
                    "satisfied": True,
                    "answer": "The mean of sales-2024 is 42.5 over 400 rows.",
                },
            ]
        ),
    )
    handler = EnhancedStreamHandler(MODEL, enable_token_events=True, enable_node_transitions=True)
    return handler.stream_agent_execution(agent, "What is the mean of sales-2024?")


def mas_delegation_chain() -> AsyncIterator[str]:
    """researcher → analyst → writer, with a tool, shared memory and hand-offs."""
    manager = AgentManager(logging=False)
    manager.create_agent(
        "researcher",
        [web_search, note],
        AgentDetails(["research"], "Finds facts."),
        model=ScriptedModel(
            [
                {
                    "reasoning": "Search first",
                    "tool": "web_search",
                    "tool_input": {"query": "AI market"},
                },
                {
                    "reasoning": "Record the key fact",
                    "tool": "note",
                    "tool_input": {"key": "fact", "value": "AI market grew 30% in 2024"},
                },
                {
                    "reasoning": "An analyst should interpret this",
                    "satisfied": True,
                    "delegate_to_agent": "analyst",
                    "answer": "Fact: the AI market grew 30% in 2024",
                },
            ]
        ),
    )
    manager.create_agent(
        "analyst",
        [],
        AgentDetails(["analysis"], "Interprets data."),
        model=ScriptedModel(
            [
                {
                    "reasoning": "The writer should phrase it",
                    "satisfied": True,
                    "delegate_to_agent": "writer",
                    "answer": "Strong, sustained growth",
                }
            ]
        ),
    )
    manager.create_agent(
        "writer",
        [],
        AgentDetails(["writing"], "Writes reports."),
        model=ScriptedModel(
            [
                {
                    "reasoning": "Write it up",
                    "satisfied": True,
                    "answer": "The AI market is growing strongly: up 30% in 2024.",
                }
            ]
        ),
    )
    mas = MultiAgentSystem(agentManager=manager)
    handler = EnhancedStreamHandler(MODEL, enable_token_events=True)
    return handler.stream_mas_execution(mas, "How is the AI market doing?", "researcher")


def run_error() -> AsyncIterator[str]:
    """A failing tool (an error output the agent sees), then the model fails: an error chunk."""
    manager = AgentManager(logging=False)
    agent = manager.create_agent(
        "researcher",
        [flaky_lookup],
        AgentDetails(["lookup"], "Looks things up."),
        model=ScriptedModel(
            [
                {
                    "reasoning": "Look it up",
                    "tool": "flaky_lookup",
                    "tool_input": {"key": "q3-revenue"},
                }
            ]
        ),
    )
    handler = EnhancedStreamHandler(MODEL, enable_token_events=True)
    return handler.stream_agent_execution(agent, "What was Q3 revenue?")


UNICODE_ANSWER = (
    "Grüße 👋🏽! こんにちは世界 — 你好，世界。 مرحبا بالعالم 🇺🇳 "
    "naïve café x̂ ≠ 𝔁 ∑ 🧑‍🚀 👨‍👩‍👧‍👦 ok\u2028next\u0085end 🎉"
)


def unicode_heavy() -> AsyncIterator[str]:
    """Non-ASCII everywhere: 2-, 3- and 4-byte UTF-8, ZWJ sequences, RTL, U+2028, NEL."""
    manager = AgentManager(logging=False)
    agent = manager.create_agent(
        "übersetzer",
        [translate],
        AgentDetails(["翻訳"], "Übersetzt Texte 🌐."),
        model=ScriptedModel(
            [
                {
                    "reasoning": "Ich übersetze zuerst 🤔 — 先に翻訳します",
                    "tool": "translate",
                    "tool_input": {"text": "Hello world 👋", "target": "日本語"},
                },
                {
                    "reasoning": "Fertig ✅; مكتمل",
                    "satisfied": True,
                    "answer": UNICODE_ANSWER,
                },
            ]
        ),
    )
    handler = EnhancedStreamHandler(MODEL, enable_token_events=True)
    return handler.stream_agent_execution(agent, "Übersetze: Hello world 👋")


RECORDINGS: dict[str, Recording] = {
    "agent-tool-progress": agent_tool_progress,
    "mas-delegation-chain": mas_delegation_chain,
    "run-error": run_error,
    "unicode": unicode_heavy,
}


# -- recording -----------------------------------------------------------------------------------


def stabilise(text: str) -> str:
    """Replace the random ids (in order of appearance) and ``created`` with fixed values."""
    ids: dict[str, str] = {}

    def run_id(m: re.Match[str]) -> str:
        return ids.setdefault(m.group(0), f"{len(ids) + 1:032x}")

    calls: dict[str, str] = {}

    def call_id(m: re.Match[str]) -> str:
        return calls.setdefault(m.group(0), f"call_{len(calls) + 1:024x}")

    text = re.sub(r"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])", run_id, text)
    text = re.sub(r"call_[0-9a-f]{24}", call_id, text)
    # A failed tool's output names the failure's log reference ("error 8e7a7765").
    text = re.sub(r"(?<=, error )[0-9a-f]{8}(?=\))", "0badc0de", text)
    return re.sub(r'"created":\d+', '"created":1700000000', text)


async def record(make: Recording) -> bytes:
    stream = make()
    text = "".join([chunk async for chunk in stream])
    return stabilise(text).encode("utf-8")


async def main(check: bool) -> int:
    logging.disable(logging.CRITICAL)  # the error runs log tracebacks; they are expected here
    FIXTURES.mkdir(parents=True, exist_ok=True)
    stale = []
    for name, make in RECORDINGS.items():
        data = await record(make)
        path = FIXTURES / f"{name}.sse"
        if check:
            if not path.exists() or path.read_bytes() != data:
                stale.append(path.name)
        else:
            path.write_bytes(data)
            sys.stderr.write(f"wrote {path} ({len(data)} bytes)\n")
    if stale:
        sys.stderr.write(
            f"stale fixtures: {', '.join(stale)} (re-run: .venv/bin/python js/test/record.py)\n"
        )
        return 1
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    sys.exit(asyncio.run(main(parser.parse_args().check)))
