"""The server: routes, the OpenAI-compatible endpoint through the official SDK, bad input,
heartbeats, cancellation accounting, auth, configuration, and the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from masai import AgentDetails, AgentManager, ScriptedModel, emit_custom_event, tool
from masai.exceptions import ConfigError
from masai.server import Registry, create_app, load_registry
from masai.server._pacing import WritePacing
from tests.support.server import LiveServer, live_server
from tests.support.sse import chunks, events, frames

ROOT = Path(__file__).resolve().parents[1]


@tool
async def wait_a_while(seconds: float) -> str:
    """Sleeps, quietly."""
    await asyncio.sleep(seconds)
    return "awake"


def slow_registry() -> Registry:
    manager = AgentManager(logging=False)
    manager.create_agent(
        "sleeper",
        [wait_a_while],
        AgentDetails(["waiting"]),
        model=ScriptedModel(
            [
                {"tool": "wait_a_while", "tool_input": {"seconds": 0.6}},
                {"satisfied": True, "answer": "rested"},
            ]
        ),
    )
    return Registry(manager)


@pytest.fixture(autouse=True)
def fast_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo waits between steps so streaming is visible; tests only need it to stream."""
    monkeypatch.setenv("MASAI_DEMO_PACE", "0.01")


def health(server: LiveServer) -> dict[str, int]:
    return httpx.get(f"{server.url}/healthz").json()["runs"]  # type: ignore[no-any-return]


# -- the spec's routes ---------------------------------------------------------------------------


def test_agent_stream_json_body_and_query_form(demo: LiveServer) -> None:
    body = {"query": "How is solar doing?", "agent": "researcher", "token_events": True}
    with httpx.Client(base_url=demo.url, timeout=20) as client:
        json_form = client.post("/agent/stream", json=body)
        query_form = client.post("/agent/stream", params={"query": "How is solar doing?"})
    assert json_form.headers["content-type"].startswith("text/event-stream")
    assert json_form.headers["cache-control"] == "no-cache, no-transform"
    evs = events(json_form.text)
    kinds = [e["event_type"] for e in evs]
    assert kinds[:2] == ["reasoning", "tool_call"] and kinds[-1] == "answer"
    assert "token" in kinds and "custom" in kinds
    tokens = "".join(e["choices"][0]["delta"]["content"] for e in evs if e["event_type"] == "token")
    assert tokens == evs[-1]["choices"][0]["delta"]["content"]
    # The default target for /agent/stream is the first agent; tokens are off by default.
    assert "token" not in [e["event_type"] for e in events(query_form.text)]


def test_mas_stream_and_simple_stream(demo: LiveServer) -> None:
    with httpx.Client(base_url=demo.url, timeout=20) as client:
        team = client.post("/mas/stream", json={"query": "ocean heat?", "system": "research-team"})
        simple = client.post("/agent/stream/simple", json={"query": "ocean heat?"})
    evs = events(team.text)
    handoffs = [e["choices"][0]["delta"]["handoff"] for e in evs if e["event_type"] == "handoff"]
    assert [(h["from_agent"], h["to_agent"]) for h in handoffs] == [
        ("researcher", "analyst"),
        ("analyst", "writer"),
    ]
    assert {e["event_type"] for e in events(simple.text)} == {"reasoning", "answer"}


