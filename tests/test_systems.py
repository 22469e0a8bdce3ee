"""Multi-agent systems: hand-offs, shared memory, limits, isolation, all three workflows."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from masai import (
    AgentDetails,
    AgentManager,
    FunctionModel,
    ModelRequest,
    ScriptedModel,
    get_run_context,
    tool,
)
from masai.exceptions import AgentNotFound, ConfigError
from masai.MultiAgents.MultiAgent import MultiAgentSystem, SupervisorConfig
from masai.streaming import EnhancedStreamHandler
from tests.support.server import live_server
from tests.support.sse import events


@tool
async def note(key: str, value: str) -> str:
    """Write a note to the run's shared memory."""
    ctx = get_run_context()
    assert ctx is not None
    await ctx.shared.set(key, value)
    return "noted"


def three_agents() -> AgentManager:
    manager = AgentManager(logging=False)
    manager.create_agent(
        "researcher",
        [note],
        AgentDetails(["research"], "Finds facts."),
        model=ScriptedModel(
            [
                {
                    "reasoning": "Record the fact",
                    "tool": "note",
                    "tool_input": {"key": "fact", "value": "AI grows 30%/yr"},
                },
                {
                    "reasoning": "An analyst should interpret this",
                    "satisfied": True,
                    "delegate_to_agent": "analyst",
                    "answer": "Fact: AI grows 30%/yr",
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
                    "answer": "Strong growth",
                },
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
                    "answer": "AI is growing strongly.",
                },
            ]
        ),
    )
    return manager


async def sse(stream: Any) -> str:
    return "".join([c async for c in stream])


def brief(e: dict[str, Any]) -> tuple[str, str | None, str]:
    delta = e["choices"][0]["delta"]
    if "handoff" in delta:
        value = f"{delta['handoff']['from_agent']}->{delta['handoff']['to_agent']}"
    elif "memory_update" in delta:
        value = f"{delta['memory_update']['key']}={delta['memory_update']['value']}"
    elif "tool_calls" in delta:
        value = delta["tool_calls"][0]["function"]["name"]
    else:
        value = delta["content"]
    return e["event_type"], e["metadata"]["agent"], value


async def test_three_agent_delegation_chain_streams_in_order() -> None:
    mas = MultiAgentSystem(agentManager=three_agents())
    text = await sse(
        EnhancedStreamHandler().stream_mas_execution(mas, "AI?", entry_agent="researcher")
    )
    evs = events(text)
    assert [brief(e) for e in evs] == [
        ("reasoning", "researcher", "Record the fact"),
        ("tool_call", "researcher", "note"),
        ("memory_update", "researcher", "fact=AI grows 30%/yr"),
        ("tool_output", "researcher", "\n[Tool: note]\nnoted\n"),
        ("reasoning", "researcher", "An analyst should interpret this"),
        ("answer", "researcher", "Fact: AI grows 30%/yr"),
        ("memory_update", "researcher", "answer:researcher=Fact: AI grows 30%/yr"),
        ("handoff", "researcher", "researcher->analyst"),
        ("reasoning", "analyst", "The writer should phrase it"),
        ("answer", "analyst", "Strong growth"),
        ("memory_update", "analyst", "answer:analyst=Strong growth"),
        ("handoff", "analyst", "analyst->writer"),
        ("reasoning", "writer", "Write it up"),
        ("answer", "writer", "AI is growing strongly."),
        ("memory_update", "writer", "answer:writer=AI is growing strongly."),
    ]
    paths = {e["metadata"]["agent"]: e["metadata"]["agent_path"] for e in evs}
    assert paths == {
        "researcher": ["researcher"],
        "analyst": ["researcher", "analyst"],
        "writer": ["researcher", "analyst", "writer"],
    }
    answers = [e for e in evs if e["event_type"] == "answer"]
    assert [a["metadata"]["stop_reason"] for a in answers] == [
        "delegated",
        "delegated",
        "completed",
    ]
    handoff = next(e for e in evs if e["event_type"] == "handoff")
    assert handoff["choices"][0]["delta"]["handoff"]["reason"] == (
        "An analyst should interpret this"
    )
    assert [e["metadata"]["seq"] for e in evs] == list(range(len(evs)))
    assert len({e["metadata"]["run_id"] for e in evs}) == 1
    # Memory writes inside a tool belong to that tool call.
    assert evs[2]["metadata"]["tool_call_id"] == evs[1]["metadata"]["tool_call_id"]


