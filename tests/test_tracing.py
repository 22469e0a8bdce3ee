"""OpenTelemetry traces: run → agent → node → model call / tool, GenAI attributes, run ids."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from masai import AgentDetails, AgentManager, ScriptedModel, _tracing, tool
from masai.MultiAgents.MultiAgent import MultiAgentSystem
from masai.streaming import EnhancedStreamHandler
from tests.support.sse import events
from tests.test_systems import supervised_mas, three_agents

RUN_ID = "masai.run_id"
OP = "gen_ai.operation.name"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """Spans go to memory through a provider of the test's own (the global one untouched)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    previous = _tracing.use_tracer_provider(provider)
    try:
        yield memory
    finally:
        _tracing.use_tracer_provider(previous)
        provider.shutdown()


class Tree:
    def __init__(self, spans: tuple[ReadableSpan, ...]) -> None:
        self.spans = sorted(spans, key=lambda s: s.start_time or 0)
        self.by_id = {s.context.span_id: s for s in self.spans}

    def parent(self, span: ReadableSpan) -> ReadableSpan | None:
        return self.by_id.get(span.parent.span_id) if span.parent is not None else None

    def roots(self) -> list[ReadableSpan]:
        return [s for s in self.spans if self.parent(s) is None]

    def children(self, span: ReadableSpan) -> list[ReadableSpan]:
        return [s for s in self.spans if self.parent(s) is span]

    def of(self, operation: str) -> list[ReadableSpan]:
        return [s for s in self.spans if s.attributes.get(OP) == operation]


async def sse(stream: Any) -> str:
    return "".join([c async for c in stream])


async def test_a_multi_agent_run_is_one_trace(exporter: InMemorySpanExporter) -> None:
    mas = MultiAgentSystem(agentManager=three_agents())
    handler = EnhancedStreamHandler(enable_usage_events=True)
    evs = events(await sse(handler.stream_mas_execution(mas, "AI?", entry_agent="researcher")))
    tree = Tree(exporter.get_finished_spans())
    (run_id,) = {e["metadata"]["run_id"] for e in evs}

    # One root: the run, carrying the events' run id; every span carries it too.
    (root,) = tree.roots()
    assert root.name == "masai.run"
    assert all(s.attributes[RUN_ID] == run_id for s in tree.spans)
    assert {s.context.trace_id for s in tree.spans} == {root.context.trace_id}

    # One agent span per agent in the chain, children of the run.
    agents = tree.children(root)
    assert [a.name for a in agents] == [
        "invoke_agent researcher",
        "invoke_agent analyst",
        "invoke_agent writer",
    ]
    assert [a.attributes[OP] for a in agents] == ["invoke_agent"] * 3
    assert [a.attributes["gen_ai.agent.name"] for a in agents] == [
        "researcher",
        "analyst",
        "writer",
    ]
    assert [a.attributes["masai.stop_reason"] for a in agents] == [
        "delegated",
        "delegated",
        "completed",
    ]

    # Nodes under agents, in order.
    researcher = agents[0]
    nodes = tree.children(researcher)
    assert [n.attributes["masai.node"] for n in nodes] == ["router", "execute_tool", "evaluator"]
    assert all(n.attributes["gen_ai.agent.name"] == "researcher" for n in nodes)

    # Model calls under the deciding nodes, with the usage events' numbers.
    chats = tree.of("chat")
    assert all(tree.parent(c) in tree.spans for c in chats)
    assert [tree.parent(c).attributes["masai.node"] for c in chats] == [  # type: ignore[union-attr]
        "router",
        "evaluator",
        "router",
        "router",
    ]
    calls = [e for e in evs if e["event_type"] == "usage" and e["metadata"].get("scope") == "call"]
    assert [
        (c.attributes["gen_ai.usage.input_tokens"], c.attributes["gen_ai.usage.output_tokens"])
        for c in chats
    ] == [
        (
            e["choices"][0]["delta"]["usage"]["prompt_tokens"],
            e["choices"][0]["delta"]["usage"]["completion_tokens"],
        )
        for e in calls
    ]
    assert {c.attributes["gen_ai.request.model"] for c in chats} == {"scripted"}
    assert [c.attributes["gen_ai.agent.name"] for c in chats] == [
        "researcher",
        "researcher",
        "analyst",
        "writer",
    ]

    # The tool call under the execute_tool node, with the stream's call id.
    (tool_span,) = tree.of("execute_tool")
    assert tree.parent(tool_span) is nodes[1]
    assert tool_span.attributes["gen_ai.tool.name"] == "note"
    (call,) = [e for e in evs if e["event_type"] == "tool_call"]
    assert tool_span.attributes["gen_ai.tool.call.id"] == call["metadata"]["tool_call_id"]
    assert tool_span.status.status_code == StatusCode.UNSET
    assert all(s.status.status_code != StatusCode.ERROR for s in tree.spans)