@pytest.mark.parametrize(
    ("path", "kwargs", "status", "code"),
    [
        (
            "/agent/stream",
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            400,
            "invalid_json",
        ),
        ("/agent/stream", {"json": {"query": 42}}, 422, "invalid_request"),
        ("/agent/stream", {"json": {"query": ""}}, 422, "invalid_request"),
        ("/agent/stream", {"json": {"query": "  \n "}}, 422, "invalid_request"),
        ("/agent/stream", {"json": {"query": "hi", "token_events": "yes"}}, 422, "invalid_request"),
        ("/agent/stream", {"json": {"query": "hi", "agent": "nobody"}}, 404, "not_found"),
        ("/agent/stream", {"json": ["query"]}, 422, "invalid_request"),
        ("/agent/stream", {"json": {"query": "hi", "unexpected": 1}}, 422, "invalid_request"),
        ("/mas/stream", {"json": {"query": "hi", "system": "researcher"}}, 404, "not_found"),
        (
            "/mas/stream",
            {"json": {"query": "hi", "system": "research-team", "entry_agent": "ghost"}},
            404,
            "not_found",
        ),
        (
            "/agent/stream",
            {"content": b'{"query": "' + b"x" * (10 * 1024 * 1024) + b'"}'},
            413,
            "body_too_large",
        ),
        (
            "/v1/chat/completions",
            {"json": {"model": "researcher", "messages": []}},
            422,
            "invalid_request",
        ),
        (
            "/v1/chat/completions",
            {"json": {"model": "ghost", "messages": [{"role": "user", "content": "hi"}]}},
            404,
            "not_found",
        ),
        ("/nowhere", {"json": {}}, 404, "not_found"),
    ],
)
def test_bad_requests_get_json_errors_and_the_server_keeps_serving(
    demo: LiveServer, path: str, kwargs: dict[str, Any], status: int, code: str
) -> None:
    response = httpx.post(f"{demo.url}{path}", timeout=20, **kwargs)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code and error["message"] and error["type"]
    assert httpx.get(f"{demo.url}/healthz").json()["status"] == "ok"


def test_models_list_targets(demo: LiveServer) -> None:
    data = httpx.get(f"{demo.url}/v1/models").json()["data"]
    kinds = {m["id"]: (m["masai"]["kind"], m["masai"]["mode"]) for m in data}
    assert kinds == {
        "researcher": ("agent", None),
        "analyst": ("agent", None),
        "writer": ("agent", None),
        "publisher": ("agent", None),
        "research-team": ("system", "decentralized"),
        "pipeline": ("system", "sequential"),
        "supervised": ("system", "hierarchical"),
    }


# -- the OpenAI-compatible endpoint, through the official SDK -------------------------------------


@pytest.mark.parametrize("model", ["researcher", "research-team", "pipeline", "supervised"])
def test_openai_sdk_streaming_matches_non_streaming(demo: LiveServer, model: str) -> None:
    client = openai.OpenAI(base_url=f"{demo.url}/v1", api_key="unused")
    question = [{"role": "user", "content": "How is solar growing?"}]
    whole = client.chat.completions.create(model=model, messages=question)  # type: ignore[arg-type]
    text = whole.choices[0].message.content
    assert text and whole.choices[0].finish_reason == "stop" and whole.usage is not None
    assert whole.usage.total_tokens == whole.usage.prompt_tokens + whole.usage.completion_tokens

    stream = client.chat.completions.create(
        model=model,
        messages=question,
        stream=True,  # type: ignore[arg-type]
        stream_options={"include_usage": True},
    )
    pieces, finish, usage, ids = [], None, None, set()
    for chunk in stream:
        ids.add(chunk.id)
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    assert "".join(pieces) == text
    assert len([p for p in pieces if p]) > 3  # it really streamed
    assert finish == "stop" and usage is not None and usage.completion_tokens > 0
    assert len(ids) == 1


def test_openai_sdk_parses_every_chunk_with_agent_events(demo: LiveServer) -> None:
    client = openai.OpenAI(base_url=f"{demo.url}/v1", api_key="unused")
    stream = client.chat.completions.create(
        model="research-team",
        messages=[{"role": "user", "content": "AI?"}],
        stream=True,
        stream_options={"include_agent_events": True},  # type: ignore[typeddict-unknown-key]
    )
    content, agent_events = "", []
    for chunk in stream:
        extra = chunk.model_extra or {}
        if "masai_event" in extra:
            assert chunk.choices == []
            agent_events.append(extra["masai_event"])
        for choice in chunk.choices:
            content += choice.delta.content or ""
        assert "error" not in extra
    kinds = {e["event_type"] for e in agent_events}
    assert {"tool_call", "tool_output", "handoff", "memory_update", "answer"} <= kinds
    assert [e["metadata"]["seq"] for e in agent_events] == list(range(len(agent_events)))
    final = [
        e
        for e in agent_events
        if e["event_type"] == "answer" and not e["metadata"].get("intermediate")
    ]
    assert len(final) == 1 and content == final[0]["data"]["answer"]


