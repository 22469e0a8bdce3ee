"""EnhancedStreamHandler / SimpleStreamHandler: exact wire output, isolation, back-pressure,
cancellation and errors."""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import json
import logging
import math
import re
import threading
import time
from typing import Any

import pytest

from masai.events import (
    bind_context,
    emit_custom_event,
    emit_custom_event_sync,
    emit_event,
)
from masai.streaming import EnhancedStreamHandler, SimpleStreamHandler
from tests.support.agents import StepAgent, call_tool, tool_step
from tests.support.sse import chunks, events


async def collect(stream: Any) -> str:
    return "".join([chunk async for chunk in stream])


def normalise(text: str) -> list[dict[str, Any]]:
    """Chunks with the random parts (ids, timestamps) replaced by stable placeholders, after
    checking the stream-wide ones really are the same everywhere."""
    parsed = chunks(text)
    assert len({c["id"] for c in parsed}) == 1
    assert len({c["created"] for c in parsed}) == 1
    stream_id = parsed[0]["id"]
    assert re.fullmatch(r"chatcmpl-[0-9a-f]{32}", stream_id)
    calls: dict[str, str] = {}
    for call_id in re.findall(r"call_[0-9a-f]{24}", text):
        calls.setdefault(call_id, f"call_{len(calls) + 1}")
    run_id = stream_id.removeprefix("chatcmpl-")
    for old, new in [(stream_id, "chatcmpl-X"), (run_id, "RUN"), *calls.items()]:
        text = text.replace(old, new)
    out = chunks(text)
    for chunk in out:
        chunk["created"] = 0
    return out


def _search(query: str) -> str:
    emit_custom_event_sync("searching", {"progress": 0.5, "stage": "search"})
    return f"3 results for {query}"


def scripted_agent() -> StepAgent:
    return StepAgent(
        "researcher",
        [
            {"current_node": "router", "reasoning": "Need data", "answer": ""},
            tool_step(_search, "search", {"query": "AI trends"}),
            {
                "current_node": "evaluator",
                "reasoning": "Enough",
                "answer": "AI grows",
                "satisfied": True,
            },
        ],
    )


def _head(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-X",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "mas-ai-general",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _event(delta: dict[str, Any], event_type: str, seq: int, **meta: Any) -> dict[str, Any]:
    metadata = {
        "run_id": "RUN",
        "seq": seq,
        "agent": "researcher",
        "node": None,
        "agent_path": ["researcher"],
        **meta,
    }
    return {
        **_head(delta, "stop" if event_type == "error" else None),
        "event_type": event_type,
        "metadata": metadata,
    }


async def test_exact_chunk_sequence() -> None:
    text = await collect(EnhancedStreamHandler().stream_agent_execution(scripted_agent(), "q"))
    call = {"tool_call_id": "call_1", "tool_name": "search"}
    assert normalise(text) == [
        _head({"role": "assistant"}),
        _event({"content": "Need data"}, "reasoning", 0, node="router"),
        _event(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "search", "arguments": '{"query":"AI trends"}'},
                    }
                ]
            },
            "tool_call",
            1,
            node="execute_tool",
            **call,
        ),
        _event(
            {"content": "searching", "custom_data": {"progress": 0.5, "stage": "search"}},
            "custom",
            2,
            tool_call_id="call_1",
        ),
        _event(
            {"content": "\n[Tool: search]\n3 results for AI trends\n"},
            "tool_output",
            3,
            node="execute_tool",
            **call,
        ),
        _event({"content": "Enough"}, "reasoning", 4, node="evaluator"),
        _event({"content": "AI grows", "satisfied": True}, "answer", 5, node="evaluator"),
        _head({}, "stop"),
    ]
    assert text.endswith("data: [DONE]\n\n")


