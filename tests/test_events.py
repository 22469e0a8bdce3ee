"""The event model and the emit/callback API."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest

from masai import AgentDetails, AgentManager, ScriptedModel, tool
from masai._context import agent_scope, scoped, tool_scope
from masai.events import (
    EVENT_TYPES,
    StreamingEvent,
    bind_context,
    clear_streaming_callback,
    emit_custom_event,
    emit_custom_event_sync,
    emit_event,
    emit_event_sync,
    emit_node_transition,
    emit_tool_call,
    emit_tool_call_sync,
    emit_tool_output,
    emit_tool_output_sync,
    get_streaming_callback,
    set_streaming_callback,
)
from masai.streaming import EnhancedStreamHandler
from tests.support.sse import events as sse_events


def test_vocabulary() -> None:
    assert (
        frozenset(
            {
                "state",
                "reasoning",
                "answer",
                "token",
                "tool_call",
                "tool_output",
                "node_transition",
                "custom",
                "handoff",
                "memory_update",
                "approval_required",
                "approval",
                "retracted",
                "usage",
                "error",
            }
        )
        == EVENT_TYPES
    )


def test_streaming_event_to_dict_and_defaults() -> None:
    event = StreamingEvent("custom", {"content": "x", "custom_data": {}})
    assert event.metadata == {}
    assert event.to_dict() == {
        "event_type": "custom",
        "data": {"content": "x", "custom_data": {}},
        "metadata": {},
        "timestamp": event.timestamp,
    }
    assert event == StreamingEvent(
        "custom", {"content": "x", "custom_data": {}}, timestamp=event.timestamp
    )


@pytest.mark.parametrize(
    ("event_type", "data", "delta", "finish"),
    [
        (
            "tool_call",
            {"tool_name": "search_database", "tool_input": {"query": "AI trends", "limit": 10}},
            None,
            None,
        ),
        (
            "tool_output",
            {"tool_name": "search_database", "output": "Found 5 results: ..."},
            {"content": "\n[Tool: search_database]\nFound 5 results: ...\n"},
            None,
        ),
        (
            "custom",
            {
                "content": "🔍 Searching 100 records...",
                "custom_data": {"progress": 0.5, "stage": "searching", "records_processed": 50},
            },
            {
                "content": "🔍 Searching 100 records...",
                "custom_data": {"progress": 0.5, "stage": "searching", "records_processed": 50},
            },
            None,
        ),
        (
            "reasoning",
            {"reasoning": "Analyzing the query..."},
            {"content": "Analyzing the query..."},
            None,
        ),
        (
            "answer",
            {"answer": "Here is the result", "satisfied": True},
            {"content": "Here is the result", "satisfied": True},
            None,
        ),
        (
            "state",
            {"reasoning": "r", "answer": "a", "satisfied": True},
            {"content": '{"reasoning":"r","answer":"a","satisfied":true}'},
            None,
        ),
        ("token", {"content": "Hel"}, {"content": "Hel"}, None),
        (
            "handoff",
            {"from_agent": "a", "to_agent": "b", "reason": "why"},
            {
                "content": "\n[Handoff: a → b]\n",
                "handoff": {"from_agent": "a", "to_agent": "b", "reason": "why"},
            },
            None,
        ),
        (
            "memory_update",
            {"key": "k", "value": [1], "agent": "a"},
            {
                "content": "\n[Memory: a set k]\n",
                "memory_update": {"key": "k", "value": [1], "agent": "a"},
            },
            None,
        ),
        ("error", {"error": "boom"}, {"content": "\n[Error: boom]\n"}, "stop"),
    ],
)
def test_to_openai_sse_shapes(
    event_type: Any, data: dict[str, Any], delta: dict[str, Any] | None, finish: str | None
) -> None:
    frame = StreamingEvent(event_type, data, {"node": "n"}).to_openai_sse("m")
    assert frame.startswith("data: ") and frame.endswith("\n\n")
    chunk = json.loads(frame[6:])
    assert list(chunk) == ["id", "object", "created", "model", "choices", "event_type", "metadata"]
    assert chunk["object"] == "chat.completion.chunk" and chunk["model"] == "m"
    assert chunk["id"].startswith("chatcmpl-")
    assert chunk["event_type"] == event_type and chunk["metadata"] == {"node": "n"}
    choice = chunk["choices"][0]
    assert choice["index"] == 0 and choice["finish_reason"] == finish
    if delta is not None:
        assert choice["delta"] == delta
    else:
        (call,) = choice["delta"]["tool_calls"]
        assert call["type"] == "function" and call["index"] == 0
        assert call["id"].startswith("call_")
        assert call["function"]["name"] == "search_database"
        assert json.loads(call["function"]["arguments"]) == {"query": "AI trends", "limit": 10}


def test_json_string_tool_input_is_kept_as_arguments() -> None:
    frame = StreamingEvent(
        "tool_call", {"tool_name": "t", "tool_input": '{"a": 1}'}
    ).to_openai_sse()
    call = json.loads(frame[6:])["choices"][0]["delta"]["tool_calls"][0]
    assert call["function"]["arguments"] == '{"a": 1}'
    frame = StreamingEvent("tool_call", {"tool_name": "t", "tool_input": "plain"}).to_openai_sse()
    call = json.loads(frame[6:])["choices"][0]["delta"]["tool_calls"][0]
    assert json.loads(call["function"]["arguments"]) == "plain"


async def test_emitting_without_a_listener_is_a_no_op() -> None:
    assert get_streaming_callback() is None
    await emit_event("custom", {"content": "x"})
    await emit_custom_event("x")
    assert await emit_tool_call("t", {}) is None
    await emit_tool_output("t", "out")
    emit_custom_event_sync("x")
    emit_event_sync("custom", {})


async def test_callback_receives_numbered_events_with_scope_metadata() -> None:
    got: list[StreamingEvent] = []
    set_streaming_callback(got.append)  # a sync callback is fine too
    try:
        with agent_scope("writer"), scoped(node="router"):
            await emit_event("reasoning", {"reasoning": "r"}, {"extra": 1, "seq": 99})
            with tool_scope("t", "call_abc"):
                await emit_tool_call("t", {"x": 1})
                await emit_custom_event("half", {"progress": 0.5})
                await emit_tool_output("t", {"ok": True})
    finally:
        clear_streaming_callback()
    assert [e.event_type for e in got] == ["reasoning", "tool_call", "custom", "tool_output"]
    run_ids = {e.metadata["run_id"] for e in got}
    assert len(run_ids) == 1
    assert [e.metadata["seq"] for e in got] == [0, 1, 2, 3]
    assert got[0].metadata == {
        "run_id": run_ids.pop(),
        "seq": 0,
        "agent": "writer",
        "node": "router",
        "agent_path": ["writer"],
        "extra": 1,
    }
    assert {e.metadata.get("tool_call_id") for e in got[1:]} == {"call_abc"}
    assert got[3].data == {"tool_name": "t", "output": '{"ok":true}'}
    frames = [e.to_openai_sse() for e in got]
    assert len({json.loads(f[6:])["id"] for f in frames}) == 1  # one stream id


async def test_nested_callbacks_restore_the_outer_one() -> None:
    outer: list[str] = []
    inner: list[str] = []

    async def outer_cb(event: StreamingEvent) -> None:
        outer.append(event.data["content"])

    set_streaming_callback(outer_cb)
    await emit_custom_event("o1")
    set_streaming_callback(lambda e: inner.append(e.data["content"]))
    await emit_custom_event("i1")
    clear_streaming_callback()
    await emit_custom_event("o2")
    clear_streaming_callback()
    await emit_custom_event("nobody")
    clear_streaming_callback()  # nothing left to clear: harmless
    assert outer == ["o1", "o2"] and inner == ["i1"]
    assert get_streaming_callback() is None


async def test_clear_inside_a_handler_run_does_not_cut_off_its_stream() -> None:
    from tests.support.agents import StepAgent

    async def step(_q: str) -> None:
        clear_streaming_callback()  # a reference-style tool "cleaning up"
        await emit_custom_event("still streamed")

    text = "".join(
        [
            c
            async for c in EnhancedStreamHandler().stream_agent_execution(
                StepAgent("a", [step]), "q"
            )
        ]
    )
    assert "still streamed" in text


async def test_callbacks_are_per_context() -> None:
    seen: dict[str, list[str]] = {"a": [], "b": []}

    async def run(name: str) -> None:
        set_streaming_callback(lambda e: seen[name].append(e.data["content"]))
        for i in range(5):
            await emit_custom_event(f"{name}{i}")
            await asyncio.sleep(0)
        clear_streaming_callback()

    await asyncio.gather(run("a"), run("b"))
    assert seen == {"a": [f"a{i}" for i in range(5)], "b": [f"b{i}" for i in range(5)]}


async def test_sync_emits_from_threads_reach_an_async_callback_in_order() -> None:
    got: list[str] = []

    async def slow_cb(event: StreamingEvent) -> None:
        await asyncio.sleep(0.001)
        got.append(event.data["content"])

    set_streaming_callback(slow_cb)
    try:

        def work() -> None:
            for i in range(5):
                emit_custom_event_sync(f"t{i}")

        await asyncio.to_thread(work)
        await emit_custom_event("after")
    finally:
        clear_streaming_callback()
    assert got == ["t0", "t1", "t2", "t3", "t4", "after"]


async def test_hand_emitted_calls_pair_with_their_outputs_across_tasks() -> None:
    got: list[StreamingEvent] = []
    set_streaming_callback(got.append)
    try:

        async def call(i: int) -> None:
            await emit_tool_call("same_tool", {"i": i})
            await emit_custom_event(f"progress {i}")
            await asyncio.sleep(0.001 * (5 - i))  # finish in reverse order
            await emit_tool_output("same_tool", f"out {i}")

        await asyncio.gather(*(call(i) for i in range(5)))
        # Explicit ids pair overlapping calls in one task.
        first = await emit_tool_call("t", {"n": 1})
        second = await emit_tool_call("t", {"n": 2})
        await emit_tool_output("t", "for first", tool_call_id=first)
        await emit_tool_output("t", "for second", tool_call_id=second)
        # The sync forms pair too.
        emit_tool_call_sync("s", {})
        emit_tool_output_sync("s", "sync out", is_error=True)
    finally:
        clear_streaming_callback()

    by_id: dict[str, dict[str, Any]] = {}
    for e in got:
        entry = by_id.setdefault(e.metadata["tool_call_id"], {})
        if e.event_type == "tool_call":
            entry["in"] = e.data["tool_input"]
        elif e.event_type == "custom":
            entry["progress"] = e.data["content"]
        else:
            entry["out"] = e.data["output"]
    for i in range(5):
        assert {"in": {"i": i}, "progress": f"progress {i}", "out": f"out {i}"} in by_id.values()
    assert by_id[first]["out"] == "for first" and by_id[second]["out"] == "for second"
    sync_out = got[-1]
    assert sync_out.data == {"tool_name": "s", "output": "sync out", "is_error": True}
    assert sync_out.metadata["is_error"] is True
    assert sync_out.metadata["tool_call_id"] == got[-2].metadata["tool_call_id"]


async def test_spec_section4_pattern_with_one_handler_shared_by_concurrent_requests() -> None:
    """The hand-written loop from the spec, run by 20 concurrent "requests" that share one
    handler: each sees only its own events, in order, with gap-free seq."""
    handler = EnhancedStreamHandler(enable_tool_events=True)

    async def request(i: int) -> list[StreamingEvent]:
        handler.event_queue = asyncio.Queue()
        set_streaming_callback(handler._event_callback)
        out = []
        try:
            for step in range(10):
                await emit_custom_event(f"r{i} s{step}")
                await emit_node_transition("a", "b")  # filtered out by the handler
                await asyncio.sleep(0)
                while not handler.event_queue.empty():
                    out.append(handler.event_queue.get_nowait())
        finally:
            clear_streaming_callback()
        return out

    results = await asyncio.gather(*(request(i) for i in range(20)))
    for i, got in enumerate(results):
        assert [e.data["content"] for e in got] == [f"r{i} s{s}" for s in range(10)]
        assert [e.metadata["seq"] for e in got] == list(range(10))
        frames = [json.loads(e.to_openai_sse(handler.model)[6:]) for e in got]
        assert len({f["id"] for f in frames}) == 1


async def test_emit_sync_on_the_loop_thread_does_not_block() -> None:
    from tests.support.agents import StepAgent

    async def step(_q: str) -> None:
        emit_custom_event_sync("inline")  # sync helper called straight from async code

    text = "".join(
        [
            c
            async for c in EnhancedStreamHandler().stream_agent_execution(
                StepAgent("a", [step]), "q"
            )
        ]
    )
    assert "inline" in text


def test_sync_callback_without_a_loop() -> None:
    got: list[str] = []
    set_streaming_callback(lambda e: got.append(e.event_type))
    try:
        emit_event_sync("state", {"answer": "x"})
        thread = threading.Thread(target=lambda: emit_event_sync("custom", {}))
        thread.start()
        thread.join()
    finally:
        clear_streaming_callback()
    assert got == ["state"]  # plain threads don't inherit the context (see bind_context)


async def test_spliced_chunks_match_the_general_encoding() -> None:
    """Events whose metadata is still their scope's are encoded from pre-serialised parts;
    every frame must equal the one built from the event's (then materialised) metadata."""
    from masai.streaming import ChunkEncoder

    async def run() -> None:
        with agent_scope("writer"):
            await emit_custom_event("outside any call")
            with scoped(node="execute_tool"), tool_scope("search", "call_1"):
                await emit_custom_event("half", {"progress": 0.5, "at": {1, 2}})
                await emit_custom_event("with metadata", {"n": 1}, {"note": "x", "agent": "a2"})
                await emit_event("token", {"content": "tok"})
                await emit_event("custom", {"custom_data": {"k": 1}})  # not emit_custom_event
            hand = await emit_tool_call("fetch", {"url": "u"})
            await emit_custom_event("attributed to the hand-made call")
            await emit_tool_output("fetch", "page")
            await emit_event("reasoning", {"reasoning": "why"})
            await emit_custom_event("nan", {"x": float("nan"), 3: "int key"})
        assert hand is not None

    handler = EnhancedStreamHandler(enable_token_events=True)
    stream = handler.open_stream(run)
    encoder = ChunkEncoder(handler.model, stream.chunk_id, stream.created, sink=stream)
    stream.start()
    events: list[StreamingEvent] = []
    spliced = b""
    while (batch := await stream.next_batch()) is not None:
        spliced += encoder.events(batch)
        events.extend(batch)
    await stream.aclose()

    general = ChunkEncoder(handler.model, stream.chunk_id, stream.created)  # no splicing
    expected = b"".join(general.event(e) for e in events)  # reads (materialises) metadata
    assert spliced == expected
    frames = [json.loads(f[6:]) for f in spliced.decode().split("\n\n") if f]
    assert [f["metadata"] for f in frames] == [e.metadata for e in events]
    assert [f["metadata"]["seq"] for f in frames] == list(range(len(events)))
    by_content = {f["choices"][0]["delta"].get("content"): f for f in frames}
    assert by_content["half"]["metadata"]["tool_call_id"] == "call_1"
    assert by_content["half"]["choices"][0]["delta"]["custom_data"]["at"] == [1, 2]
    assert by_content["with metadata"]["metadata"]["agent"] == "a2"
    assert by_content["with metadata"]["metadata"]["note"] == "x"
    assert "tool_call_id" not in by_content["outside any call"]["metadata"]
    attributed = by_content["attributed to the hand-made call"]["metadata"]["tool_call_id"]
    assert attributed.startswith("call_") and attributed != "call_1"
    assert by_content[""]["choices"][0]["delta"] == {"content": "", "custom_data": {"k": 1}}
    nan = by_content["nan"]["choices"][0]["delta"]["custom_data"]
    assert nan == {"x": None, "3": "int key"}


