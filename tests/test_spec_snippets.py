"""Every snippet of the spec, run as written; every wire format in it, checked against ours.

Blocks run in one namespace in document order, as a reader would paste them into one program;
the names a snippet uses without defining (``agent``, ``perform_search``, ``process_step``,
``query``) are supplied here, as the reader's own code would.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from masai import Agent, AgentDetails, AgentManager, FunctionModel, ModelRequest
from masai.events import (
    StreamingEvent,
    clear_streaming_callback,
    emit_custom_event,
    emit_event,
    emit_tool_call,
    emit_tool_output,
    set_streaming_callback,
)
from masai.streaming import EnhancedStreamHandler
from tests.support import spec
from tests.support.server import live_server
from tests.support.sse import chunks, events


async def perform_search(query: str) -> list[str]:
    await asyncio.sleep(0)
    return [f"{query} #{i}" for i in range(5)]


async def process_step(i: int) -> None:
    await asyncio.sleep(0)


def agent_using(tool: Any, tool_input: dict[str, Any], answer: str) -> Agent:
    """A real masai agent: it calls ``tool`` once, then answers."""

    def decide(request: ModelRequest) -> dict[str, Any]:
        if request.component == "router":
            return {"reasoning": "Search first", "tool": tool.name, "tool_input": tool_input}
        return {"reasoning": "Found it", "satisfied": True, "answer": answer}

    manager = AgentManager(model=FunctionModel(decide), logging=False)
    return manager.create_agent("researcher", [tool], AgentDetails(capabilities=["research"]))


def research_agent(tool: Any) -> Agent:
    return agent_using(tool, {"query": "AI trends"}, "AI is growing")


@pytest.fixture
def ns() -> dict[str, Any]:
    """The reader's program: usage snippet 3 defines the tool the agent uses."""
    namespace: dict[str, Any] = {
        "__name__": "spec_program",
        "perform_search": perform_search,
        "process_step": process_step,
        "query": "AI trends",
    }
    spec.run(spec.find("Usage", "3. Custom Events from Tools")[0].code, namespace)
    namespace["agent"] = research_agent(namespace["search_database"])
    return namespace