async def test_receiving_agent_gets_structured_handoff_context() -> None:
    manager = three_agents()
    mas = MultiAgentSystem(agentManager=manager)
    final = await mas.initiate_decentralized_mas("AI?", set_entry_agent="researcher")
    assert final["answer"] == "AI is growing strongly."
    assert final["chain"] == ["researcher", "analyst", "writer"]
    assert final["stop_reason"] == "completed"
    assert final["shared_memory"]["fact"] == "AI grows 30%/yr"
    task = manager.get_agent("writer").models["router"].requests[0].messages[-1].content
    assert task.startswith("Task passed to you by analyst:\nTASK PASSED TO YOU BY analyst.")
    assert "Their reasoning: The writer should phrase it" in task
    assert "- researcher: Fact: AI grows 30%/yr" in task and "- analyst: Strong growth" in task
    assert "Original question: AI?" in task
    # Each prompt describes the co-workers with their own details, and never the agent itself.
    system = manager.get_agent("analyst").models["router"].requests[0].messages[0].content
    assert "- researcher: capabilities: research; Finds facts." in system
    assert "- writer: capabilities: writing; Writes reports." in system
    assert "- analyst:" not in system
    request = manager.get_agent("analyst").models["router"].requests[0]
    assert request.output_schema["properties"]["delegate_to_agent"]["enum"] == [
        "researcher",
        "writer",
        None,
    ]


def ping_pong_manager(rounds: int = 20) -> AgentManager:
    manager = AgentManager(logging=False)
    for me, other in (("ping", "pong"), ("pong", "ping")):
        manager.create_agent(
            me,
            [],
            AgentDetails([me]),
            model=ScriptedModel(
                [
                    {
                        "reasoning": f"{other} should do it",
                        "satisfied": True,
                        "delegate_to_agent": other,
                        "answer": f"{me} says hi",
                    }
                ]
                * rounds
            ),
        )
    return manager


async def test_ping_pong_stops_at_the_hop_limit() -> None:
    mas = MultiAgentSystem(agentManager=ping_pong_manager(), max_hops=3, max_repeated_handoffs=10)
    text = await sse(EnhancedStreamHandler().stream_mas_execution(mas, "go", entry_agent="ping"))
    evs = events(text)
    assert [brief(e)[2] for e in evs if e["event_type"] == "handoff"] == [
        "ping->pong",
        "pong->ping",
        "ping->pong",
    ]
    last = evs[-1]
    assert last["event_type"] == "answer" and last["metadata"]["stop_reason"] == "max_hops"
    assert "limit of 3 hand-offs" in last["choices"][0]["delta"]["content"]
    final = await MultiAgentSystem(
        agentManager=ping_pong_manager(), max_hops=3, max_repeated_handoffs=10
    ).initiate_decentralized_mas("go", "ping")
    assert final["stop_reason"] == "max_hops" and final["satisfied"] is False


async def test_cycle_guard_stops_repeated_handoffs_first() -> None:
    mas = MultiAgentSystem(agentManager=ping_pong_manager(), max_hops=50, max_repeated_handoffs=2)
    final = await mas.initiate_decentralized_mas("go", "ping")
    assert final["stop_reason"] == "delegation_cycle"
    # ping→pong and pong→ping twice each; the third ping→pong is refused.
    assert final["chain"] == ["ping", "pong", "ping", "pong", "ping"]


