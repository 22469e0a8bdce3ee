"""Streaming through a real uvicorn server to an httpx client reading the live stream."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from masai.events import emit_custom_event
from masai.streaming import EnhancedStreamHandler
from tests.support.agents import StepAgent, tool_step
from tests.support.server import LiveServer, live_server
from tests.support.sse import events


class Probe:
    """What the server-side tool saw, readable from the test thread."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.cancelled = threading.Event()
        self.cancelled_at = 0.0
        self.gate = threading.Event()


def make_app(probe: Probe) -> FastAPI:
    app = FastAPI()
    handler = EnhancedStreamHandler()  # one instance for every request

    async def idle_tool() -> str:
        probe.started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            probe.cancelled_at = time.perf_counter()
            probe.cancelled.set()
            raise
        return "never"

    async def busy_tool() -> str:
        probe.started.set()
        try:
            i = 0
            while True:
                await emit_custom_event("tick", {"i": i})
                i += 1
                await asyncio.sleep(0.001)
        except asyncio.CancelledError:
            probe.cancelled_at = time.perf_counter()
            probe.cancelled.set()
            raise

    async def gated_tool() -> str:
        await emit_custom_event("first progress", {"progress": 0.5})
        await asyncio.to_thread(probe.gate.wait, 10)
        return "released"

    tools = {"idle": idle_tool, "busy": busy_tool, "gated": gated_tool}

    @app.post("/stream")
    async def stream(query: str, tool: str) -> StreamingResponse:
        agent = StepAgent(
            "http", [tool_step(tools[tool], tool, {}), {"answer": "done", "satisfied": True}]
        )
        return StreamingResponse(
            handler.stream_agent_execution(agent, query),
            media_type="text/event-stream",
            headers=handler.get_headers(),
        )

    return app


@pytest.fixture
def server_and_probe() -> Iterator[tuple[LiveServer, Probe]]:
    probe = Probe()
    with live_server(make_app(probe)) as server:
        yield server, probe


def run_tasks_left(server: LiveServer) -> list[str]:
    def names() -> list[str]:
        return [
            t.get_coro().__qualname__  # type: ignore[union-attr]
            for t in asyncio.all_tasks()
            if "EventStream" in getattr(t.get_coro(), "__qualname__", "")
        ]

    return server.call(names)  # type: ignore[no-any-return]


def test_chunks_arrive_while_the_run_is_still_going(
    server_and_probe: tuple[LiveServer, Probe],
) -> None:
    server, probe = server_and_probe
    with (
        httpx.Client(base_url=server.url, timeout=10) as client,
        client.stream("POST", "/stream", params={"query": "q", "tool": "gated"}) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-accel-buffering"] == "no"
        assert "gzip" not in response.headers.get("content-encoding", "")
        received = ""
        lines = response.iter_lines()
        while '"first progress"' not in received:
            received += next(lines) + "\n"
        assert not probe.gate.is_set()  # the tool is still blocked: this was live
        probe.gate.set()
        for line in lines:
            received += line + "\n"
    evs = events(received)
    assert [e["event_type"] for e in evs] == ["tool_call", "custom", "tool_output", "answer"]


@pytest.mark.parametrize("tool", ["idle", "busy"])
def test_client_disconnect_cancels_the_tool_promptly(
    server_and_probe: tuple[LiveServer, Probe], tool: str
) -> None:
    server, probe = server_and_probe
    with httpx.Client(base_url=server.url, timeout=10) as client:
        with client.stream("POST", "/stream", params={"query": "q", "tool": tool}) as response:
            for line in response.iter_lines():
                if '"tool_call"' in line:
                    break
            assert probe.started.wait(5)
            closed_at = time.perf_counter()
            # Leaving the block closes the connection mid-stream.
        assert probe.cancelled.wait(5), "the tool never saw the disconnect"
        delay = probe.cancelled_at - closed_at
        assert delay < 0.1, f"cancelled {delay * 1000:.0f} ms after the disconnect"
        for _ in range(100):
            if not run_tasks_left(server):
                break
            time.sleep(0.01)
        assert run_tasks_left(server) == []
        # The server keeps serving.
        probe.gate.set()
        ok = client.post("/stream", params={"query": "again", "tool": "gated"})
        assert [e["event_type"] for e in events(ok.text)][-1] == "answer"


def test_many_concurrent_http_streams(server_and_probe: tuple[LiveServer, Probe]) -> None:
    server, probe = server_and_probe
    probe.gate.set()

    async def one(client: httpx.AsyncClient) -> list[dict[str, Any]]:
        response = await client.post("/stream", params={"query": "q", "tool": "gated"})
        return events(response.text)

    async def main() -> list[list[dict[str, Any]]]:
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as client:
            return await asyncio.gather(*(one(client) for _ in range(30)))

    results = asyncio.run(main())
    assert len({r[0]["metadata"]["run_id"] for r in results}) == 30
    for evs in results:
        assert [e["metadata"]["seq"] for e in evs] == [0, 1, 2, 3]
