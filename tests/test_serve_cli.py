"""``masai serve`` as a process: keys from the environment, refusing an open network address,
naming a busy port; on SIGTERM it stops taking work, lets runs finish until
``--shutdown-timeout``, then stops them with a proper end frame, and exits 0 within the deadline
even when a client never reads. Also ``masai run --server``: the same run, from a server."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.sse import chunks

ROOT = Path(__file__).resolve().parents[1]
KEY = "shutdown-key-0123456789"


class Served:
    def __init__(self, process: subprocess.Popen[str], url: str) -> None:
        self.process, self.url = process, url
        self.port = int(url.rsplit(":", 1)[1])


@pytest.fixture
def serve() -> Iterator[Any]:
    started: list[subprocess.Popen[str]] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Served:
        process = subprocess.Popen(
            [sys.executable, "-m", "masai", "serve", "--port", "0", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "MASAI_DEMO_PACE": "0.01", **(env or {})},
        )
        started.append(process)
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("masai serving on "), line + process.stderr.read()  # type: ignore[union-attr]
        return Served(process, line.split()[-1])

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def stop(served: Served) -> tuple[int, float]:
    """SIGTERM; the exit status and how long it took."""
    began = time.monotonic()
    served.process.send_signal(signal.SIGTERM)
    code = served.process.wait(timeout=30)
    return code, time.monotonic() - began


def test_an_idle_server_exits_0_at_once(serve: Any) -> None:
    served = serve()
    assert httpx.get(f"{served.url}/healthz").status_code == 200
    code, took = stop(served)
    assert code == 0 and took < 3


def test_sigterm_stops_runs_with_an_end_frame_and_exits_within_the_deadline(serve: Any) -> None:
    served = serve(
        "--config", "tests.support.registries:long_sleepy_registry", "--shutdown-timeout", "1"
    )
    received: list[str] = []
    reading = threading.Event()

    def read_a_run() -> None:
        body = {"query": "nap", "agent": "sleeper"}
        with (
            httpx.Client(timeout=30) as client,
            client.stream("POST", f"{served.url}/agent/stream", json=body) as response,
        ):
            for text in response.iter_text():
                received.append(text)
                if "tool_call" in text:
                    reading.set()

    reader = threading.Thread(target=read_a_run)
    reader.start()
    # A client that starts a run and never reads a byte of it.
    stalled = socket.create_connection(("127.0.0.1", served.port))
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    request = json.dumps({"query": "nap", "agent": "sleeper"}).encode()
    stalled.sendall(
        b"POST /agent/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%b" % (len(request), request)
    )
    assert reading.wait(10)
    try:
        code, took = stop(served)
    finally:
        stalled.close()
    reader.join(10)
    assert code == 0 and took < 1 + 5, took
    frames = chunks("".join(received))  # ends with exactly one [DONE]
    last = frames[-1]
    assert last["event_type"] == "error"
    assert last["metadata"]["error_code"] == "server_shutdown"
    assert last["choices"][0]["finish_reason"] == "stop"


def test_runs_that_finish_in_time_are_not_cut(serve: Any) -> None:
    served = serve("--shutdown-timeout", "20")
    body = {"query": "AI?", "system": "research-team"}
    result: dict[str, Any] = {}

    def read() -> None:
        result["text"] = httpx.post(f"{served.url}/mas/stream", json=body, timeout=30).text

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.3)
    code, took = stop(served)
    reader.join(10)
    assert code == 0 and took < 20
    assert chunks(result["text"])[-1]["choices"][0]["finish_reason"] == "stop"
    assert all(c.get("event_type") != "error" for c in chunks(result["text"]))


def test_masai_run_streams_from_a_server_with_a_key(serve: Any) -> None:
    served = serve("--api-key", f"me:{KEY}")
    command = [sys.executable, "-m", "masai", "run", "AI?", "--mas", "research-team"]
    command += ["--server", served.url, "--json"]
    refused = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert refused.returncode == 2 and "answered 401" in refused.stderr
    done = subprocess.run(
        [*command, "--api-key", KEY], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [e["metadata"]["seq"] for e in lines] == list(range(len(lines)))
    kinds = {e["event_type"] for e in lines}
    assert {"tool_call", "tool_output", "custom", "handoff", "memory_update", "answer"} <= kinds
    tool_calls = [e for e in lines if e["event_type"] == "tool_call"]
    assert tool_calls[0]["data"]["tool_name"] == "web_search"
    assert isinstance(tool_calls[0]["data"]["tool_input"], dict)
    assert len({e["metadata"]["session_id"] for e in lines}) == 1


def _answer(stdout: str) -> str:
    lines = [json.loads(line) for line in stdout.splitlines()]
    (answer,) = [e["data"]["answer"] for e in lines if e["event_type"] == "answer"]
    return str(answer)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("y\n", "published 'the report' to team-blog"),
        ("n\n", "was not run: the user denied it. Reason: denied at the terminal"),
        ("", "was not run: the user denied it. Reason: no answer: standard input is closed"),
    ],
)
def test_masai_run_asks_before_a_tool_that_needs_approval(reply: str, expected: str) -> None:
    command = [sys.executable, "-m", "masai", "run", "the report", "--agent", "publisher"]
    done = subprocess.run(
        [*command, "--json"], input=reply, capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "Run publish_report({'title': 'the report', 'channel': 'team-blog'})? [y/N]" in (
        done.stderr
    )
    assert expected in _answer(done.stdout)


def test_masai_run_on_a_server_decides_there(serve: Any) -> None:
    """``--server``: the run is a server resource; the terminal's answer is the approval."""
    served = serve("--api-key", f"me:{KEY}")
    command = [sys.executable, "-m", "masai", "run", "the report", "--agent", "publisher"]
    command += ["--server", served.url, "--api-key", KEY, "--json"]
    done = subprocess.run(
        command, input="y\n", capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert _answer(done.stdout) == "published 'the report' to team-blog"
    listed = httpx.get(f"{served.url}/runs", headers={"Authorization": f"Bearer {KEY}"}).json()
    (run,) = listed["runs"]
    assert run["status"] == "completed" and run["target"] == "publisher"


def test_a_busy_port_is_named_with_a_hint(serve: Any) -> None:
    served = serve()
    done = subprocess.run(
        [sys.executable, "-m", "masai", "serve", "--port", str(served.port)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
    )
    assert done.returncode == 2
    assert f"127.0.0.1:{served.port}" in done.stderr and "--port 0" in done.stderr


def test_keys_from_the_environment_guard_the_api(serve: Any) -> None:
    other = "other-key-0123456789"
    served = serve(env={"MASAI_API_KEYS": f"me:{KEY},you:{other}"})
    assert httpx.get(f"{served.url}/v1/models").status_code == 401
    for key in (KEY, other):
        ok = httpx.get(f"{served.url}/v1/models", headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200
    assert httpx.get(f"{served.url}/healthz").status_code == 200


def test_an_open_network_address_without_keys_is_refused() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "masai", "serve", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
        env={k: v for k, v in os.environ.items() if not k.startswith("MASAI_API_KEY")},
    )
    assert done.returncode == 2 and "--insecure-no-auth" in done.stderr
    assert "masai serving" not in done.stdout


def test_bad_settings_are_reported_before_serving(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(
        '[server]\nmax_runs = 0\n\n[agents.a]\nmodel = { category = "scripted", turns = [] }\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "masai", "serve", "--port", "0", "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
    )
    assert done.returncode == 2 and "max_runs" in done.stderr


def _frames(stdout: str) -> list[dict[str, Any]]:
    """The JSON of every ``data:`` line but ``[DONE]``."""
    return [
        json.loads(line[6:])
        for line in stdout.splitlines()
        if line.startswith("data: ") and line != "data: [DONE]"
    ]


def _wire_reply(wire: str, frames: list[dict[str, Any]]) -> str:
    """The reply text each protocol presents (its own way of carrying it)."""
    if wire == "openai-chat":
        return "".join(c["delta"].get("content") or "" for f in frames for c in f["choices"])
    if wire == "openai-responses":
        (done,) = [f for f in frames if f["type"] == "response.output_text.done"]
        return str(done["text"])
    if wire == "ag-ui":
        return "".join(f["delta"] for f in frames if f["type"] == "TEXT_MESSAGE_CONTENT")
    return "".join(f["delta"] for f in frames if f["type"] == "text-delta")  # ai-sdk


def test_masai_run_prints_any_protocols_frames() -> None:
    """``--wire``: the same run as each protocol's route would send it; every one carries the
    same final answer (the one ``--json`` shows), and each ends its own way."""
    from masai.cli import WIRES
    from masai.streaming.encoders import WIRES as ENCODER_WIRES

    assert WIRES == ENCODER_WIRES
    base = [sys.executable, "-m", "masai", "run", "How is wind power doing?", "--mas"]
    base.append("research-team")
    env = {**os.environ, "MASAI_DEMO_PACE": "0"}

    def run(*extra: str) -> str:
        done = subprocess.run(
            [*base, *extra], capture_output=True, text=True, cwd=ROOT, timeout=60, env=env
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    lines = [json.loads(line) for line in run("--json").splitlines()]
    answers = [e for e in lines if e["event_type"] == "answer"]
    final = [e["data"]["answer"] for e in answers if not e["metadata"].get("intermediate")]
    assert len(answers) > 1 and len(final) == 1  # hand-offs: intermediate answers too
    for wire in WIRES:
        stdout = run("--wire", wire)
        frames = _frames(stdout)
        if wire == "spec":
            assert stdout.endswith("data: [DONE]\n\n")
            assert [f["metadata"]["seq"] for f in frames[1:-1]] == list(range(len(frames) - 2))
            continue
        assert _wire_reply(wire, frames) == final[0], wire
        last = frames[-1]
        assert {
            "openai-chat": "usage" in last,
            "openai-responses": last.get("type") == "response.completed",
            "ag-ui": last.get("type") == "RUN_FINISHED",
            "ai-sdk": last.get("type") == "finish",
        }[wire], (wire, last)


def test_masai_run_wire_stops_where_the_protocol_ends_a_response() -> None:
    """AG-UI ends its response at an approval (an interrupt); ``--wire ag-ui`` prints just that
    response, says on stderr that the run goes on, and still asks for the decision."""
    command = [sys.executable, "-m", "masai", "run", "the report", "--agent", "publisher"]
    done = subprocess.run(
        [*command, "--wire", "ag-ui"], input="y\n", capture_output=True, text=True, cwd=ROOT,
        timeout=60, env={**os.environ, "MASAI_DEMO_PACE": "0"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    frames = _frames(done.stdout)
    assert frames[-1]["type"] == "RUN_FINISHED"
    assert frames[-1]["outcome"]["type"] == "interrupt"
    assert [f["type"] for f in frames].count("RUN_FINISHED") == 1
    assert "the response ends here; the run goes on" in done.stderr
    assert "[y/N]" in done.stderr