async def test_unknown_delegate_is_reported_to_the_agent_which_recovers() -> None:
    manager = AgentManager(logging=False)
    lead = manager.create_agent(
        "lead",
        [],
        AgentDetails(["lead"]),
        model=ScriptedModel(
            [
                {"reasoning": "ask the lawyer", "satisfied": True, "delegate_to_agent": "lawyer"},
                {
                    "reasoning": "fine, the clerk then",
                    "satisfied": True,
                    "delegate_to_agent": "clerk",
                },
            ]
        ),
    )
    manager.create_agent(
        "clerk",
        [],
        AgentDetails(["filing"]),
        model=ScriptedModel([{"reasoning": "filed", "satisfied": True, "answer": "Filed."}]),
    )
    mas = MultiAgentSystem(agentManager=manager)
    final = await mas.initiate_decentralized_mas("file this", lead)
    assert final["answer"] == "Filed." and final["chain"] == ["lead", "clerk"]
    retry = lead.models["router"].requests[1].messages[-1].content
    assert "there is no agent named 'lawyer'" in retry and "['clerk']" in retry


async def test_concurrent_runs_on_one_system_share_nothing() -> None:
    gate = asyncio.Event()

    def model_for(name: str) -> FunctionModel:
        async def decide(request: ModelRequest) -> dict[str, Any]:
            task = request.messages[-1].content
            conversation = "\n".join(m.content for m in request.messages[1:])
            question = re.search(r"Original question: (\S+)", conversation)
            q = question.group(1) if question else task
            if name == "analyst":
                if request.component == "router":
                    await gate.wait()  # both runs are in flight at once here
                    return {"tool": "note", "tool_input": {"key": "question", "value": q}}
                return {"satisfied": True, "answer": f"analysis of {q}"}
            return {
                "reasoning": f"{name} hands {q} on",
                "satisfied": True,
                "delegate_to_agent": "analyst",
                "answer": f"{name} looked at {q}",
            }

        return FunctionModel(decide)

    manager = AgentManager(logging=False)
    for name in ("researcher", "writer", "analyst"):
        manager.create_agent(name, [note], AgentDetails([name]), model=model_for(name))
    mas = MultiAgentSystem(agentManager=manager)
    handler = EnhancedStreamHandler()
    runs = [
        asyncio.ensure_future(sse(handler.stream_mas_execution(mas, "alpha", "researcher"))),
        asyncio.ensure_future(sse(handler.stream_mas_execution(mas, "beta", "writer"))),
    ]
    await asyncio.sleep(0.05)
    gate.set()
    alpha, beta = [events(t) for t in await asyncio.gather(*runs)]
    for evs, entry, mine, other in (
        (alpha, "researcher", "alpha", "beta"),
        (beta, "writer", "beta", "alpha"),
    ):
        assert len({e["metadata"]["run_id"] for e in evs}) == 1
        assert {e["metadata"]["agent"] for e in evs} == {entry, "analyst"}
        assert other not in json.dumps(evs)
        memory = [brief(e)[2] for e in evs if e["event_type"] == "memory_update"]
        assert f"question={mine}" in memory
        assert evs[-2]["choices"][0]["delta"]["content"] == f"analysis of {mine}"
    assert alpha[0]["metadata"]["run_id"] != beta[0]["metadata"]["run_id"]