async def test_a_supervisors_model_calls_are_the_runs_children(
    exporter: InMemorySpanExporter,
) -> None:
    mas = supervised_mas([])
    await sse(EnhancedStreamHandler().stream_hierarchical_execution(mas, "topic"))
    tree = Tree(exporter.get_finished_spans())
    (root,) = tree.roots()
    assert root.name == "masai.run"
    top = tree.children(root)
    assert [s.attributes[OP] for s in top] == [
        "chat",
        "invoke_agent",
        "chat",
        "invoke_agent",
        "chat",
    ]
    assert [s.attributes["gen_ai.agent.name"] for s in top if s.name.startswith("invoke")] == [
        "draft",
        "publish",
    ]
    assert {s.attributes[RUN_ID] for s in tree.spans} == {root.attributes[RUN_ID]}


@tool
def explode(reason: str) -> str:
    """Fails."""
    raise ValueError(reason)


def one_tool_agent() -> Any:
    manager = AgentManager(logging=False)
    return manager.create_agent(
        "worker",
        [explode],
        AgentDetails(["work"]),
        model=ScriptedModel(
            [
                {"reasoning": "try", "tool": "explode", "tool_input": {"reason": "no luck"}},
                {"reasoning": "done", "satisfied": True, "answer": "It failed."},
            ]
        ),
    )


async def test_a_failing_tool_marks_its_span_failed(exporter: InMemorySpanExporter) -> None:
    agent = one_tool_agent()
    evs = events(await sse(EnhancedStreamHandler().stream_agent_execution(agent, "go")))
    tree = Tree(exporter.get_finished_spans())
    (tool_span,) = tree.of("execute_tool")
    assert tool_span.status.status_code == StatusCode.ERROR
    assert "explode failed" in (tool_span.status.description or "")
    assert tool_span.attributes["gen_ai.tool.call.id"] == next(
        e["metadata"]["tool_call_id"] for e in evs if e["event_type"] == "tool_call"
    )
    # The run goes on (the model sees the failure): the agent and the run did not fail.
    (root,) = tree.roots()
    assert root.name == "masai.run"
    (agent_span,) = tree.of("invoke_agent")
    assert agent_span.status.status_code == StatusCode.UNSET


async def test_a_direct_agent_call_is_its_own_root(exporter: InMemorySpanExporter) -> None:
    final = await one_tool_agent().initiate_agent("go")
    assert final["answer"] == "It failed."
    tree = Tree(exporter.get_finished_spans())
    (root,) = tree.roots()
    assert root.name == "invoke_agent worker"
    assert RUN_ID not in root.attributes  # (no stream, no run id)
    assert [n.attributes["masai.node"] for n in tree.children(root)] == [
        "router",
        "execute_tool",
        "evaluator",
    ]


