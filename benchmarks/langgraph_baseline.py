"""LangGraph baselines, run in the same process and session as masai's numbers.

* custom stream: a node calling ``get_stream_writer()`` per event, consumed with
  ``stream_mode="custom"`` and written as the same OpenAI-style SSE chunk;
* agent loop: a hand-made two-node graph (model node ⇄ tool node) with a fake chat model.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from typing import Annotated, Any, TypedDict

from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages


class _Empty(TypedDict, total=False):
    n: int


def _chunk(payload: dict[str, Any]) -> str:
    data = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "bench",
        "choices": [
            {
                "index": 0,
                "delta": {"content": payload["content"], "custom_data": payload["custom_data"]},
                "finish_reason": None,
            }
        ],
        "event_type": "custom",
        "metadata": {},
    }
    return f"data: {json.dumps(data)}\n\n"


def _stream_graph(yield_each: bool) -> Any:
    async def tool_node(state: _Empty) -> _Empty:
        write = get_stream_writer()
        for i in range(state["n"]):
            write({"content": "tick", "custom_data": {"i": i, "t": time.perf_counter()}})
            if yield_each:
                await asyncio.sleep(0)
        return {}

    graph = StateGraph(_Empty)
    graph.add_node("tool", tool_node)
    graph.add_edge(START, "tool")
    graph.add_edge("tool", END)
    return graph.compile()


async def custom_stream_cpu(n: int, yield_each: bool, repeats: int) -> float:
    graph = _stream_graph(yield_each)
    samples = []
    for _ in range(repeats):
        t0 = time.process_time()
        count = 0
        async for item in graph.astream({"n": n}, stream_mode="custom"):
            _chunk(item)
            count += 1
        assert count == n
        samples.append((time.process_time() - t0) / n * 1e6)
    return statistics.median(samples)


class _Chat(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


def _loop_graph(iterations: int) -> Any:
    calls = [
        AIMessage(content="", tool_calls=[{"name": "noop", "args": {"i": i}, "id": f"c{i}"}])
        for i in range(iterations)
    ]
    model = FakeMessagesListChatModel(responses=[*calls, AIMessage(content="done")])

    async def agent(state: _Chat) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    async def tools(state: _Chat) -> dict[str, Any]:
        last = state["messages"][-1]
        assert isinstance(last, AIMessage)
        return {
            "messages": [ToolMessage(content="ok", tool_call_id=c["id"]) for c in last.tool_calls]
        }

    def route(state: _Chat) -> str:
        last = state["messages"][-1]
        return "tools" if isinstance(last, AIMessage) and last.tool_calls else END

    graph = StateGraph(_Chat)
    graph.add_node("agent", agent)
    graph.add_node("tools", tools)
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", route, ["tools", END])
    graph.add_edge("tools", "agent")
    return graph.compile()


async def agent_loop_us(iterations: int, repeats: int) -> float:
    """Median wall µs per model → tool iteration."""
    samples = []
    for _ in range(repeats):
        graph = _loop_graph(iterations)
        t0 = time.perf_counter()
        await graph.ainvoke(
            {"messages": [HumanMessage("go")]}, {"recursion_limit": 4 * iterations + 10}
        )
        samples.append((time.perf_counter() - t0) / iterations * 1e6)
    return statistics.median(samples)