async def test_entry_agent_is_honoured_every_call_and_sessions_carry_history() -> None:
    seen: dict[str, list[str]] = {"a": [], "b": []}

    def model_for(name: str) -> FunctionModel:
        def decide(request: ModelRequest) -> dict[str, Any]:
            history = [m.content for m in request.messages[1:-1]]
            seen[name].append(f"{request.messages[-1].content} after {history}")
            return {"satisfied": True, "answer": f"{name}:{request.messages[-1].content}"}

        return FunctionModel(decide)

    manager = AgentManager(logging=False)
    for name in ("a", "b"):
        manager.create_agent(name, [], AgentDetails([name]), model=model_for(name))
    mas = MultiAgentSystem(agentManager=manager)
    assert (await mas.initiate_decentralized_mas("q1", "a", session_id="s"))["answer"] == "a:q1"
    assert (await mas.initiate_decentralized_mas("q2", "b", session_id="s"))["answer"] == "b:q2"
    assert (await mas.initiate_decentralized_mas("q3", "a", session_id="s"))["answer"] == "a:q3"
    assert seen["a"][-1] == "q3 after ['q1', 'a:q1']"  # continuity through the session
    await mas.initiate_decentralized_mas("q4", "a", session_id="other")
    assert seen["a"][-1] == "q4 after []"


async def test_agent_as_tool_streams_nested_events() -> None:
    manager = AgentManager(logging=False)
    expert = manager.create_agent(
        "expert",
        [note],
        AgentDetails(["depth"]),
        model=ScriptedModel(
            [
                {"reasoning": "note it", "tool": "note", "tool_input": {"key": "k", "value": "v"}},
                {"reasoning": "expert done", "satisfied": True, "answer": "Deep answer."},
            ]
        ),
    )
    lead = manager.create_agent(
        "lead",
        [expert.as_tool()],
        AgentDetails(["lead"]),
        model=ScriptedModel(
            [
                {"reasoning": "ask the expert", "tool": "expert", "tool_input": {"task": "dig"}},
                {
                    "reasoning": "relay",
                    "satisfied": True,
                    "answer": "The expert says: Deep answer.",
                },
            ]
        ),
    )
    evs = events(
        await sse(
            EnhancedStreamHandler(enable_token_events=True).stream_agent_execution(lead, "question")
        )
    )
    outer_call = evs[1]
    assert brief(outer_call) == ("tool_call", "lead", "expert")
    call_id = outer_call["metadata"]["tool_call_id"]
    nested = [e for e in evs if e["metadata"]["agent"] == "expert" and e["event_type"] != "token"]
    assert [e["event_type"] for e in nested] == [
        "reasoning",
        "tool_call",
        "memory_update",
        "tool_output",
        "reasoning",
        "answer",
    ]
    assert all(e["metadata"]["agent_path"] == ["lead", "expert"] for e in nested)
    # Nested reasoning and answer sit under the lead's call; the expert's own tool has its id.
    assert nested[0]["metadata"]["tool_call_id"] == call_id
    assert nested[1]["metadata"]["tool_call_id"] != call_id
    assert brief(evs[-1]) == ("answer", "lead", "The expert says: Deep answer.")
    tokens = [e for e in evs if e["event_type"] == "token"]
    # Both answers stream; the expert's is marked intermediate (it is the lead's tool result).
    final = "".join(
        t["choices"][0]["delta"]["content"] for t in tokens if not t["metadata"].get("intermediate")
    )
    assert final == "The expert says: Deep answer."
    assert nested[-1]["metadata"]["intermediate"] is True
    assert "intermediate" not in evs[-1]["metadata"]


def test_bad_inputs_fail_clearly() -> None:
    manager = three_agents()
    mas = MultiAgentSystem(agentManager=manager)
    with pytest.raises(AgentNotFound):
        asyncio.run(mas.initiate_decentralized_mas("q", "nobody"))
    with pytest.raises(AgentNotFound):
        asyncio.run(mas.initiate_sequential_mas("q", ["researcher", "nobody"]))
    assert manager.get_agent("researcher").models["router"].remaining == 2  # nothing ran
    with pytest.raises(ConfigError, match="supervisor_config"):
        asyncio.run(mas.initiate_hierarchical_mas("q"))
    with pytest.raises(ConfigError, match="non-empty"):
        asyncio.run(mas.initiate_decentralized_mas("", "researcher"))
    other = AgentManager(model=ScriptedModel([]), logging=False)
    stranger = other.create_agent("researcher", [], AgentDetails([]))
    with pytest.raises(ConfigError, match="not managed"):
        asyncio.run(mas.initiate_decentralized_mas("q", stranger))