async def test_tool_call_ids_unique_and_indexed_even_in_parallel() -> None:
    async def parallel(_q: str) -> None:
        await asyncio.gather(*(call_tool(_search, "search", {"query": str(i)}) for i in range(5)))

    agent = StepAgent("a", [parallel])
    evs = events(await collect(EnhancedStreamHandler().stream_agent_execution(agent, "q")))
    calls = [e for e in evs if e["event_type"] == "tool_call"]
    outputs = [e for e in evs if e["event_type"] == "tool_output"]
    ids = [c["choices"][0]["delta"]["tool_calls"][0]["id"] for c in calls]
    assert len(set(ids)) == 5
    assert [c["choices"][0]["delta"]["tool_calls"][0]["index"] for c in calls] == [0, 1, 2, 3, 4]
    assert all(c["metadata"]["tool_call_id"] == i for c, i in zip(calls, ids, strict=True))
    assert sorted(o["metadata"]["tool_call_id"] for o in outputs) == sorted(ids)
    # Each output says which call it answers: its query is in its text.
    for out in outputs:
        call = calls[ids.index(out["metadata"]["tool_call_id"])]
        args = json.loads(call["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"])
        assert f"results for {args['query']}" in out["choices"][0]["delta"]["content"]
    assert [e["metadata"]["seq"] for e in evs] == list(range(len(evs)))


async def test_token_events_are_opt_in() -> None:
    async def speak(_q: str) -> None:
        for word in ("Hel", "lo"):
            await emit_event("token", {"content": word})

    agent = StepAgent("a", [speak, {"answer": "Hello", "satisfied": True}])
    default = events(await collect(EnhancedStreamHandler().stream_agent_execution(agent, "q")))
    assert [e["event_type"] for e in default] == ["answer"]
    with_tokens = events(
        await collect(
            EnhancedStreamHandler(enable_token_events=True).stream_agent_execution(agent, "q")
        )
    )
    assert [(e["event_type"], e["choices"][0]["delta"]["content"]) for e in with_tokens] == [
        ("token", "Hel"),
        ("token", "lo"),
        ("answer", "Hello"),
    ]
    assert [e["metadata"]["seq"] for e in with_tokens] == [0, 1, 2]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, ["reasoning", "tool_call", "custom", "tool_output", "reasoning", "answer"]),
        ({"enable_tool_events": False}, ["reasoning", "custom", "reasoning", "answer"]),
        (
            {"enable_custom_events": False},
            ["reasoning", "tool_call", "tool_output", "reasoning", "answer"],
        ),
        ({"event_filter": {"tool_call", "tool_output"}}, ["tool_call", "tool_output"]),
        ({"event_filter": {"custom"}}, ["custom"]),
        (
            {"event_filter": None},
            ["reasoning", "tool_call", "custom", "tool_output", "reasoning", "answer"],
        ),
    ],
)
async def test_filters_and_seq_stays_gap_free(kwargs: dict[str, Any], expected: list[str]) -> None:
    handler = EnhancedStreamHandler(**kwargs)
    evs = events(await collect(handler.stream_agent_execution(scripted_agent(), "q")))
    assert [e["event_type"] for e in evs] == expected
    assert [e["metadata"]["seq"] for e in evs] == list(range(len(expected)))


async def test_node_transitions_opt_in() -> None:
    from masai.events import emit_node_transition

    async def move(_q: str) -> None:
        await emit_node_transition("router", "execute_tool")

    agent = StepAgent("a", [move])
    assert events(await collect(EnhancedStreamHandler().stream_agent_execution(agent, "q"))) == []
    evs = events(
        await collect(
            EnhancedStreamHandler(enable_node_transitions=True).stream_agent_execution(agent, "q")
        )
    )
    assert evs[0]["choices"][0]["delta"]["content"] == "\n[Node: router → execute_tool]\n"


