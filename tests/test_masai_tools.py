"""The original MASAI's tool API (``masai.Tools``): ``@tool`` objects, ``ToolRegistry`` and the
Redis ``ToolCache``, used as MASAI documents them, and the same objects running as agent tools.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import socket
import sys
import threading
from typing import Any

import orjson
import pytest
import redis
from pydantic import BaseModel

from masai import AgentDetails, AgentManager, ScriptedModel, emit_custom_event
from masai.streaming import EnhancedStreamHandler
from masai.tooling import ToolOutput
from masai.tooling import tool as masai_tool
from masai.Tools import Tool as PackageTool
from masai.Tools.Tool import Tool, ToolCache, tool
from masai.Tools.ToolRegistry import ToolRegistry
from masai.Tools.utilities.cache import ToolCache as CacheFromUtilities
from tests.support.redis import redis_server, redis_url  # noqa: F401
from tests.support.sse import events

DETAILS = AgentDetails(capabilities=["calculation"], description="Calculates.")


@tool("calculator")
def calculator(operation: str, x: float, y: float) -> float:
    """Performs basic arithmetic operations.

    Args:
        operation: add or multiply
    """
    return x + y if operation == "add" else x * y


@tool("get_user_data", return_direct=True)
def get_user_data(user_id: int) -> dict[str, Any]:
    """Retrieves user data as a dictionary."""
    return {"id": user_id, "name": "Ada"}


@tool("fetch_data")
async def fetch_data(url: str, retries: int = 1) -> dict[str, Any]:
    """Fetches data from a URL asynchronously."""
    await asyncio.sleep(0)
    return {"url": url, "retries": retries}


# -- @tool objects ---------------------------------------------------------------------------


def test_one_decorator_one_class_and_the_documented_attributes() -> None:
    assert tool is masai_tool and Tool is PackageTool and ToolCache is CacheFromUtilities
    # ``masai.Tools.Tool`` is also a module; importing it must not hide the class.
    importlib.import_module("masai.Tools.Tool")
    importlib.import_module("masai.Tools.ToolRegistry")
    package = importlib.import_module("masai.Tools")
    assert package.Tool is Tool and package.ToolRegistry is ToolRegistry
    assert sys.modules["masai.Tools.Tool"].tool is tool
    assert isinstance(calculator, Tool)
    assert (calculator.name, calculator.description) == (
        "calculator",
        "Performs basic arithmetic operations.",
    )
    assert calculator.return_direct is False and get_user_data.return_direct is True
    assert calculator.func.__name__ == "calculator"
    assert calculator.is_async is False and fetch_data.is_async is True
    metadata = calculator.get_metadata()
    assert set(metadata) == {"name", "description", "args_schema"}
    schema = metadata["args_schema"]
    assert issubclass(schema, BaseModel) and schema.__name__ == "CalculatorSchema"
    json_schema = schema.model_json_schema()
    assert json_schema["description"] == "Performs basic arithmetic operations."
    assert json_schema["required"] == ["operation", "x", "y"]
    assert set(calculator.args) == {"operation", "x", "y"}
    # ... and the agents' view of the same object: no duplicated description.
    assert "description" not in calculator.spec().parameters


def test_sync_tool_invoke_run_and_direct_calls() -> None:
    assert calculator.invoke({"operation": "add", "x": 5, "y": 3}) == "8.0"
    assert calculator.invoke('{"operation": "multiply", "x": 5, "y": 3}') == "15.0"
    assert get_user_data.invoke({"user_id": 7}) == {"id": 7, "name": "Ada"}  # raw: return_direct
    assert get_user_data.invoke('{"user_id": "8"}') == {"id": 8, "name": "Ada"}  # validated
    ran = calculator.run('{"operation": "add", "x": 1, "y": 2}')
    assert ran == "3.0" and isinstance(ran, str)
    assert calculator("add", 2, 2) == 4  # calling the object calls the function
    with pytest.raises(ValueError, match="invalid arguments for calculator"):
        calculator.invoke({"operation": "add", "x": "five", "y": 1})
    with pytest.raises(ValueError, match="y: Field required"):
        calculator.invoke('{"operation": "add", "x": 1}')


def test_bare_decorator_constructor_and_subclass_styles() -> None:
    @tool
    def shout(text: str) -> str:
        """Shouts."""
        return text.upper()

    greet = Tool("greet", "Greets a user by name.", lambda name: f"Hello, {name}!", True)
    assert (shout.name, shout.invoke({"text": "hi"})) == ("shout", "HI")
    assert greet.return_direct is True and greet.invoke('{"name": "Alice"}') == "Hello, Alice!"

    class SearchTool(Tool):
        name = "search"
        description = "Search the web"

        def execute(self, query: str) -> str:
            return f"Results for {query}"

    search = SearchTool()
    assert search.invoke({"query": "ai"}) == "Results for ai"
    assert search.spec().parameters["required"] == ["query"]
    with pytest.raises(ValueError, match="invalid tool name"):
        Tool("bad name", "x", lambda: None)


def test_async_tool_from_sync_code_without_a_loop() -> None:
    assert fetch_data.invoke({"url": "u"}) == str({"url": "u", "retries": 1})
    assert fetch_data.run('{"url": "v", "retries": 2}') == str({"url": "v", "retries": 2})
    # masai's former async ``run``: the result also awaits to the raw value.
    assert asyncio.run(fetch_data.run({"url": "w"})) == {"url": "w", "retries": 1}  # type: ignore[arg-type]


async def test_ainvoke_arun_and_sync_invoke_inside_a_running_loop() -> None:
    assert await fetch_data.ainvoke({"url": "a"}) == str({"url": "a", "retries": 1})
    assert await fetch_data.ainvoke('{"url": "b", "retries": 3}') == str({"url": "b", "retries": 3})
    assert await calculator.ainvoke({"operation": "add", "x": 1, "y": 1}) == "2.0"  # sync tool
    assert await get_user_data.ainvoke({"user_id": 1}) == {"id": 1, "name": "Ada"}
    assert await fetch_data.arun('{"url": "c"}') == str({"url": "c", "retries": 1})
    # A sync invoke of an async tool on the loop's own thread: a private loop, no deadlock.
    loop_thread = threading.get_ident()
    threads: list[int] = []

    @tool("where")
    async def where() -> str:
        """Reports its thread."""
        threads.append(threading.get_ident())
        return "ok"

    assert await asyncio.wait_for(asyncio.to_thread(lambda: None), 5) is None
    assert where.invoke({}) == "ok" and threads[-1] != loop_thread
    output = where.run()
    assert isinstance(output, ToolOutput) and await output == "ok"


# -- ToolRegistry ------------------------------------------------------------------------------


def _registry() -> ToolRegistry:
    @tool("web_search")
    def web_search(query: str) -> str:
        """Searches the web for pages about a query."""
        return query

    @tool("send_email")
    def send_email(to: str, body: str) -> str:
        """Sends an email message."""
        return to

    return ToolRegistry([calculator, web_search, send_email, fetch_data])


def test_registry_lookup_and_search() -> None:
    registry = _registry()
    assert registry.has_tool("web_search") and not registry.has_tool("nope")
    assert registry.get_tool("calculator") is calculator and registry.get_tool("nope") is None
    names = [t.name for t in registry.search_tools("search the web for news")]
    assert names[0] == "web_search"
    assert [t.name for t in registry.search_tools("email someone")] == ["send_email"]
    assert [t.name for t in registry.search_tools("arithmetic", top_k=1)] == ["calculator"]
    # Nothing matches: the first tools, so the model still sees what exists.
    assert [t.name for t in registry.search_tools("zzz qqq", top_k=2)] == [
        "calculator",
        "web_search",
    ]

    def plain(city: str) -> str:
        """Weather for a city."""
        return city

    registry.register_tool(plain)
    assert registry.get_tool("plain") is not None
    assert registry.get_tool("plain").invoke({"city": "Oslo"}) == "Oslo"  # type: ignore[union-attr]


def test_discovery_tool_lists_matching_tools_with_their_arguments() -> None:
    registry = _registry()
    discover = registry.get_discovery_tool()
    assert discover is registry.get_discovery_tool() and discover.name == "discover_tools"
    answer = discover.invoke({"query": "send an email"})
    assert "send_email: Sends an email message." in answer
    assert '"required":["to","body"]' in answer
    assert "calculator" not in answer and "web_search" not in answer
    registry.register_tool(discover)
    assert "discover_tools" not in discover.invoke({"query": "find tools discover"})


# -- ToolCache ---------------------------------------------------------------------------------


def _cache(url: str, **options: Any) -> ToolCache:
    host, port = url.removeprefix("redis://").split("/")[0].split(":")
    return ToolCache(host=host, port=int(port), timeout=2, **options)


def test_cache_serves_repeated_sync_calls_from_redis(redis_url: str) -> None:  # noqa: F811
    cache = _cache(redis_url, prefix="test-sync")
    calls: list[tuple[str, int]] = []

    @tool("expensive")
    @cache.masai_cache
    def expensive(query: str, limit: int = 3) -> list[str]:
        """An expensive lookup."""
        calls.append((query, limit))
        return [query] * limit

    try:
        cache.clear()
        assert set(expensive.args) == {"query", "limit"}  # wraps keeps the signature
        assert expensive.invoke({"query": "a"}) == str(["a", "a", "a"])
        assert expensive.invoke({"query": "a"}) == str(["a", "a", "a"])
        assert expensive.invoke('{"limit": 3, "query": "a"}') == str(["a", "a", "a"])
        assert expensive("a") == ["a", "a", "a"] and expensive(query="a", limit=3) == ["a"] * 3
        assert calls == [("a", 3)]
        expensive.invoke({"query": "b", "limit": 1})
        assert calls == [("a", 3), ("b", 1)]
        keys = list(cache.redis.scan_iter(match="test-sync:*"))
        assert len(keys) == 2
        assert 0 < cache.redis.ttl(keys[0]) <= 120  # timeout is in minutes
        assert orjson.loads(cache.redis.get(keys[0])) in (["a", "a", "a"], ["b"])  # JSON
    finally:
        cache.clear()
        cache.close()


async def test_cache_serves_repeated_async_calls_from_redis(redis_url: str) -> None:  # noqa: F811
    cache = _cache(redis_url, prefix="test-async")
    calls: list[str] = []

    @tool("weather")
    @cache.masai_cache
    async def weather(city: str) -> dict[str, Any]:
        """Weather for a city."""
        calls.append(city)
        return {"city": city, "temp": 15.5}

    @cache.masai_cache
    def unserialisable(n: int) -> set[int]:
        calls.append(f"set {n}")
        return {n}

    try:
        assert weather.is_async
        assert await weather.ainvoke({"city": "Oslo"}) == str({"city": "Oslo", "temp": 15.5})
        assert await weather.ainvoke({"city": "Oslo"}) == str({"city": "Oslo", "temp": 15.5})
        assert await weather.call('{"city": "Oslo"}') == {"city": "Oslo", "temp": 15.5}
        assert calls == ["Oslo"]
        assert unserialisable(1) == {1} and unserialisable(1) == {1}  # returned, not cached
        assert calls == ["Oslo", "set 1", "set 1"]
    finally:
        cache.clear()
        await cache.aclose()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_cache_without_redis_calls_uncached_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = ToolCache(host="127.0.0.1", port=_closed_port(), retry_after=0)
    calls: list[int] = []

    @tool("double")
    @cache.masai_cache
    def double(n: int) -> int:
        """Doubles."""
        calls.append(n)
        return 2 * n

    @tool("adouble")
    @cache.masai_cache
    async def adouble(n: int) -> int:
        """Doubles, async."""
        calls.append(-n)
        return 2 * n

    with caplog.at_level(logging.WARNING, logger="masai.tooling._cache"):
        assert [double.invoke({"n": 2}), double.invoke({"n": 2})] == ["4", "4"]
        assert await adouble.ainvoke({"n": 3}) == "6"
    assert calls == [2, 2, -3]
    warnings = [r for r in caplog.records if "Redis unavailable" in r.getMessage()]
    assert len(warnings) == 1
    with pytest.raises(redis.ConnectionError):
        cache.redis.ping()  # really unreachable
    await cache.aclose()


# -- the same objects as agent tools -----------------------------------------------------------


lookup_threads: list[int] = []


@tool("lookup")
async def lookup(topic: str) -> str:
    """Looks a topic up."""
    lookup_threads.append(threading.get_ident())
    await emit_custom_event(f"looking up {topic}", {"progress": 0.5})
    return f"facts about {topic}"


@tool("summarise")
def summarise(topic: str) -> str:
    """Summarises a topic using the lookup tool (a sync tool invoking an async one)."""
    return "summary of " + lookup.invoke({"topic": topic})


async def test_masai_tools_run_in_an_agent_and_stream_their_progress() -> None:
    model = ScriptedModel(
        [
            {"reasoning": "Look it up.", "tool": "lookup", "tool_input": {"topic": "ai"}},
            {"reasoning": "Summarise.", "tool": "summarise", "tool_input": '{"topic": "ml"}'},
            {"reasoning": "Enough.", "satisfied": True, "answer": "AI and ML are booming."},
        ]
    )
    agent = AgentManager(model=model, logging=False).create_agent(
        "researcher", [lookup, summarise, calculator], DETAILS
    )
    handler = EnhancedStreamHandler()
    lookup_threads.clear()
    loop_thread = threading.get_ident()
    text = "".join([c async for c in handler.stream_agent_execution(agent, "What's new?")])
    # Both lookups ran on the run's loop, the second one scheduled there by the sync tool's
    # invoke() from its worker thread.
    assert lookup_threads == [loop_thread, loop_thread]
    seen = [
        (e["event_type"], e["choices"][0]["delta"].get("content"))
        for e in events(text)
        if e["event_type"] in ("custom", "tool_output", "answer")
    ]
    assert seen == [
        ("custom", "looking up ai"),
        ("tool_output", "\n[Tool: lookup]\nfacts about ai\n"),
        ("custom", "looking up ml"),  # from inside the sync tool's invoke, on the run's loop
        ("tool_output", "\n[Tool: summarise]\nsummary of facts about ml\n"),
        ("answer", "AI and ML are booming."),
    ]


async def test_masai_return_direct_tool_answers_for_the_agent() -> None:
    model = ScriptedModel([{"tool": "get_user_data", "tool_input": {"user_id": 3}}])
    agent = AgentManager(model=model, logging=False).create_agent("users", [get_user_data], DETAILS)
    final = await agent.initiate_agent("Who is user 3?")
    assert final["stop_reason"] == "return_direct"
    assert orjson.loads(final["answer"]) == {"id": 3, "name": "Ada"}


async def test_sync_invoke_of_an_async_tool_inside_an_async_tool_does_not_deadlock() -> None:
    @tool("outer")
    async def outer(topic: str) -> str:
        """Calls lookup the sync way, on the run's loop thread (blocking it: not recommended)."""
        return "outer: " + lookup.invoke({"topic": topic})

    model = ScriptedModel(
        [
            {"tool": "outer", "tool_input": {"topic": "db"}},
            {"satisfied": True, "answer": "done"},
        ]
    )
    agent = AgentManager(model=model, logging=False).create_agent("nested", [outer], DETAILS)
    handler = EnhancedStreamHandler()

    async def collect() -> str:
        return "".join([c async for c in handler.stream_agent_execution(agent, "q")])

    text = await asyncio.wait_for(collect(), 10)
    outputs = [
        e["choices"][0]["delta"]["content"]
        for e in events(text)
        if e["event_type"] == "tool_output"
    ]
    assert outputs == ["\n[Tool: outer]\nouter: facts about db\n"]
    # The inner call ran on a private loop, detached from the blocked run's stream.
    assert "looking up db" not in text