def test_a_failed_run_is_an_sdk_error_not_content() -> None:
    def crash(_: Any) -> dict[str, Any]:
        raise RuntimeError("secret detail")

    from masai import FunctionModel

    manager = AgentManager(logging=False)
    manager.create_agent("crashy", [], AgentDetails([]), model=FunctionModel(crash))
    with live_server(create_app(Registry(manager))) as server:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)
        with pytest.raises(openai.APIError) as streamed:
            for _ in client.chat.completions.create(
                model="crashy", messages=[{"role": "user", "content": "hi"}], stream=True
            ):
                pass
        assert "secret detail" not in str(streamed.value)
        with pytest.raises(openai.InternalServerError) as whole:
            client.chat.completions.create(
                model="crashy", messages=[{"role": "user", "content": "hi"}]
            )
        assert "secret detail" not in str(whole.value)
        assert health(server)["failed"] == 2


# -- streaming behaviour --------------------------------------------------------------------------


def test_idle_streams_get_heartbeat_comments_and_no_gzip() -> None:
    with live_server(create_app(slow_registry(), ping_interval=0.1)) as server:
        response = httpx.post(
            f"{server.url}/agent/stream",
            json={"query": "nap"},
            headers={"accept-encoding": "gzip"},
            timeout=10,
        )
    assert "content-encoding" not in response.headers
    text = response.text
    assert text.count(": ping\n\n") >= 3  # the tool sleeps 0.6 s
    assert events(text)[-1]["choices"][0]["delta"]["content"] == "rested"


@tool
async def burst(gap: float) -> str:
    """A pause, one event, a pause, then ten events within ~10 ms."""
    await asyncio.sleep(gap)
    await emit_custom_event("first", {"t": time.time()})
    await asyncio.sleep(gap)
    for i in range(10):
        await emit_custom_event(f"burst {i}", {"t": time.time()})
        await asyncio.sleep(0.001)
    return "done"


def burst_registry() -> Registry:
    manager = AgentManager(logging=False)
    manager.create_agent(
        "burster",
        [burst],
        AgentDetails(["bursting"]),
        model=ScriptedModel(
            [{"tool": "burst", "tool_input": {"gap": 0.5}}, {"satisfied": True, "answer": "ok"}]
        ),
    )
    return Registry(manager)


@pytest.mark.parametrize("interval", [0.0, 0.2])
def test_busy_streams_share_writes_and_a_quiet_one_writes_at_once(interval: float) -> None:
    """Writes to one stream are ``write_interval`` apart; the first event after a quiet spell
    is not held back."""
    writes: list[list[tuple[str, float]]] = []  # per write: (custom event, its lag)
    with (
        live_server(create_app(burst_registry(), write_interval=interval, pacing_load=0)) as server,
        httpx.Client(timeout=10) as client,
        client.stream("POST", f"{server.url}/agent/stream", json={"query": "go"}) as response,
    ):
        pending = ""
        for piece in response.iter_raw():
            now, text = time.time(), pending + piece.decode()
            cut = text.rfind("\n\n") + 2
            pending = text[cut:]
            parsed = [json.loads(f) for f in frames(text[:cut]) if f != "[DONE]"]
            deltas = [f["choices"][0]["delta"] for f in parsed if f.get("event_type") == "custom"]
            if deltas:
                writes.append([(d["content"], now - d["custom_data"]["t"]) for d in deltas])
    (first,), *burst_writes = writes
    assert first[0] == "first" and first[1] < 0.1  # alone, and not held back
    names = [name for write in burst_writes for name, _ in write]
    assert names == [f"burst {i}" for i in range(10)]
    if interval:
        # The burst's first event goes out at once (a quiet spell before it), the rest together.
        assert len(burst_writes) <= 3
        assert max(lag for write in burst_writes for _, lag in write) < interval + 0.1
    else:
        assert len(burst_writes) >= 5  # every ready batch is written at once


