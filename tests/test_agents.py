"""The agent runtime with offline models: event sequences, state, limits, tools, memory."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Annotated, Any

import pytest
from pydantic import Field

from masai import (
    AgentDetails,
    AgentManager,
    FunctionModel,
    ModelRequest,
    ScriptedModel,
    emit_custom_event,
    emit_custom_event_sync,
    tool,
)
from masai.exceptions import AgentNotFound, ConfigError, ScriptExhausted
from masai.streaming import EnhancedStreamHandler
from tests.support.sse import chunks, events

DETAILS = AgentDetails(capabilities=["research"], description="Finds facts.")


@tool
async def search(query: str, limit: int = 2) -> list[str]:
    """Search the web for a query."""
    await emit_custom_event("searching", {"progress": 0.5})
    return [f"{query} {i}" for i in range(limit)]


def make_agent(turns: list[dict[str, Any]], tools: list[Any] | None = None, **options: Any) -> Any:
    manager = AgentManager(model=ScriptedModel(turns), logging=False)
    return manager.create_agent(
        "researcher", tools if tools is not None else [search], DETAILS, **options
    )


TOOL_THEN_ANSWER = [
    {"reasoning": "I should search", "tool": "search", "tool_input": '{"query": "ai"}'},
    {"reasoning": "Results suffice", "satisfied": True, "answer": "AI is growing fast."},
]


async def stream(agent: Any, query: str = "What about AI?", **handler_options: Any) -> str:
    handler = EnhancedStreamHandler(**handler_options)
    return "".join([c async for c in handler.stream_agent_execution(agent, query)])


def summary(text: str) -> list[tuple[str, Any]]:
    out = []
    for e in events(text):
        delta = e["choices"][0]["delta"]
        value = (
            delta["tool_calls"][0]["function"]["name"]
            if "tool_calls" in delta
            else delta["content"]
        )
        out.append((e["event_type"], value))
    return out


async def test_single_agent_event_sequence() -> None:
    text = await stream(make_agent(TOOL_THEN_ANSWER))
    assert summary(text) == [
        ("reasoning", "I should search"),
        ("tool_call", "search"),
        ("custom", "searching"),
        ("tool_output", '\n[Tool: search]\n["ai 0","ai 1"]\n'),
        ("reasoning", "Results suffice"),
        ("answer", "AI is growing fast."),
    ]
    evs = events(text)
    assert [e["metadata"]["node"] for e in evs] == [
        "router",
        "execute_tool",
        "execute_tool",
        "execute_tool",
        "evaluator",
        "evaluator",
    ]
    assert {e["metadata"]["agent"] for e in evs} == {"researcher"}
    assert all(e["metadata"]["agent_path"] == ["researcher"] for e in evs)
    call_id = evs[1]["metadata"]["tool_call_id"]
    assert [e["metadata"].get("tool_call_id") for e in evs] == [
        None,
        call_id,
        call_id,
        call_id,
        None,
        None,
    ]
    assert json.loads(evs[1]["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]) == {
        "query": "ai"
    }
    assert evs[-1]["metadata"]["stop_reason"] == "completed"
    assert [e["metadata"]["seq"] for e in evs] == list(range(6))


async def test_tokens_and_node_transitions_when_enabled() -> None:
    text = await stream(
        make_agent(TOOL_THEN_ANSWER), enable_token_events=True, enable_node_transitions=True
    )
    assert summary(text) == [
        ("node_transition", "\n[Node: start → router]\n"),
        ("reasoning", "I should search"),
        ("node_transition", "\n[Node: router → execute_tool]\n"),
        ("tool_call", "search"),
        ("custom", "searching"),
        ("tool_output", '\n[Tool: search]\n["ai 0","ai 1"]\n'),
        ("node_transition", "\n[Node: execute_tool → evaluator]\n"),
        ("reasoning", "Results suffice"),
        ("token", "AI"),
        ("token", " is"),
        ("token", " growing"),
        ("token", " fast."),
        ("answer", "AI is growing fast."),
        ("node_transition", "\n[Node: evaluator → end]\n"),
    ]


async def test_only_the_final_answer_is_streamed_as_tokens() -> None:
    turns = [
        {
            "reasoning": "draft",
            "tool": "search",
            "tool_input": {"query": "x"},
            "answer": "a draft that is not final",
        },
        {"reasoning": "done", "satisfied": True, "answer": "Final."},
    ]
    text = await stream(make_agent(turns), enable_token_events=True)
    tokens = [v for t, v in summary(text) if t == "token"]
    assert "".join(tokens) == "Final."


async def test_initiate_agent_and_astream_states() -> None:
    agent = make_agent(TOOL_THEN_ANSWER)
    final = await agent.initiate_agent("What about AI?")
    assert final["answer"] == "AI is growing fast."
    assert final["satisfied"] is True and final["stop_reason"] == "completed"
    assert final["reasoning"] == "Results suffice"
    assert final["current_node"] == "evaluator"
    assert final["tool_calls"][0]["tool"] == "search"

    agent = make_agent(TOOL_THEN_ANSWER)
    updates = [u async for u in agent.initiate_agent_astream("What about AI?")]
    assert [(mode, list(d)) for mode, d in updates] == [
        ("updates", ["router"]),
        ("updates", ["execute_tool"]),
        ("updates", ["evaluator"]),
    ]
    states = [next(iter(d.values())) for _, d in updates]
    assert [s["current_node"] for s in states] == ["router", "execute_tool", "evaluator"]
    assert states[1]["tool_output"] == '[search]\n["ai 0","ai 1"]'
    with pytest.raises(TypeError):
        states[0]["answer"] = "mutated"
    assert states[0]["answer"] == ""  # snapshots do not change as the run goes on


async def test_planner_runs_first_when_plan_is_on() -> None:
    turns = [
        {"reasoning": "Plan: search, then answer", "tool": "search", "tool_input": {"query": "p"}},
        *TOOL_THEN_ANSWER[1:],
    ]
    agent = make_agent(turns, plan=True)
    nodes = [next(iter(d)) async for _, d in agent.initiate_agent_astream("q")]
    assert nodes == ["planner", "execute_tool", "evaluator"]
    assert agent.models["planner"].requests[0].component == "planner"


async def test_not_satisfied_without_tool_goes_to_reflection() -> None:
    turns = [
        {"reasoning": "unsure", "satisfied": False},
        {"reasoning": "now I know", "satisfied": True, "answer": "42"},
    ]
    agent = make_agent(turns)
    nodes = [next(iter(d)) async for _, d in agent.initiate_agent_astream("q")]
    assert nodes == ["router", "reflection"]
    assert [r.component for r in agent.models["router"].requests] == ["router", "reflector"]


@pytest.mark.parametrize(
    ("turns", "options", "reason"),
    [
        (
            [{"tool": "search", "tool_input": {"query": str(i)}} for i in range(5)],
            {"max_tool_calls": 2},
            "max_tool_calls",
        ),
        (
            [{"reasoning": f"hmm {i}", "satisfied": False} for i in range(5)],
            {"max_reflections": 2},
            "max_reflections",
        ),
        (
            [{"tool": "search", "tool_input": {"query": str(i)}} for i in range(20)],
            {"max_steps": 3},
            "max_steps",
        ),
    ],
)
async def test_limits_end_the_run_with_a_reason_and_an_event(
    turns: list[dict[str, Any]], options: dict[str, Any], reason: str
) -> None:
    text = await stream(make_agent(turns, **options))
    last = events(text)[-1]
    assert last["event_type"] == "answer"
    assert last["metadata"]["stop_reason"] == reason
    assert last["choices"][0]["delta"]["satisfied"] is False
    assert "I stopped before finishing" in last["choices"][0]["delta"]["content"]
    assert chunks(text)[-1]["choices"][0]["finish_reason"] == "stop"
    if reason == "max_tool_calls":
        assert sum(1 for e in events(text) if e["event_type"] == "tool_call") == 2


async def test_run_timeout_interrupts_a_slow_tool() -> None:
    @tool
    async def forever() -> str:
        """Never returns."""
        await asyncio.sleep(60)
        return "never"

    agent = make_agent([{"tool": "forever"}], tools=[forever], run_timeout_seconds=0.2)
    t0 = time.perf_counter()
    text = await stream(agent)
    assert time.perf_counter() - t0 < 5
    evs = events(text)
    assert [e["event_type"] for e in evs] == ["tool_call", "tool_output", "answer"]
    assert evs[1]["metadata"]["is_error"] is True
    assert evs[-1]["metadata"]["stop_reason"] == "timeout"


async def test_tool_kinds_failures_and_recovery() -> None:
    from langchain_core.tools import tool as lc_tool

    thread_names: list[str] = []

    @tool
    def sync_tool(text: str) -> str:
        """Upper-cases text in a worker thread."""
        thread_names.append(threading.current_thread().name)
        emit_custom_event_sync("sync progress", {"progress": 1.0})
        return text.upper()

    @lc_tool("lc_reverse")
    def lc_reverse(text: str) -> str:
        """Reverses text (a LangChain tool)."""
        emit_custom_event_sync("lc progress", {"progress": 1.0})
        return text[::-1]

    @tool
    def broken(x: int) -> int:
        """Always fails."""
        raise RuntimeError("database password=hunter2 rejected")

    @tool(timeout=0.1)
    async def slow() -> str:
        """Too slow."""
        await asyncio.sleep(10)
        return "late"

    seen: list[str] = []

    def decide(request: ModelRequest) -> dict[str, Any]:
        seen.append(request.messages[-1].content)
        script = [
            {"tool": "sync_tool", "tool_input": {"text": "abc"}},
            {"tool": "lc_reverse", "tool_input": {"text": "abc"}},
            {"tool": "broken", "tool_input": {"x": 1}},
            {"tool": "slow"},
            {"tool": "sync_tool", "tool_input": {"text": 5}},  # invalid arguments
            {"tool": "nope", "tool_input": {}},
            {"satisfied": True, "answer": "Recovered."},
        ]
        return script[len(seen) - 1]

    manager = AgentManager(model=FunctionModel(decide), logging=False)
    agent = manager.create_agent("worker", [sync_tool, lc_reverse, broken, slow], DETAILS)
    text = await stream(agent)
    outs = [e for e in events(text) if e["event_type"] == "tool_output"]
    contents = [o["choices"][0]["delta"]["content"] for o in outs]
    assert contents[0] == "\n[Tool: sync_tool]\nABC\n"
    assert contents[1] == "\n[Tool: lc_reverse]\ncba\n"
    assert [o["metadata"].get("is_error", False) for o in outs] == [
        False,
        False,
        True,
        True,
        True,
        True,
    ]
    assert "hunter2" not in text  # the client sees the kind of failure, not its text
    assert "broken failed (RuntimeError" in contents[2]
    assert "did not finish within 0.1 seconds" in contents[3]
    assert "invalid arguments for sync_tool" in contents[4]
    assert "no tool named 'nope'" in contents[5]
    # The model saw each failure as an observation, with the details it needs.
    assert "RuntimeError: database password=hunter2 rejected" in seen[3]
    assert "text: Input should be a valid string" in seen[5]
    assert events(text)[-1]["choices"][0]["delta"]["content"] == "Recovered."
    customs = [e for e in events(text) if e["event_type"] == "custom"]
    assert [c["choices"][0]["delta"]["content"] for c in customs] == [
        "sync progress",
        "lc progress",
    ]
    assert customs[1]["metadata"]["tool_call_id"] == outs[1]["metadata"]["tool_call_id"]
    assert thread_names and thread_names[0] != threading.main_thread().name


async def test_parallel_tool_calls_each_have_their_own_id() -> None:
    @tool
    async def fetch(url: str) -> str:
        """Fetch a URL."""
        await emit_custom_event(f"fetching {url}")
        await asyncio.sleep(0.01 if url == "a" else 0)
        return f"content of {url}"

    turns = [
        {"tool_calls": [{"tool": "fetch", "tool_input": {"url": u}} for u in "abc"]},
        {"satisfied": True, "answer": "done"},
    ]
    agent = make_agent(turns, tools=[fetch], parallel_tool_calls=True)
    evs = events(await stream(agent))
    by_call: dict[str, list[str]] = {}
    for e in evs:
        if "tool_call_id" in e["metadata"]:
            by_call.setdefault(e["metadata"]["tool_call_id"], []).append(
                e["choices"][0]["delta"].get("content") or "call"
            )
    assert len(by_call) == 3
    for url in "abc":
        assert ["call", f"fetching {url}", f"\n[Tool: fetch]\ncontent of {url}\n"] in list(
            by_call.values()
        )
    indexes = [
        e["choices"][0]["delta"]["tool_calls"][0]["index"]
        for e in evs
        if e["event_type"] == "tool_call"
    ]
    assert indexes == [0, 1, 2]


async def test_large_tool_output_is_truncated_for_the_model_and_says_so() -> None:
    @tool
    def dump() -> str:
        """Returns a lot."""
        return "x" * 5000

    agent = make_agent(
        [{"tool": "dump"}, {"satisfied": True, "answer": "ok"}],
        tools=[dump],
        max_tool_output_chars=1000,
    )
    evs = events(await stream(agent))
    out = next(e for e in evs if e["event_type"] == "tool_output")
    assert out["metadata"]["truncated"] is True
    assert "characters omitted" in out["choices"][0]["delta"]["content"]
    assert len(out["choices"][0]["delta"]["content"]) < 1200
    request = agent.models["evaluator"].requests[-1]
    assert "characters omitted" in request.messages[-1].content


async def test_return_direct_tool_output_is_the_answer() -> None:
    @tool(return_direct=True)
    def lookup(key: str) -> str:
        """Direct lookup."""
        return f"value of {key}"

    agent = make_agent([{"tool": "lookup", "tool_input": {"key": "k"}}], tools=[lookup])
    final = await agent.initiate_agent("q")
    assert final["answer"] == "value of k" and final["stop_reason"] == "return_direct"


async def test_function_model_request_exposes_everything() -> None:
    seen: list[ModelRequest] = []

    async def decide(request: ModelRequest) -> dict[str, Any]:
        seen.append(request)
        return {"satisfied": True, "answer": "hi"}

    manager = AgentManager(model=FunctionModel(decide), logging=False)
    agent = manager.create_agent("helper", [search], DETAILS)
    await agent.initiate_agent("hello there")
    (request,) = seen
    assert request.component == "router" and request.agent_name == "helper"
    assert request.messages[0].role == "system" and "Finds facts." in request.messages[0].content
    assert request.messages[-1].content == "hello there"
    (spec,) = request.tools
    assert spec.name == "search" and spec.description == "Search the web for a query."
    assert spec.parameters["properties"]["limit"] == {
        "default": 2,
        "title": "Limit",
        "type": "integer",
    }
    schema = request.output_schema
    assert list(schema["properties"]) == [
        "reasoning",
        "satisfied",
        "tool",
        "tool_input",
        "delegate_to_agent",
        "answer",
    ]
    assert schema["properties"]["tool"]["enum"] == ["search", None]


async def test_scripted_model_running_out_is_a_clear_error() -> None:
    agent = make_agent([{"tool": "search", "tool_input": {"query": "x"}}])
    with pytest.raises(ScriptExhausted, match=r"no turn left for call 2 \(evaluator"):
        await agent.initiate_agent("q")
    text = await stream(make_agent([]))
    last = chunks(text)[-1]
    assert last["event_type"] == "error"
    assert (
        last["choices"][0]["delta"]["content"]
        == "\n[Error: The scripted model ran out of turns.]\n"
    )


async def test_unusable_model_output_leads_to_reflection() -> None:
    replies = iter(['{"satisfied": "certainly not a bool"}', {"satisfied": True, "answer": "ok"}])
    agent = AgentManager(model=FunctionModel(lambda r: next(replies)), logging=False).create_agent(
        "a", [], DETAILS
    )
    nodes = [next(iter(d)) async for _, d in agent.initiate_agent_astream("q")]
    assert nodes == ["router", "reflection"]


async def test_sessions_are_separate_even_when_runs_overlap() -> None:
    gate = asyncio.Event()

    async def decide(request: ModelRequest) -> dict[str, Any]:
        history = [m.content for m in request.messages[1:-1]]
        await gate.wait()
        return {"satisfied": True, "answer": f"{request.messages[-1].content} | saw {history}"}

    agent = AgentManager(model=FunctionModel(decide), logging=False).create_agent(
        "m", [], DETAILS, memory_order=4
    )

    async def ask(session: str, question: str) -> str:
        return (await agent.initiate_agent(question, session_id=session))["answer"]

    runs = [asyncio.ensure_future(ask(s, f"{s}-1")) for s in ("alice", "bob")]
    await asyncio.sleep(0.01)
    gate.set()
    assert await asyncio.gather(*runs) == ["alice-1 | saw []", "bob-1 | saw []"]
    second = await asyncio.gather(ask("alice", "alice-2"), ask("bob", "bob-2"))
    assert second == [
        "alice-2 | saw ['alice-1', 'alice-1 | saw []']",
        "bob-2 | saw ['bob-1', 'bob-1 | saw []']",
    ]
    for i in range(3, 6):
        await ask("alice", f"alice-{i}")
    history = await agent.sessions.load("local", "alice", "m")
    assert len(history) == 4 and history[-2].content == "alice-5"  # trimmed to memory_order


def test_manager_registry_and_validation(tmp_path: Any) -> None:
    manager = AgentManager(model=ScriptedModel([]), logging=False)
    agent = manager.create_agent(
        "Writer",
        [],
        DETAILS,
        max_total_tool_calls=3,
        max_reflection_count=1,
        execute_multiple_tools=True,
    )
    assert manager.get_agent("WRITER") is agent and manager.list_agents() == ["writer"]
    assert agent.limits.max_tool_calls == 3 and agent.limits.max_reflections == 1
    assert agent.parallel_tool_calls is True
    with pytest.raises(ConfigError, match="already exists"):
        manager.create_agent("writer", [], DETAILS)
    with pytest.raises(ConfigError, match="unknown option 'temprature'"):
        manager.create_agent("other", [], DETAILS, temprature=0.3)
    with pytest.raises(AgentNotFound, match="no agent named 'ghost'"):
        manager.get_agent("ghost")
    with pytest.raises(ValueError, match="ghost"):  # MASAI code catches ValueError
        manager.get_agent("ghost")
    manager.remove_agent("writer")
    assert manager.list_agents() == []
    with pytest.raises(ConfigError, match="no model"):
        AgentManager().create_agent("x", [], DETAILS)
    with pytest.raises(ConfigError, match="not found"):
        AgentManager(model_config_path=tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "all": {
                    "router": {"model_name": "m", "category": "no-such-provider"},
                    "evaluator": {},
                    "reflector": {},
                }
            }
        )
    )
    with pytest.raises(ConfigError, match="no-such-provider"):
        AgentManager(model_config_path=bad).create_agent("x", [], DETAILS)
    with pytest.raises(ConfigError, match="query must be a non-empty string"):
        asyncio.run(make_agent([]).initiate_agent("  "))


def test_tool_schemas_from_signatures() -> None:
    @tool("weather_lookup", timeout=3)
    def weather(city: Annotated[str, Field(description="City name")], days: int = 1) -> str:
        """Look up the weather.

        More text that is not part of the description.
        """
        return f"{city}:{days}"

    spec = weather.spec()
    assert (spec.name, spec.description) == ("weather_lookup", "Look up the weather.")
    assert spec.parameters["properties"]["city"]["description"] == "City name"
    assert spec.parameters["required"] == ["city"]
    assert weather.parse_arguments('{"city": "Oslo", "days": 2}') == {"city": "Oslo", "days": 2}
    assert weather.parse_arguments({"city": "Oslo"}) == {"city": "Oslo", "days": 1}
    assert asyncio.run(weather.run({"city": "Rome"})) == "Rome:1"

    @tool
    def echo(text: str) -> str:
        """Echo."""
        return text

    assert echo.parse_arguments("just a string") == {"text": "just a string"}
    from masai.tooling import ToolArgumentsError, as_tool

    with pytest.raises(ToolArgumentsError, match="unexpected"):
        echo.parse_arguments({"text": "a", "unexpected": 1})
    with pytest.raises(TypeError, match="not a tool"):
        as_tool(42)

    def shout(text: str) -> str:
        """Shout it."""
        return text.upper()

    plain = as_tool(shout)
    assert (plain.name, plain.description) == ("shout", "Shout it.")
    with pytest.raises(ValueError, match="invalid tool name"):
        as_tool(lambda value: value)