@pytest.fixture
def served(ns: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    spec.run(spec.find("Usage", "1. Basic Enhanced Streaming")[0].code, ns)
    spec.run(spec.find("Usage", "2. Simple Streaming (Backward Compatible)")[0].code, ns)
    with live_server(ns["app"]) as server:
        yield server.url, ns


def test_usage_1_basic_enhanced_streaming_over_http(served: tuple[str, dict[str, Any]]) -> None:
    url, _ = served
    with (
        httpx.Client(base_url=url, timeout=10) as client,
        client.stream("POST", "/agent/stream", params={"query": "AI trends"}) as response,
    ):
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-cache, no-transform"
        body = "".join(response.iter_text())
    evs = events(body)
    assert [e["event_type"] for e in evs] == [
        "reasoning",
        "tool_call",
        "custom",
        "custom",
        "tool_output",
        "reasoning",
        "answer",
    ]
    progress = [
        e["choices"][0]["delta"]["custom_data"]["progress"]
        for e in evs
        if e["event_type"] == "custom"
    ]
    assert progress == [0.0, 1.0]
    assert evs[3]["choices"][0]["delta"]["content"] == "✅ Found 5 results"
    assert evs[-1]["choices"][0]["delta"] == {"content": "AI is growing", "satisfied": True}
    call_id = evs[1]["metadata"]["tool_call_id"]
    assert all(e["metadata"]["tool_call_id"] == call_id for e in evs[1:5])


def test_usage_2_simple_streaming_over_http(served: tuple[str, dict[str, Any]]) -> None:
    url, _ = served
    response = httpx.post(f"{url}/agent/stream/simple", params={"query": "AI trends"}, timeout=10)
    parsed = chunks(response.text)
    assert [c.get("event_type") for c in parsed] == [None, "reasoning", "reasoning", "answer", None]
    assert parsed[-1]["choices"][0]["finish_reason"] == "stop"


def test_usage_3_langchain_tool_emits_progress(ns: dict[str, Any]) -> None:
    tool = ns["search_database"]
    assert type(tool).__module__.startswith("langchain_core")
    assert tool.name == "search_database"

    async def main() -> list[StreamingEvent]:
        got: list[StreamingEvent] = []
        set_streaming_callback(got.append)
        try:
            assert await tool.ainvoke({"query": "x"}) == [f"x #{i}" for i in range(5)]
        finally:
            clear_streaming_callback()
        return got

    got = asyncio.run(main())
    assert [(e.data["content"], e.data["custom_data"]) for e in got] == [
        ("🔍 Starting search...", {"progress": 0.0, "stage": "init"}),
        ("✅ Found 5 results", {"progress": 1.0, "result_count": 5}),
    ]


def test_configuration_and_filtering_snippets(ns: dict[str, Any]) -> None:
    spec.run(spec.find("Usage", "1. Basic Enhanced Streaming")[0].code, ns)
    spec.run(spec.find("Configuration Options", "EnhancedStreamHandler")[0].code, ns)
    handler = ns["handler"]
    assert handler.model == "mas-ai-general" and handler.event_filter == {"tool_call", "custom"}
    assert not handler.enable_node_transitions

    code = spec.find("Configuration Options", "Event Filtering")[0].code
    # The block builds three handlers in turn; check each as it is built.
    filters = []
    for statement in re.split(r"\n(?=# )", code):
        spec.run(statement, ns)
        filters.append(ns["handler"].event_filter)
    assert filters == [{"tool_call", "tool_output"}, {"custom"}, None]


def test_best_practice_1_progress_tool(ns: dict[str, Any]) -> None:
    spec.run(spec.find("Best Practices", "1. Use Custom Events for Progress")[0].code, ns)
    agent = agent_using(ns["long_running_task"], {"data": "d"}, "Complete")

    async def main() -> str:
        return "".join(
            [c async for c in EnhancedStreamHandler().stream_agent_execution(agent, "go")]
        )

    evs = events(asyncio.run(main()))
    progress = [
        e["choices"][0]["delta"]["custom_data"]["progress"]
        for e in evs
        if e["event_type"] == "custom"
    ]
    assert progress == pytest.approx([(i + 1) / 10 for i in range(10)])
    (output,) = [e for e in evs if e["event_type"] == "tool_output"]
    assert output["choices"][0]["delta"]["content"] == "\n[Tool: long_running_task]\nComplete\n"


def test_best_practices_2_and_3(ns: dict[str, Any]) -> None:
    spec.run(spec.find("Usage", "1. Basic Enhanced Streaming")[0].code, ns)
    spec.run(spec.find("Best Practices", "2. Disable Verbose Events in Production")[0].code, ns)
    handler = ns["handler"]  # the production one
    assert (
        handler.enable_tool_events,
        handler.enable_node_transitions,
        handler.enable_custom_events,
    ) == (False, False, True)
    spec.run(spec.find("Best Practices", "3. Handle Errors Gracefully")[0].code, ns)

    async def drain() -> str:
        return "".join([c async for c in ns["stream_with_error_handling"]()])

    evs = events(asyncio.run(drain()))
    assert [e["event_type"] for e in evs] == [
        "reasoning",
        "custom",
        "custom",
        "reasoning",
        "answer",
    ]  # no tool events in production

    def broken(_request: ModelRequest) -> dict[str, Any]:
        raise ValueError("secret internals")

    ns["agent"] = AgentManager(model=FunctionModel(broken)).create_agent(
        "broken", [], AgentDetails(capabilities=[])
    )
    text = asyncio.run(drain())
    assert chunks(text)[-1]["event_type"] == "error" and "secret internals" not in text


def test_backward_compatibility_loop(ns: dict[str, Any]) -> None:
    (block,) = spec.find("Backward Compatibility")
    result = spec.run(block.code, ns)
    assert asyncio.iscoroutine(result)
    asyncio.run(result)  # iterates the agent's stream to the end, no handler involved


# -- the wire formats of "Event Types" --------------------------------------------------------


def _contains(ours: Any, theirs: Any, path: str = "") -> None:
    """``ours`` has everything ``theirs`` has (ids and JSON-string arguments compared loosely)."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict), path
        for key, value in theirs.items():
            assert key in ours, f"{path}.{key} missing"
            _contains(ours[key], value, f"{path}.{key}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), path
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            _contains(a, b, f"{path}[{i}]")
    elif path.endswith(".id") and isinstance(theirs, str) and theirs.startswith("call_"):
        assert re.fullmatch(r"call_[0-9a-f]{24}", ours), ours
    elif path.endswith(".arguments"):
        assert json.loads(ours) == json.loads(theirs)
    else:
        assert ours == theirs, f"{path}: {ours!r} != {theirs!r}"


async def _emit_like(data_block: dict[str, Any]) -> StreamingEvent:
    got: list[StreamingEvent] = []
    set_streaming_callback(got.append)
    try:
        kind, data = data_block["event_type"], data_block["data"]
        node = data_block.get("metadata", {}).get("node")
        if kind == "tool_call":
            await emit_tool_call(data["tool_name"], data["tool_input"], node=node)
        elif kind == "tool_output":
            await emit_tool_output(data["tool_name"], data["output"], node=node)
        elif kind == "custom":
            await emit_custom_event(data["content"], data["custom_data"])
        else:
            await emit_event(kind, data)
    finally:
        clear_streaming_callback()
    (event,) = got
    return event


@pytest.mark.parametrize(
    "heading",
    ["1. State Events", "2. Tool Call Events", "3. Tool Output Events", "4. Custom Events"],
)
def test_event_type_formats(heading: str) -> None:
    data_block, *sse_block = [json.loads(b.code) for b in spec.find("Event Types", heading, "json")]
    event = asyncio.run(_emit_like(data_block))
    _contains(event.to_dict(), data_block)
    chunk = json.loads(event.to_openai_sse().removeprefix("data: "))
    assert chunk["event_type"] == data_block["event_type"]
    for expected in sse_block:
        _contains(chunk, expected)