def test_write_interval_is_validated() -> None:
    with pytest.raises(ValueError, match="write_interval"):
        create_app(burst_registry(), write_interval=-1)


def test_writes_are_paced_only_while_the_process_is_busy() -> None:
    pacing = WritePacing(0.003, load=0.2, period=0.05)
    assert pacing.gap() == 0.0  # just started: not busy

    def spin() -> float:  # a period of busy CPU, then what the pacing says
        end = time.monotonic() + 0.06
        while time.monotonic() < end:
            pass
        return pacing.gap()

    assert spin() == 0.0  # one busy period could be a burst (a run starting)
    assert spin() == 0.003  # two in a row: a busy server
    time.sleep(0.06)  # a period at rest
    assert pacing.gap() == 0.0
    pacing.waited(0.0005)  # an event that hardly waited: no sign of trouble
    assert pacing.gap() == 0.0
    pacing.waited(0.005)  # one that queued: pace at once, for at least a period
    assert pacing.gap() == 0.003
    time.sleep(0.06)
    assert pacing.gap() == 0.0
    assert WritePacing(0.003, load=0).gap() == 0.003  # load 0: always
    assert WritePacing(0.0, load=0).gap() == 0.0  # interval 0: never


def test_disconnect_is_counted_as_cancelled() -> None:
    with live_server(create_app(slow_registry())) as server:
        with (
            httpx.Client(timeout=10) as client,
            client.stream("POST", f"{server.url}/agent/stream", json={"query": "nap"}) as response,
        ):
            for line in response.iter_lines():
                if "tool_call" in line:
                    break
        for _ in range(200):
            runs = health(server)
            if runs["cancelled"] == 1:
                break
            time.sleep(0.01)
        assert runs == {"active": 0, "completed": 0, "cancelled": 1, "failed": 0}