# -- a thread started without the run's context ----------------------------------------------


def _unbound_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "masai.events" and r.levelno == logging.WARNING and "bind_context" in r.message
    ]


async def _run_a_tool_starting(wrap: Callable[[Callable[[], None]], Callable[[], None]]) -> str:
    """Stream an agent whose sync tool starts two threads (their target wrapped by ``wrap``),
    each emitting 10 progress events."""

    @tool
    def crunch() -> str:
        """Crunch numbers in threads."""

        def work() -> None:
            for i in range(10):
                emit_custom_event_sync(f"step {i}")

        threads = [threading.Thread(target=wrap(work), name=f"cruncher-{n}") for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return "crunched"

    turns = [{"tool": "crunch", "tool_input": {}}, {"satisfied": True, "answer": "done"}]
    manager = AgentManager(model=ScriptedModel(turns), logging=False)
    agent = manager.create_agent("cruncher", [crunch], AgentDetails(["numbers"]))
    handler = EnhancedStreamHandler()
    return "".join([c async for c in handler.stream_agent_execution(agent, "go")])


async def test_a_bare_thread_during_a_run_warns_once_per_thread(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="masai.events")
    text = await _run_a_tool_starting(lambda fn: fn)
    assert not [e for e in sse_events(text) if e["event_type"] == "custom"]  # (dropped)
    warnings = _unbound_warnings(caplog)
    assert sorted(r.threadName for r in warnings) == ["cruncher-0", "cruncher-1"]
    assert "emit_custom_event_sync from thread 'cruncher-0'" in min(r.message for r in warnings)


async def test_a_thread_started_with_bind_context_reports_to_the_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="masai.events")
    text = await _run_a_tool_starting(bind_context)
    custom = [e for e in sse_events(text) if e["event_type"] == "custom"]
    assert len(custom) == 20
    assert not _unbound_warnings(caplog)


def test_no_warning_when_no_run_is_going_on(caplog: pytest.LogCaptureFixture) -> None:
    from masai import _sinks

    caplog.set_level(logging.WARNING, logger="masai.events")
    assert _sinks._live_runs == 0

    def work() -> None:
        for _ in range(3):
            emit_custom_event_sync("nobody listens")
            emit_event_sync("custom", {})
            emit_tool_call_sync("t", {})
            emit_tool_output_sync("t", "out")

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert not _unbound_warnings(caplog)