async def test_custom_data_is_always_strict_json() -> None:
    class Opaque:
        def __repr__(self) -> str:
            return "<opaque>"

    weird = {
        "when": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        "tags": {"b", "a"},
        "raw": b"\xff\x00",
        "text": b"hi",
        "nan": math.nan,
        "inf": -math.inf,
        "money": decimal.Decimal("1.5"),
        "huge": 2**80,
        "obj": Opaque(),
        7: "int key",
    }

    async def report(_q: str) -> None:
        await emit_custom_event("odd values", weird)
        await emit_custom_event("still alive", {"progress": 1.0})

    text = await collect(
        EnhancedStreamHandler().stream_agent_execution(StepAgent("a", [report]), "q")
    )
    assert "NaN" not in text and "Infinity" not in text
    evs = events(text)  # json.loads of every frame: strict JSON
    data = evs[0]["choices"][0]["delta"]["custom_data"]
    assert data["when"].startswith("2026-01-02T03:04:05")
    assert data["tags"] == ["a", "b"]
    assert data["text"] == "hi" and data["raw"] == "/wA="
    assert data["nan"] is None and data["inf"] is None
    assert data["money"] == 1.5 and data["huge"] == 2**80
    assert data["obj"] == "<opaque>" and data["7"] == "int key"
    assert evs[1]["choices"][0]["delta"]["content"] == "still alive"


async def test_error_ends_stream_without_leaking_exception_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def boom(_q: str) -> None:
        await emit_custom_event("working", {"progress": 0.1})
        raise RuntimeError("db password=hunter2 at /srv/secret.py")

    agent = StepAgent("a", [boom])
    with caplog.at_level(logging.ERROR, logger="masai.streaming"):
        text = await collect(EnhancedStreamHandler(debug=False).stream_agent_execution(agent, "q"))
    assert "hunter2" not in text and "Traceback" not in text and "RuntimeError" not in text
    parsed = chunks(text)
    last = parsed[-1]
    assert last["event_type"] == "error"
    assert last["choices"][0]["finish_reason"] == "stop"
    assert last["choices"][0]["delta"]["content"] == "\n[Error: The agent run failed.]\n"
    assert last["metadata"]["error_code"] == "internal_error"
    assert [c.get("metadata", {}).get("seq") for c in parsed[1:]] == [0, 1]
    # The details went to the server log instead, with the run id to find them.
    assert "hunter2" in caplog.text and last["metadata"]["run_id"] in caplog.text

    debug_text = await collect(EnhancedStreamHandler(debug=True).stream_agent_execution(agent, "q"))
    assert (
        "RuntimeError: db password=hunter2"
        in chunks(debug_text)[-1]["choices"][0]["delta"]["content"]
    )


async def test_masai_errors_show_their_public_message() -> None:
    from masai.exceptions import ModelError

    async def fail(_q: str) -> None:
        raise ModelError("HTTP 503 from https://internal-gateway/v1 key=sk-abc")

    text = await collect(
        EnhancedStreamHandler().stream_agent_execution(StepAgent("a", [fail]), "q")
    )
    last = chunks(text)[-1]
    assert "sk-abc" not in text
    assert last["choices"][0]["delta"]["content"] == (
        "\n[Error: The language model could not be reached.]\n"
    )
    assert last["metadata"]["error_code"] == "model_error"


async def test_fifty_concurrent_streams_share_one_handler() -> None:
    handler = EnhancedStreamHandler()

    def agent_for(i: int) -> StepAgent:
        async def work(_q: str) -> None:
            for step in range(20):
                await emit_custom_event(f"agent {i} step {step}", {"who": i, "step": step})
                await asyncio.sleep(0)

        return StepAgent(f"agent{i}", [work, {"answer": f"answer {i}", "satisfied": True}])

    texts = await asyncio.gather(
        *(collect(handler.stream_agent_execution(agent_for(i), f"q{i}")) for i in range(50))
    )
    run_ids = set()
    for i, text in enumerate(texts):
        evs = events(text)  # also asserts a single [DONE] at the end
        customs = [e for e in evs if e["event_type"] == "custom"]
        assert [c["choices"][0]["delta"]["custom_data"] for c in customs] == [
            {"who": i, "step": s} for s in range(20)
        ]
        assert evs[-1]["choices"][0]["delta"]["content"] == f"answer {i}"
        assert {e["metadata"]["agent"] for e in evs} == {f"agent{i}"}
        assert [e["metadata"]["seq"] for e in evs] == list(range(21))
        assert len({c["id"] for c in chunks(text)}) == 1
        run_ids.add(evs[0]["metadata"]["run_id"])
    assert len(run_ids) == 50