async def test_a_nested_agent_nests_under_the_calling_tool(
    exporter: InMemorySpanExporter,
) -> None:
    manager = AgentManager(logging=False)
    inner = manager.create_agent(
        "inner",
        [],
        AgentDetails(["inner work"]),
        model=ScriptedModel([{"reasoning": "easy", "satisfied": True, "answer": "42"}]),
    )
    outer = manager.create_agent(
        "outer",
        [inner.as_tool()],
        AgentDetails(["outer work"]),
        model=ScriptedModel(
            [
                {"reasoning": "ask", "tool": "inner", "tool_input": {"task": "the answer?"}},
                {"reasoning": "done", "satisfied": True, "answer": "It is 42."},
            ]
        ),
    )
    await sse(EnhancedStreamHandler().stream_agent_execution(outer, "go"))
    tree = Tree(exporter.get_finished_spans())
    (root,) = tree.roots()
    inner_span, outer_span = sorted(tree.of("invoke_agent"), key=lambda s: s.name)
    assert tree.parent(outer_span) is root
    tool_span = tree.parent(inner_span)
    assert tool_span is not None and tool_span.attributes[OP] == "execute_tool"
    assert tool_span.attributes["gen_ai.tool.name"] == "inner"
    assert {s.attributes[RUN_ID] for s in tree.spans} == {root.attributes[RUN_ID]}


async def test_without_a_provider_no_span_records(monkeypatch: pytest.MonkeyPatch) -> None:
    """No SDK configured: the API's tracers are no-ops, and masai makes no span of its own."""
    made: list[_tracing.Span] = []
    start = _tracing.start_span

    def spy(*args: Any, **kwargs: Any) -> _tracing.Span:
        made.append(start(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(_tracing, "start_span", spy)
    previous = _tracing.use_tracer_provider(trace.NoOpTracerProvider())
    try:
        await sse(EnhancedStreamHandler().stream_agent_execution(one_tool_agent(), "go"))
    finally:
        _tracing.use_tracer_provider(previous)
    assert len(made) >= 6  # run, agent, 3 nodes, 2 model calls, the tool
    assert all(s is _tracing.NOOP and not s.recording for s in made)


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **env},
        check=True,
    )


def test_importing_masai_does_not_import_opentelemetry() -> None:
    out = run_python(
        "import sys, masai, masai.streaming, masai.agents\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    )
    assert out.stdout.strip() == "[]"


AGENT_RUN = """
import asyncio
from masai import AgentDetails, AgentManager, ScriptedModel, _tracing
print(_tracing.setup_from_environment())
manager = AgentManager(logging=False)
agent = manager.create_agent("solo", [], AgentDetails(["x"]),
    model=ScriptedModel([{"reasoning": "r", "satisfied": True, "answer": "hi"}]))
print(asyncio.run(agent.initiate_agent("go"))["answer"])
"""


def test_serve_setup_exports_only_when_configured() -> None:
    quiet = run_python(AGENT_RUN)
    assert quiet.stdout.split() == ["False", "hi"]
    assert "invoke_agent" not in quiet.stderr
    console = run_python(AGENT_RUN, OTEL_TRACES_EXPORTER="console")
    assert console.stdout.split() == ["True", "hi"]  # (spans go to stderr, not stdout)
    assert '"name": "invoke_agent solo"' in console.stderr
    assert '"gen_ai.operation.name": "chat"' in console.stderr


def test_otlp_without_the_exporter_package_warns_and_exports_nothing() -> None:
    # The exporter package made unimportable in that process, installed or not.
    blocked = "import sys\nsys.modules['opentelemetry.exporter'] = None\n" + AGENT_RUN
    out = run_python(blocked, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9")
    assert out.stdout.split() == ["False", "hi"]
    assert "pip install opentelemetry-exporter-otlp" in out.stderr


def test_the_provider_name_of_masais_model_clients() -> None:
    from masai.agents._usage import provider
    from masai.models.anthropic import AnthropicModel
    from masai.models.openai import OpenAIModel

    assert provider(OpenAIModel.__new__(OpenAIModel)) == "openai"
    assert provider(AnthropicModel.__new__(AnthropicModel)) == "anthropic"
    assert provider(ScriptedModel([])) is None
