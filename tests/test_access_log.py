"""The access log of ``masai serve``: exactly one ``masai.access`` line per HTTP request, written
once the response has ended (for a stream: after its last byte, or when its client left), with
the method, the path (no query string), the status, the duration, the run id and the principal
(the key's name, never the key). It replaces uvicorn's access line; ``--log-format json`` makes
every stderr line one JSON object."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from masai.exceptions import ConfigError
from masai.server import ServerSettings, create_app
from masai.server._access import AccessLog, JsonFormatter, TextFormatter, logging_config
from masai.server._targets import Registry
from tests.support.registries import sleepy_registry
from tests.support.server import live_server

ROOT = Path(__file__).resolve().parents[1]
KEY = "access-key-0123456789abcdef"
HEADERS = {"Authorization": f"Bearer {KEY}"}
#: What uvicorn's own access line looks like (``... - "GET / HTTP/1.1" 200``).
UVICORN_ACCESS = ' HTTP/1.1" '
NAP = 1.0


def napping_registry() -> Registry:
    """For ``masai serve --config tests.test_access_log:napping_registry``: ``sleeper`` naps
    ``NAP`` s between its first frames and its end."""
    return sleepy_registry(NAP)


class Served:
    """``masai serve`` as a process, its stderr read line by line as it comes."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        command = [sys.executable, "-m", "masai", "serve", "--port", "0"]
        command += ["--config", "tests.test_access_log:napping_registry"]
        command += ["--api-key", f"alice:{KEY}", *args]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.lines: list[str] = []
        assert self.process.stderr is not None and self.process.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(self.process.stderr,))
        self._reader.start()
        announced = self.process.stdout.readline()
        assert announced.startswith("masai serving on "), announced + self.stderr()
        self.url = announced.split()[-1]

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def stderr(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, found: Callable[[list[str]], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not found(list(self.lines)):
            assert time.monotonic() < deadline, "not logged in time:\n" + self.stderr()
            time.sleep(0.02)

    def stop(self) -> str:
        """SIGTERM, then the whole stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(timeout=10)
            self._reader.join(10)
        return self.stderr()


@pytest.fixture
def serve() -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Served:
        served = Served(*args, env=env)
        started.append(served)
        return served

    yield start
    for served in started:
        served.stop()


def access_text(lines: list[str]) -> list[str]:
    return [line for line in lines if " masai.access: " in line]


def test_one_text_line_per_request_with_principal_run_id_and_no_secrets(
    serve: Callable[..., Served],
) -> None:
    served = serve()
    url = served.url
    assert httpx.get(f"{url}/healthz").status_code == 200
    secret_query = "api_key=query-secret-0123456789"
    assert httpx.get(f"{url}/v1/models?{secret_query}", headers=HEADERS).status_code == 200
    assert httpx.get(f"{url}/no/such/route", headers=HEADERS).status_code == 404
    assert httpx.get(f"{url}/v1/models").status_code == 401  # no key
    wrong = {"Authorization": "Bearer wrong-key-0123456789"}
    assert httpx.get(f"{url}/v1/models", headers=wrong).status_code == 401
    served.wait_for(lambda lines: len(access_text(lines)) == 5)

    # A stream: its line comes once, after the end, and carries the run id.
    body = {"query": "nap", "agent": "sleeper"}
    with (
        httpx.Client(timeout=30) as client,
        client.stream("POST", f"{url}/agent/stream", json=body, headers=HEADERS) as response,
    ):
        assert response.status_code == 200
        run_id = response.headers["x-masai-run-id"]
        pieces = response.iter_text()
        text = next(pieces)
        time.sleep(NAP / 3)  # the run naps: the stream is open
        assert len(access_text(served.lines)) == 5, "logged before the stream ended"
        text += "".join(pieces)
    assert text.rstrip().endswith("data: [DONE]")
    served.wait_for(lambda lines: len(access_text(lines)) == 6)
    log = served.stop()

    lines = access_text(log.splitlines())
    assert len(lines) == 6, log  # exactly one per request
    tails = [line.split(" masai.access: ", 1)[1] for line in lines]
    expected = [
        ("GET /healthz 200", "run=- principal=-"),
        ("GET /v1/models 200", "run=- principal=alice"),
        ("GET /no/such/route 404", "run=- principal=alice"),
        ("GET /v1/models 401", "run=- principal=-"),
        ("GET /v1/models 401", "run=- principal=-"),
        ("POST /agent/stream 200", f"run={run_id} principal=alice"),
    ]
    for tail, (start, end) in zip(tails, expected, strict=True):
        assert tail.startswith(start + " ") and tail.endswith(" " + end), tail
        assert tail.split()[3].endswith("ms")
    streamed_ms = float(tails[-1].split()[3].removesuffix("ms"))
    assert streamed_ms >= NAP * 1000  # the whole stream
    stamp, level = lines[0].split()[:2]
    assert level == "INFO" and stamp.endswith("Z") and "T" in stamp
    # Never a key, a credential header or a query string; no uvicorn access line.
    assert KEY not in log and "wrong-key" not in log
    assert "authorization" not in log.lower() and "cookie" not in log.lower()
    assert "query-secret" not in log and "api_key=" not in log and "?" not in "\n".join(tails)
    assert UVICORN_ACCESS not in log


def test_json_format_makes_every_line_an_object(serve: Callable[..., Served]) -> None:
    served = serve("--log-format", "json")
    url = served.url
    assert httpx.get(f"{url}/healthz?token=query-secret-0123456789").status_code == 200
    assert httpx.get(f"{url}/v1/models").status_code == 401
    body = {"model": "sleeper", "messages": [{"role": "user", "content": "nap"}], "stream": True}
    with (
        httpx.Client(timeout=30) as client,
        client.stream("POST", f"{url}/v1/chat/completions", json=body, headers=HEADERS) as reply,
    ):
        assert reply.status_code == 200
        run_id = reply.headers["x-masai-run-id"]
        text = reply.read().decode()
    assert text.rstrip().endswith("data: [DONE]")
    served.wait_for(lambda lines: sum('"masai.access"' in line for line in lines) == 3)
    log = served.stop()

    records = [json.loads(line) for line in log.splitlines()]  # every line is JSON
    assert records and all({"ts", "level", "logger", "msg"} <= r.keys() for r in records)
    assert any(r["logger"].startswith("uvicorn") for r in records)  # uvicorn's lines too
    access = [r for r in records if r["logger"] == "masai.access"]
    assert len(access) == 3
    fields = ("method", "path", "status", "run_id", "principal", "disconnected")
    assert [tuple(r[f] for f in fields) for r in access] == [
        ("GET", "/healthz", 200, None, None, False),
        ("GET", "/v1/models", 401, None, None, False),
        ("POST", "/v1/chat/completions", 200, run_id, "alice", False),
    ]
    assert all(r["level"] == "INFO" and isinstance(r["duration_ms"], float) for r in access)
    assert access[2]["duration_ms"] >= NAP * 1000
    assert access[2]["ts"].endswith("Z")
    assert KEY not in log and "query-secret" not in log and "authorization" not in log.lower()
    assert UVICORN_ACCESS not in log


def test_the_format_comes_from_the_environment_too(serve: Callable[..., Served]) -> None:
    served = serve(env={"MASAI_LOG_FORMAT": "json"})
    assert httpx.get(f"{served.url}/healthz").status_code == 200
    served.wait_for(lambda lines: any('"masai.access"' in line for line in lines))
    log = served.stop()
    assert all(isinstance(json.loads(line), dict) for line in log.splitlines())


def test_log_level_warning_turns_access_lines_off(serve: Callable[..., Served]) -> None:
    served = serve("--log-level", "warning")
    assert httpx.get(f"{served.url}/healthz").status_code == 200
    log = served.stop()
    assert "masai.access" not in log and UVICORN_ACCESS not in log


# -- in process: a client that leaves mid-stream -------------------------------------------


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def access_records() -> Iterator[list[logging.LogRecord]]:
    logger = logging.getLogger("masai.access")
    capture, level = Capture(), logger.level
    logger.addHandler(capture)
    logger.setLevel(logging.INFO)
    try:
        yield capture.records
    finally:
        logger.removeHandler(capture)
        logger.setLevel(level)


def wait_until(found: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not found():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_a_client_that_leaves_mid_stream_gets_its_line(
    access_records: list[logging.LogRecord],
) -> None:
    app = create_app(sleepy_registry(30.0), ServerSettings(api_keys={"alice": KEY}))
    with live_server(app) as server:
        request = json.dumps({"query": "nap", "agent": "sleeper"}).encode()
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        sock.sendall(
            b"POST /agent/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nAuthorization: Bearer %b\r\n"
            b"Content-Length: %d\r\n\r\n%b" % (KEY.encode(), len(request), request)
        )
        received = b""
        while b"tool_call" not in received:
            chunk = sock.recv(65536)
            assert chunk, received
            received += chunk
        time.sleep(0.2)
        assert access_records == []  # the stream is still open
        began = time.monotonic()
        sock.close()
        wait_until(lambda: bool(access_records))
        assert time.monotonic() - began < 5
        time.sleep(0.2)
    (record,) = access_records
    fields = record.access  # type: ignore[attr-defined]
    run_id = next(
        line.split(b":", 1)[1].strip().decode()
        for line in received.split(b"\r\n")
        if line.lower().startswith(b"x-masai-run-id:")
    )
    assert fields["method"] == "POST" and fields["path"] == "/agent/stream"
    assert fields["status"] == 200 and fields["disconnected"] is True
    assert fields["run_id"] == run_id and fields["principal"] == "alice"
    assert record.getMessage().endswith(f"run={run_id} principal=alice disconnected")


# -- the middleware and formatters alone ----------------------------------------------------


def _call(app: Any, messages: list[dict[str, Any]], **scope: Any) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    incoming = list(messages)

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    base = {"type": "http", "method": "GET", "path": "/", "raw_path": b"/", "headers": []}
    asyncio.run(AccessLog(app)({**base, **scope}, receive, send))
    return sent


def test_a_failing_app_is_logged_as_500(access_records: list[logging.LogRecord]) -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        _call(broken, [])
    (record,) = access_records
    assert record.access["status"] == 500  # type: ignore[attr-defined]


def test_no_response_at_all_is_status_dash(access_records: list[logging.LogRecord]) -> None:
    async def leaves(scope: Any, receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "http.disconnect"  # gone during its upload

    _call(leaves, [], method="POST", path="/agent/stream", raw_path=b"/agent/stream")
    (record,) = access_records
    assert record.access["status"] is None  # type: ignore[attr-defined]
    assert record.getMessage().startswith("POST /agent/stream - ")
    assert record.getMessage().endswith(" disconnected")


def test_a_path_cannot_forge_a_line(access_records: list[logging.LogRecord]) -> None:
    async def ok(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    _call(ok, [], path="/a\nb", raw_path=b"/a\nINFO fake \\x")
    (record,) = access_records
    assert record.access["path"] == "/a\\x0aINFO\\x20fake\\x20\\x5cx"  # type: ignore[attr-defined]
    assert "\n" not in TextFormatter().format(record)
    line = JsonFormatter().format(record)
    assert "\n" not in line and json.loads(line)["status"] == 204


def test_json_lines_carry_tracebacks_on_one_line() -> None:
    try:
        raise ValueError("bad")
    except ValueError:
        record = logging.LogRecord("masai.server", logging.ERROR, "f", 1, "it %s", ("broke",), None)
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    parsed = json.loads(line)
    assert "\n" not in line and parsed["msg"] == "it broke" and parsed["level"] == "ERROR"
    assert "ValueError: bad" in parsed["exc"]


def test_logging_config_silences_uvicorns_access_logger() -> None:
    config = logging_config("json", "debug")
    assert config["loggers"]["uvicorn.access"]["handlers"] == []
    assert config["loggers"]["uvicorn.access"]["propagate"] is False
    assert config["loggers"]["masai"]["level"] == "DEBUG"
    assert config["formatters"]["masai"]["()"] is JsonFormatter


def test_log_format_is_a_setting() -> None:
    from masai.cli import _flag_settings, parser

    assert ServerSettings().log_format == "text"
    assert ServerSettings.from_environment({"MASAI_LOG_FORMAT": "JSON"}) == {"log_format": "json"}
    assert ServerSettings.build({"log_format": "json"}).log_format == "json"
    with pytest.raises(ConfigError, match="log_format"):
        ServerSettings.build({"log_format": "xml"})
    args = parser().parse_args(["serve", "--log-format", "json"])
    assert _flag_settings(args)["log_format"] == "json"
    assert "log_format" not in _flag_settings(parser().parse_args(["serve"]))


def test_a_request_refused_before_the_app_still_gets_its_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """431 (a request head over the cap) is answered by the server's protocol, not the app:
    the access log still has one line for it, and one for the request served after it."""
    from masai.server._serve import ConnectionLimits

    app = create_app(sleepy_registry(0.1))
    with (
        caplog.at_level(logging.INFO, logger="masai.access"),
        live_server(app, limits=ConnectionLimits(max_header_bytes=2_000)) as server,
    ):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(
                b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 5_000 + b"\r\n\r\n"
            )
            reply = sock.recv(65536)
        assert reply.startswith(b"HTTP/1.1 431")
        assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
        deadline = time.monotonic() + 5
        while len(access_lines(caplog)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    lines = access_lines(caplog)
    assert [line.split(" 0.0ms")[0] for line in lines[:1]] == ["- - 431"]
    assert lines[0].endswith("refused")
    assert lines[1].startswith("GET /healthz 200 ")
    assert len(lines) == 2


def access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "masai.access"]