async def test_worker_thread_and_self_started_thread_keep_order() -> None:
    def sync_tool() -> str:
        emit_custom_event_sync("from worker", {"progress": 0.25})

        def inner() -> None:
            for i in range(3):
                emit_custom_event_sync(f"from own thread {i}", {"progress": 0.5 + i / 10})

        thread = threading.Thread(target=bind_context(inner))
        thread.start()
        thread.join()
        emit_custom_event_sync("worker again", {"progress": 1.0})
        return "done"

    agent = StepAgent("a", [tool_step(sync_tool, "sync_tool", {})])
    evs = events(await collect(EnhancedStreamHandler().stream_agent_execution(agent, "q")))
    assert [(e["event_type"], e["choices"][0]["delta"].get("content")) for e in evs] == [
        ("tool_call", None),
        ("custom", "from worker"),
        ("custom", "from own thread 0"),
        ("custom", "from own thread 1"),
        ("custom", "from own thread 2"),
        ("custom", "worker again"),
        ("tool_output", "\n[Tool: sync_tool]\ndone\n"),
    ]
    call_id = evs[0]["metadata"]["tool_call_id"]
    assert all(e["metadata"]["tool_call_id"] == call_id for e in evs)


async def test_nested_handler_inside_tool_does_not_cut_off_outer_stream() -> None:
    inner_agent = StepAgent(
        "inner",
        [
            tool_step(lambda: "inner result", "inner_tool", {}),
            {"answer": "inner answer", "satisfied": True},
        ],
    )
    captured: list[str] = []

    async def outer_tool() -> str:
        await emit_custom_event("before nested", {"progress": 0.1})
        text = await collect(EnhancedStreamHandler().stream_agent_execution(inner_agent, "sub"))
        captured.append(text)
        await emit_custom_event("after nested", {"progress": 0.9})
        return "outer result"

    agent = StepAgent(
        "outer",
        [tool_step(outer_tool, "outer_tool", {}), {"answer": "outer answer", "satisfied": True}],
    )
    outer = events(await collect(EnhancedStreamHandler().stream_agent_execution(agent, "q")))
    assert [e["event_type"] for e in outer] == [
        "tool_call",
        "custom",
        "custom",
        "tool_output",
        "answer",
    ]
    assert [e["choices"][0]["delta"].get("content") for e in outer][1:3] == [
        "before nested",
        "after nested",
    ]
    assert outer[-1]["choices"][0]["delta"]["content"] == "outer answer"
    inner = events(captured[0])
    assert [e["event_type"] for e in inner] == ["tool_call", "tool_output", "answer"]
    assert inner[-1]["metadata"]["agent_path"] == ["outer", "inner"]
    assert {e["metadata"]["run_id"] for e in inner}.isdisjoint(
        {e["metadata"]["run_id"] for e in outer}
    )


async def test_closing_the_stream_cancels_the_tool_and_leaks_no_task() -> None:
    started = asyncio.Event()
    observed: list[str] = []

    async def slow_tool() -> str:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            observed.append("cancelled")
            raise
        return "never"

    before = asyncio.all_tasks()
    agent = StepAgent("a", [tool_step(slow_tool, "slow", {})])
    stream = EnhancedStreamHandler().stream_agent_execution(agent, "q")
    assert (await anext(stream)).startswith("data: ")  # role chunk
    assert '"tool_call"' in await anext(stream)
    await started.wait()
    t0 = time.perf_counter()
    await stream.aclose()  # what a server does when the client goes away
    assert time.perf_counter() - t0 < 0.1
    assert observed == ["cancelled"]
    assert asyncio.all_tasks() == before