# -- sequential and hierarchical, through a real server ------------------------------------


def pipeline_manager() -> AgentManager:
    manager = AgentManager(logging=False)

    def stage(name: str) -> FunctionModel:
        def decide(request: ModelRequest) -> dict[str, Any]:
            task = request.messages[-1].content
            if task.startswith("Task passed to you by"):
                task = task.split("\n", 1)[1]
            previous = re.findall(r"- \w+: (.*)", task)
            base = previous[-1] if previous else task
            return {"reasoning": f"{name} step", "satisfied": True, "answer": f"{base}+{name}"}

        return FunctionModel(decide)

    for name in ("draft", "edit", "publish"):
        manager.create_agent(name, [], AgentDetails([name]), model=stage(name))
    return manager


def supervised_mas(results: list[dict[str, Any]]) -> MultiAgentSystem:
    manager = pipeline_manager()
    supervisor = ScriptedModel(
        [
            {"reasoning": "Drafting first", "delegate_to_agent": "draft", "agent_input": "topic"},
            {
                "reasoning": "Now publish",
                "delegate_to_agent": "publish",
                "agent_input": "topic+draft",
            },
            {
                "reasoning": "All done",
                "satisfied": True,
                "answer": "Published: topic+draft+publish",
            },
        ]
    )
    return MultiAgentSystem(
        agentManager=manager,
        supervisor_config=SupervisorConfig(model=supervisor),
        heirarchical_mas_result_callback=results.append,
    )


def test_sequential_and_hierarchical_stream_through_uvicorn() -> None:
    results: list[dict[str, Any]] = []
    app = FastAPI()
    handler = EnhancedStreamHandler(enable_token_events=True)

    @app.post("/sequential")
    async def run_sequential(query: str) -> StreamingResponse:
        mas = MultiAgentSystem(agentManager=pipeline_manager())
        return StreamingResponse(
            handler.stream_sequential_execution(mas, query, ["draft", "edit", "publish"]),
            media_type="text/event-stream",
            headers=handler.get_headers(),
        )

    @app.post("/hierarchical")
    async def run_hierarchical(query: str) -> StreamingResponse:
        return StreamingResponse(
            handler.stream_hierarchical_execution(supervised_mas(results), query),
            media_type="text/event-stream",
            headers=handler.get_headers(),
        )

    with live_server(app) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        with client.stream("POST", "/sequential", params={"query": "topic"}) as response:
            seq = events("".join(response.iter_text()))
        with client.stream("POST", "/hierarchical", params={"query": "topic"}) as response:
            hier = events("".join(response.iter_text()))

    assert [brief(e) for e in seq if e["event_type"] in ("handoff", "answer")] == [
        ("answer", "draft", "topic+draft"),
        ("handoff", "draft", "draft->edit"),
        ("answer", "edit", "topic+draft+edit"),
        ("handoff", "edit", "edit->publish"),
        ("answer", "publish", "topic+draft+edit+publish"),
    ]
    assert seq[-2]["metadata"]["agent_path"] == ["draft", "edit", "publish"]
    # Only the last agent's answer is the user's; the others feed the next agent.
    assert [
        (e["metadata"]["agent"], e["metadata"].get("intermediate", False))
        for e in seq
        if e["event_type"] == "answer"
    ] == [("draft", True), ("edit", True), ("publish", False)]

    assert [brief(e) for e in hier if e["event_type"] != "token"] == [
        ("reasoning", "supervisor", "Drafting first"),
        ("handoff", "supervisor", "supervisor->draft"),
        ("reasoning", "draft", "draft step"),
        ("answer", "draft", "topic+draft"),
        ("memory_update", "draft", "answer:draft=topic+draft"),
        ("handoff", "draft", "draft->supervisor"),
        ("reasoning", "supervisor", "Now publish"),
        ("handoff", "supervisor", "supervisor->publish"),
        ("reasoning", "publish", "publish step"),
        ("answer", "publish", "topic+draft+publish"),
        ("memory_update", "publish", "answer:publish=topic+draft+publish"),
        ("handoff", "publish", "publish->supervisor"),
        ("reasoning", "supervisor", "All done"),
        ("answer", "supervisor", "Published: topic+draft+publish"),
    ]
    assert {
        tuple(e["metadata"]["agent_path"]) for e in hier if e["metadata"]["agent"] == "draft"
    } == {("supervisor", "draft")}
    supervisor_tokens = "".join(
        e["choices"][0]["delta"]["content"]
        for e in hier
        if e["event_type"] == "token" and e["metadata"]["agent"] == "supervisor"
    )
    assert supervisor_tokens == "Published: topic+draft+publish"
    assert {
        e["metadata"]["agent"]
        for e in hier
        if e["event_type"] in ("answer", "token") and not e["metadata"].get("intermediate")
    } == {"supervisor"}
    assert results and results[0]["answer"] == "Published: topic+draft+publish"