def test_api_key_protects_the_api_but_not_health_or_ui() -> None:
    with live_server(create_app(slow_registry(), api_key="s3cret-key")) as server:
        assert httpx.get(f"{server.url}/v1/models").status_code == 401
        wrong = httpx.get(f"{server.url}/v1/models", headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthorized"
        ok = httpx.get(f"{server.url}/v1/models", headers={"authorization": "Bearer s3cret-key"})
        assert ok.status_code == 200
        assert httpx.get(f"{server.url}/healthz").status_code == 200


# -- configuration -------------------------------------------------------------------------------


@tool
async def shout(text: str) -> str:
    """Upper-cases text."""
    await emit_custom_event("shouting", {"progress": 1.0})
    return text.upper()


def test_toml_config_declares_models_agents_and_systems(tmp_path: Path) -> None:
    config = tmp_path / "masai.toml"
    config.write_text(
        textwrap.dedent("""
        default = "duo"

        [models.script]
        category = "scripted"
        turns = [
          { tool = "shout", tool_input = '{"text": "hi"}' },
          { satisfied = true, delegate_to_agent = "echo", answer = "HI" },
          { satisfied = true, answer = "echo: HI" },
        ]

        [agents.loud]
        model = "script"
        tools = ["tests.test_server:shout"]
        capabilities = ["shouting"]
        max_tool_calls = 3

        [agents.echo]
        model = "script"
        capabilities = ["echoing"]

        [systems.duo]
        mode = "decentralized"
        entry_agent = "loud"
        max_hops = 2
    """)
    )
    registry = load_registry(str(config))
    assert registry.default == "duo" and registry.get("loud").agent is not None
    assert registry.get("loud").agent.limits.max_tool_calls == 3  # type: ignore[union-attr]
    with live_server(create_app(registry)) as server:
        response = httpx.post(f"{server.url}/mas/stream", json={"query": "go"}, timeout=10)
    kinds = [(e["event_type"], e["metadata"]["agent"]) for e in events(response.text)]
    assert ("handoff", "loud") in kinds and kinds[-1] == ("memory_update", "echo")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[agents.a]\ncapabilities = []", "needs a model"),
        ("[agents.a]\nmodel = 'nope'", "unknown model 'nope'"),
        (
            "[models.m]\ncategory = 'no-such-provider'\nmodel_name = 'x'\n[agents.a]\nmodel = 'm'",
            "no-such-provider",
        ),
        (
            "[models.m]\ncategory = 'demo'\n[agents.a]\nmodel = 'm'\ntools = ['os:nope']",
            "has no 'nope'",
        ),
        (
            "[models.m]\ncategory = 'demo'\n[agents.a]\nmodel = 'm'\n[systems.s]\nmode = 'star'",
            "mode must be",
        ),
        (
            "[models.m]\ncategory = 'demo'\n[agents.a]\nmodel = 'm'\n[systems.s]\n"
            "mode = 'decentralized'\nentry_agent = 'b'",
            "entry_agent must be one of",
        ),
        (
            "[models.m]\ncategory = 'demo'\n[agents.a]\nmodel = 'm'\ntemprature = 1",
            "unknown option 'temprature'",
        ),
        ("[whatever]\n", "unknown sections"),
        ("not toml at all [", "is not valid"),
    ],
)
def test_bad_configs_fail_clearly(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_registry(str(config))


def test_python_module_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_masai_app.py").write_text(
        textwrap.dedent("""
        from masai.server import build_demo
        def build_registry():
            return build_demo()
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "research-team" in load_registry("my_masai_app").targets
    assert "pipeline" in load_registry("my_masai_app:build_registry").targets
    with pytest.raises(ConfigError, match="cannot import"):
        load_registry("no_such_module_anywhere")
    with pytest.raises(ConfigError, match="not found"):
        load_registry(str(tmp_path / "missing.toml"))


# -- the CLI and the demo command -----------------------------------------------------------------


def _masai(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "masai", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "120"},
    )


def test_cli_run_json_prints_one_event_per_line() -> None:
    done = _masai("run", "How is solar growing?", "--mas", "research-team", "--json")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [e["metadata"]["seq"] for e in lines] == list(range(len(lines)))
    assert {"tool_call", "custom", "handoff", "token", "answer"} <= {e["event_type"] for e in lines}


def test_cli_run_renders_progress_handoffs_and_the_answer() -> None:
    done = _masai("run", "How is solar growing?", "--mas", "research-team")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "🔧 researcher → web_search" in out and "🤝 researcher → analyst" in out
    assert "100%" in out  # a progress bar completed
    assert "💬 writer: ## Report: How is solar growing?" in out


def test_cli_reports_bad_targets() -> None:
    done = _masai("run", "hi", "--agent", "ghost")
    assert done.returncode == 2 and "no agent named 'ghost'" in done.stderr


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--write-interval-ms", "-1", "must be >= 0"),
        ("--pacing-load", "nan", "must be >= 0"),
        ("--ping-interval", "0", "must be > 0"),
        ("--write-interval-ms", "soon", "not a number"),
    ],
)
def test_cli_serve_rejects_bad_timings(option: str, value: str, message: str) -> None:
    done = _masai("serve", "--port", "0", option, value)
    assert done.returncode == 2 and f"argument {option}: {message}" in done.stderr


def test_the_readme_demo_command_serves_the_demo() -> None:
    """``./scripts/demo --port 0``: starts, prints its URL, serves health and a streamed run."""
    process = subprocess.Popen(
        [str(ROOT / "scripts" / "demo"), "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("masai serving on http://127.0.0.1:"), line
        url = line.split()[-1]
        health = httpx.get(f"{url}/healthz").json()
        assert health["status"] == "ok"
        assert health["event_loop"] == "uvloop"  # masai serve takes uvicorn's loop choice
        page = httpx.get(f"{url}/")
        assert page.status_code == 200 and "<html" in page.text.lower()
        run = httpx.post(
            f"{url}/mas/stream", json={"query": "AI?", "system": "research-team"}, timeout=30
        )
        assert chunks(run.text)[-1]["choices"][0]["finish_reason"] == "stop"
    finally:
        process.terminate()
        process.wait(timeout=10)