async def test_cancelled_run_stops_a_sync_tool_at_its_next_report() -> None:
    from masai.exceptions import RunCancelled

    in_thread = threading.Event()
    release = threading.Event()
    outcome: list[BaseException] = []

    def blocking_tool() -> str:
        in_thread.set()
        release.wait(5)
        try:
            emit_custom_event_sync("still there?", {})
        except RunCancelled as exc:
            outcome.append(exc)
            raise
        return "finished"

    stream = EnhancedStreamHandler().stream_agent_execution(
        StepAgent("a", [tool_step(blocking_tool, "blocking", {})]), "q"
    )
    await anext(stream)
    await anext(stream)
    await asyncio.to_thread(in_thread.wait, 5)
    await stream.aclose()
    release.set()
    for _ in range(200):
        if outcome:
            break
        await asyncio.sleep(0.01)
    assert len(outcome) == 1 and isinstance(outcome[0], RunCancelled)


async def test_burst_is_bounded_and_first_chunk_arrives_before_it_ends() -> None:
    total = 100_000
    emitted = 0

    async def burst(_q: str) -> None:
        nonlocal emitted
        for i in range(total):
            await emit_custom_event("tick", {"i": i})
            emitted += 1

    handler = EnhancedStreamHandler(max_buffered_events=64)
    stream_obj = handler.open_stream(
        __import__("masai.streaming", fromlist=["agent_runner"]).agent_runner(
            StepAgent("a", [burst]), "q"
        )
    )
    stream_obj.start()
    first = await stream_obj.next_batch()
    assert first and emitted < total  # the consumer got events while the burst was going
    received = len(first)
    expected_seq = 0
    for event in first:
        assert event.metadata["seq"] == expected_seq
        expected_seq += 1
    while (batch := await stream_obj.next_batch()) is not None:
        received += len(batch)
        for event in batch:
            assert event.metadata["seq"] == expected_seq
            expected_seq += 1
    await stream_obj.aclose()
    assert received == total == emitted
    assert stream_obj.peak_buffered <= 64


async def test_idle_stream_does_not_wake_the_loop() -> None:
    """A stream waiting for its run must park, not poll (the reference woke every 100 ms)."""
    gate = asyncio.Event()

    async def wait(_q: str) -> None:
        await gate.wait()

    stream = EnhancedStreamHandler().stream_agent_execution(StepAgent("a", [wait]), "q")
    await anext(stream)
    pending = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.05)  # let everything settle into waiting

    loop = asyncio.get_running_loop()
    iterations = 0
    original = loop._run_once  # type: ignore[attr-defined]

    def counting() -> None:
        nonlocal iterations
        iterations += 1
        original()

    loop._run_once = counting  # type: ignore[attr-defined]
    try:
        await asyncio.to_thread(time.sleep, 0.6)  # one wake-up: the thread's result
    finally:
        loop._run_once = original  # type: ignore[attr-defined]
    assert iterations <= 4, iterations
    gate.set()
    assert (await pending).startswith("data: ")
    await stream.aclose()


async def test_simple_handler_streams_reasoning_and_answer_only() -> None:
    text = await collect(
        SimpleStreamHandler(model="m").stream_agent_execution(scripted_agent(), "q")
    )
    parsed = chunks(text)
    assert parsed[0]["choices"][0]["delta"] == {"role": "assistant"}
    assert [(c["event_type"], c["choices"][0]["delta"]["content"]) for c in parsed[1:-1]] == [
        ("reasoning", "Need data"),
        ("reasoning", "Enough"),
        ("answer", "AI grows"),
    ]
    assert parsed[-1]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop"}
    assert {c["model"] for c in parsed} == {"m"}


def test_handler_rejects_bad_configuration() -> None:
    with pytest.raises(TypeError):
        EnhancedStreamHandler(event_filter="custom")
    with pytest.raises(ValueError, match="max_buffered_events"):
        EnhancedStreamHandler(max_buffered_events=0)
    with pytest.raises(ValueError, match="model"):
        EnhancedStreamHandler(model="")
    with pytest.raises(TypeError, match="initiate_agent_astream"):
        EnhancedStreamHandler().stream_agent_execution(object(), "q")


def test_headers_are_the_specs() -> None:
    assert EnhancedStreamHandler().get_headers() == {
        "Cache-Control": "no-cache, no-transform",
        "Pragma": "no-cache",
        "Connection": "keep-alive",
        "X-Accel-Buffering": "no",
    }