async def test_hierarchical_limits_and_review() -> None:
    manager = pipeline_manager()
    supervisor = ScriptedModel(
        [
            {"reasoning": "ask a ghost", "delegate_to_agent": "ghost", "agent_input": "x"},
            *[{"reasoning": "again", "delegate_to_agent": "draft", "agent_input": "x"}] * 3,
        ]
    )
    mas = MultiAgentSystem(
        agentManager=manager, max_rounds=3, supervisor_config=SupervisorConfig(model=supervisor)
    )
    final = await mas.initiate_hierarchical_mas("q")
    assert final["stop_reason"] == "max_rounds" and final["satisfied"] is False
    second = supervisor.requests[1].messages[-1].content
    assert "no agent named 'ghost'" in second
    third = supervisor.requests[2].messages[-1].content
    assert third.startswith("draft answered:\nx+draft")

    direct = MultiAgentSystem(
        agentManager=pipeline_manager(),
        agent_return_direct=True,
        supervisor_config=SupervisorConfig(
            model=ScriptedModel(
                [{"reasoning": "draft it", "delegate_to_agent": "draft", "agent_input": "t"}]
            )
        ),
    )
    final = await direct.initiate_hierarchical_mas("q")
    assert final["answer"] == "t+draft" and final["stop_reason"] == "return_direct"


def test_spec_section_4_runs_as_written() -> None:
    from tests.support import spec

    manager = three_agents()
    ns: dict[str, Any] = {
        "__name__": "spec_program",
        "manager": manager,
        "entry_agent": manager.get_agent("researcher"),
        "process_state": lambda state: ": state\n\n",
    }
    exec(
        "import asyncio\nfrom masai.Tools.utilities.streaming_events import "
        "set_streaming_callback, clear_streaming_callback",
        ns,
    )
    spec.run(spec.find("Usage", "1. Basic Enhanced Streaming")[0].code, ns)
    spec.run(spec.find("Usage", "4. Decentralized MAS Streaming")[0].code, ns)
    with live_server(ns["app"]) as server:
        response = httpx.post(f"{server.url}/mas/stream", params={"query": "AI?"}, timeout=10)
    assert response.status_code == 200
    body = response.text
    assert body.count(": state") == 6  # researcher: 3 nodes; analyst, writer: 1 each; final
    frames = [json.loads(f[6:]) for f in body.split("\n\n") if f.startswith("data: ")]
    assert [f["event_type"] for f in frames].count("handoff") == 2
    assert [f["metadata"]["seq"] for f in frames] == list(range(len(frames)))
    assert len({f["id"] for f in frames}) == 1
    assert frames[-2]["choices"][0]["delta"]["content"] == "AI is growing strongly."
