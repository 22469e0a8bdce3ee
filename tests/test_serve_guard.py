"""The HTTP server holds up against abusive connections and shuts down cleanly.

Every test runs a real ``MasaiServer`` on 127.0.0.1 and talks to it over real sockets, with
limits small enough (a 1 s header deadline, a 1 s send timeout) that each takes a few seconds.
"""

from __future__ import annotations

import http.client
import json
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from masai.server._serve import ConnectionLimits, MasaiServer
from tests.support.guard_app import StreamState, build_app
from tests.support.server import LiveServer, live_server

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "support" / "guard_app.py"


# -- helpers ----------------------------------------------------------------------------------


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.02)


def connect(port: int, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:  # before connect, so the window is small from the start
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", port))
    return sock


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def timed_get(port: int) -> float:
    start = time.perf_counter()
    status, _ = get(port, "/json")
    assert status == 200
    return time.perf_counter() - start


def read_until_closed(
    socks: list[socket.socket], deadline: float
) -> dict[int, tuple[bytes, float]]:
    """Everything each socket receives until the server closes it: fileno -> (bytes, when)."""
    received = {s.fileno(): b"" for s in socks}
    closed: dict[int, tuple[bytes, float]] = {}
    with selectors.DefaultSelector() as sel:
        for s in socks:
            sel.register(s, selectors.EVENT_READ)
        while len(closed) < len(socks) and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.05):
                sock: socket.socket = key.fileobj  # type: ignore[assignment]
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    data = b""
                if data:
                    received[sock.fileno()] += data
                else:
                    closed[sock.fileno()] = (received[sock.fileno()], time.monotonic())
                    sel.unregister(sock)
    return closed


def read_to_end(sock: socket.socket) -> None:
    while sock.recv(65536):
        pass


def parse(raw: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, json.loads(body)


def assert_error(raw: bytes, status: int, code: str, kind: str) -> dict[str, str]:
    got, headers, body = parse(raw)
    assert got == status, raw[:200]
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert body["error"]["code"] == code and body["error"]["type"] == kind
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return headers


@pytest.fixture
def state() -> StreamState:
    return StreamState()


@pytest.fixture
def guarded(state: StreamState, request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    limits = getattr(request, "param", ConnectionLimits(header_timeout=1.0, send_timeout=1.0))
    with live_server(build_app(state), limits=limits) as server:
        yield server


def connections(server: LiveServer) -> int:
    count: int = server.call(lambda: server.server.connection_count)
    return count


# -- the header deadline ----------------------------------------------------------------------


def test_half_sent_requests_are_cut_off_while_others_are_served(guarded: LiveServer) -> None:
    port, timeout = guarded.port, 1.0
    baseline = [timed_get(port) for _ in range(30)]
    partials = (b"GET /json HT", b"GET /json HTTP/1.1\r\nHost: x\r\nX-Half: y")
    half_sent, silent, opened = [], [], {}
    for i in range(200):
        sock = connect(port)
        sock.sendall(partials[i % 2])
        half_sent.append(sock)
        opened[sock.fileno()] = time.monotonic()
    for _ in range(20):  # connections that send nothing at all
        sock = connect(port)
        silent.append(sock)
        opened[sock.fileno()] = time.monotonic()
    wait_for(lambda: connections(guarded) == 220, 2, "the server holds all 220 connections")
    during = [timed_get(port) for _ in range(30)]

    closed = read_until_closed(half_sent + silent, time.monotonic() + timeout + 1.5)
    assert len(closed) == 220, f"only {len(closed)} of 220 were closed by the server"
    for sock in half_sent:
        raw, when = closed[sock.fileno()]
        assert_error(raw, 408, "request_timeout", "invalid_request_error")
        assert 0.9 * timeout <= when - opened[sock.fileno()] <= timeout + 1.5
    for sock in silent:
        raw, when = closed[sock.fileno()]
        assert raw == b"" and when - opened[sock.fileno()] >= 0.9 * timeout
    for sock in half_sent + silent:
        sock.close()
    wait_for(lambda: connections(guarded) == 0, 2, "the server's connection count is back to 0")
    usual, loaded = statistics.median(baseline), statistics.median(during)
    assert loaded <= max(5 * usual, usual + 0.05), (usual, loaded)


def test_a_byte_at_a_time_trickle_is_cut_off_at_the_deadline(guarded: LiveServer) -> None:
    sock = connect(guarded.port)
    start = time.monotonic()
    request = b"GET /json HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100
    sent, raw = 0, b""
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ)
    try:
        while sent < len(request) and time.monotonic() - start < 5:
            try:
                sock.send(request[sent : sent + 1])
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += 1
            if sel.select(timeout=0.2):  # the server answered: read it to the end
                raw = read_until_closed([sock], start + 5)[sock.fileno()][0]
                break
        elapsed = time.monotonic() - start
    finally:
        sel.close()
        sock.close()
    assert sent >= 4, "the trickle was cut off before it had really started"
    assert 0.9 <= elapsed <= 1.0 + 1.5, elapsed
    assert_error(raw, 408, "request_timeout", "invalid_request_error")


def test_a_stalled_keep_alive_request_gets_408(guarded: LiveServer) -> None:
    """The deadline is armed again by the first byte of a later request on the connection
    (uvicorn's keep-alive timer stops at that byte, and nothing else would ever fire)."""
    sock = connect(guarded.port)
    try:
        sock.sendall(b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(2)
        first = b""
        while not first.endswith(b'{"ok":true}'):  # (headers and body may come apart)
            first += sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        time.sleep(0.5)  # idle between requests: not part of the next one's deadline
        start = time.monotonic()
        sock.sendall(b"GET /json HTTP/1.1\r\nHost:")
        ((raw, when),) = read_until_closed([sock], start + 3).values()
    finally:
        sock.close()
    assert 0.9 <= when - start <= 1.0 + 1.5, when - start
    assert_error(raw, 408, "request_timeout", "invalid_request_error")


# -- the header size cap ----------------------------------------------------------------------

SMALL_HEADERS = ConnectionLimits(max_header_bytes=8192, header_timeout=5.0)


@pytest.mark.parametrize("guarded", [SMALL_HEADERS], indirect=True)
@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /json HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10_000 + b"\r\n\r\n",
        b"GET /json HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10_000,  # never terminated
        b"GET /json?q=" + b"q" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /json HTTP/1.1\r\n" + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 90) for i in range(100)),
    ],
    ids=["one-big-header", "unterminated-header", "long-url", "many-headers"],
)
def test_oversized_headers_get_431(guarded: LiveServer, request_bytes: bytes) -> None:
    assert get(guarded.port, "/json", {"X-Fits": "a" * 6000})[0] == 200  # under the cap: served
    sock = connect(guarded.port)
    try:
        sock.sendall(request_bytes)
        closed = read_until_closed([sock], time.monotonic() + 3)
    finally:
        sock.close()
    assert len(closed) == 1, "the server did not close the connection"
    ((raw, _),) = closed.values()
    assert_error(raw, 431, "headers_too_large", "invalid_request_error")


# -- the connection cap -----------------------------------------------------------------------

FEW_CONNECTIONS = ConnectionLimits(max_connections=50, header_timeout=10, keep_alive_timeout=30)


@pytest.mark.parametrize("guarded", [FEW_CONNECTIONS], indirect=True)
def test_a_connection_flood_gets_429_and_service_resumes(guarded: LiveServer) -> None:
    assert guarded.server.max_connections == 50  # (the fd limit did not lower it)
    held = []
    for _ in range(50):  # complete requests, then idle on keep-alive
        conn = http.client.HTTPConnection("127.0.0.1", guarded.port, timeout=5)
        conn.request("GET", "/json")
        response = conn.getresponse()
        assert response.status == 200 and response.read()
        held.append(conn)
    wait_for(lambda: connections(guarded) == 50, 2, "50 keep-alive connections held")

    extra = [connect(guarded.port) for _ in range(10)]
    for sock in extra:
        sock.sendall(b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n")
    closed = read_until_closed(extra, time.monotonic() + 3)
    assert len(closed) == 10
    for raw, _ in closed.values():
        headers = assert_error(raw, 429, "too_many_connections", "rate_limit_error")
        assert headers["retry-after"] == "1"
    for sock in extra:
        sock.close()
    assert connections(guarded) == 50  # refused connections never counted

    for conn in held[:10]:
        conn.close()
    wait_for(lambda: connections(guarded) <= 40, 2, "closed keep-alive connections released")
    assert get(guarded.port, "/json")[0] == 200
    for conn in held[10:]:
        conn.close()


# -- the send watchdog ------------------------------------------------------------------------


def test_a_client_that_stops_reading_is_disconnected(
    guarded: LiveServer, state: StreamState
) -> None:
    send_timeout = 1.0
    request = b"GET /sse?size=1024 HTTP/1.1\r\nHost: x\r\n\r\n"
    stalled = connect(guarded.port, rcvbuf=4096)
    slow = connect(guarded.port, rcvbuf=4096)
    stop = threading.Event()
    slow_got = [0]

    def read_slowly() -> None:  # 40 kB/s: slow, but always taking bytes
        while not stop.is_set():
            try:
                data = slow.recv(4096)
            except OSError:
                return
            if not data:
                return
            slow_got[0] += len(data)
            time.sleep(0.1)

    reader = threading.Thread(target=read_slowly, daemon=True)
    try:
        start = time.monotonic()
        stalled.sendall(request)
        slow.sendall(request)
        reader.start()
        wait_for(lambda: state.cancelled >= 1, send_timeout + 3, "the stalled stream cancelled")
        elapsed = time.monotonic() - start
        assert send_timeout <= elapsed <= send_timeout + 2.0, elapsed
        # The app saw the disconnect (its stream was cancelled), the slow reader kept its stream
        # although its buffers were never empty, and the server is still responsive.
        status, body = get(guarded.port, "/state")
        assert status == 200
        seen = json.loads(body)
        assert (seen["started"], seen["cancelled"], seen["active"]) == (2, 1, 1), seen
        wait_for(lambda: connections(guarded) == 1, 2, "only the slow reader left")
        stalled.settimeout(2)
        with pytest.raises(ConnectionResetError):  # reset, not a FIN after megabytes
            read_to_end(stalled)
        before = slow_got[0]
        time.sleep(send_timeout)  # the slow reader outlives another full send_timeout
        assert state.cancelled == 1 and reader.is_alive() and slow_got[0] - before > 10_000
    finally:
        stop.set()
        slow.close()
        stalled.close()
        reader.join(timeout=2)
    wait_for(lambda: connections(guarded) == 0, 2, "the slow reader's connection released")
    wait_for(lambda: state.active == 0, 2, "the slow reader's stream ended with its client")


# -- shutdown ---------------------------------------------------------------------------------


def start_process(tmp_path: Path) -> tuple[subprocess.Popen[str], int]:
    portfile = tmp_path / "port"
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), str(portfile)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 10
    while not portfile.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("the server did not start: " + proc.communicate()[1][-2000:])
        time.sleep(0.02)
    return proc, int(portfile.read_text())


def stop_process(proc: subprocess.Popen[str], within: float) -> tuple[float, str]:
    """SIGTERM, then how long until it exited (its status must be 0) and its log."""
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        _, log = proc.communicate(timeout=within)
    except subprocess.TimeoutExpired:
        proc.kill()
        log = proc.communicate()[1]
        raise AssertionError(f"still running {within} s after SIGTERM:\n{log[-3000:]}") from None
    assert proc.returncode == 0, f"exit status {proc.returncode}:\n{log[-3000:]}"
    return time.monotonic() - start, log


def test_sigterm_on_an_idle_server_exits_0_at_once(tmp_path: Path) -> None:
    proc, port = start_process(tmp_path)
    assert get(port, "/json")[0] == 200
    elapsed, _ = stop_process(proc, within=2.0 + 3)
    assert elapsed < 2.0


def test_sigterm_with_a_stalled_client_drains_then_exits_0(tmp_path: Path) -> None:
    """shutdown_timeout is 2 s: the reading client's stream ends during the drain (with the
    app's end frame); the stalled one holds the drain to its deadline, then is dropped at once
    (not after the app's 2 s wait for end frames plus the flush grace); new connections are
    refused from the start."""
    proc, port = start_process(tmp_path)
    stalled = connect(port, rcvbuf=4096)
    reader = connect(port)
    try:
        stalled.sendall(b"GET /sse?size=1024 HTTP/1.1\r\nHost: x\r\n\r\n")
        reader.sendall(b"GET /sse?interval=0.02 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert reader.recv(65536).startswith(b"HTTP/1.1 200")
        time.sleep(0.5)  # the stalled stream fills every buffer on the way
        outcome: dict[str, Any] = {}

        def terminate() -> None:
            outcome["elapsed"], outcome["log"] = stop_process(proc, within=2.0 + 3)

        sigterm = threading.Thread(target=terminate)
        sigterm.start()
        time.sleep(0.5)
        with pytest.raises(ConnectionRefusedError):
            connect(port)
        ((raw, _),) = read_until_closed([reader], time.monotonic() + 3).values()
        sigterm.join()
    finally:
        if proc.poll() is None:
            proc.kill()
        stalled.close()
        reader.close()
    assert raw.endswith(b"event: end\ndata: shutdown\n\n\r\n0\r\n\r\n"), raw[-200:]
    assert outcome, "stop_process failed (see the thread's exception above)"
    assert 2.0 <= outcome["elapsed"] <= 2.0 + 2, outcome["elapsed"]
    assert "accepted no bytes for 1 s: disconnected" in outcome["log"]
    final = json.loads(outcome["log"].split("final state ")[1].splitlines()[0])
    assert (final["started"], final["active"]) == (2, 0), final  # both streams ended


def test_a_second_sigterm_forces_the_shutdown(tmp_path: Path) -> None:
    """The stalled stream would hold the drain for 2 s; a second signal cuts it short."""
    proc, port = start_process(tmp_path)
    stalled = connect(port, rcvbuf=4096)
    try:
        stalled.sendall(b"GET /sse?size=1024 HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        elapsed, _ = stop_process(proc, within=2.0 + 3)
    finally:
        if proc.poll() is None:
            proc.kill()
        stalled.close()
    assert elapsed < 1.0, elapsed


# -- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize("field", [f for f in ConnectionLimits.__dataclass_fields__])
@pytest.mark.parametrize("bad", [0, -1, float("nan"), "3"])
def test_limits_must_be_positive_numbers(field: str, bad: Any) -> None:
    with pytest.raises(ValueError, match=f"ConnectionLimits.{field} must be"):
        ConnectionLimits(**{field: bad})


def test_limits_reject_a_fractional_count() -> None:
    with pytest.raises(ValueError, match="max_connections must be an integer"):
        ConnectionLimits(max_connections=10.5)  # type: ignore[arg-type]


def test_the_connection_cap_fits_the_fd_limit() -> None:
    """The soft fd limit is raised towards the hard one, and the cap clamped below what the
    hard one allows (with a warning), in a child process so the test's own limit is untouched."""
    code = """if True:
        import logging, resource
        from masai.server._serve import ConnectionLimits, MasaiServer
        logging.basicConfig(level=logging.WARNING)
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 4096))
        fits = MasaiServer(None, limits=ConnectionLimits(max_connections=1000)).max_connections
        raised = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
        capped = MasaiServer(None, limits=ConnectionLimits(max_connections=1000)).max_connections
        print(fits, raised, capped)
    """
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["1000", "2064", str((256 - 64) // 2)]
    assert "max_connections lowered from 1000 to 96" in done.stderr


def test_servers_do_not_share_limits() -> None:
    one = MasaiServer(None, limits=ConnectionLimits(max_connections=7))
    two = MasaiServer(None, limits=ConnectionLimits(max_connections=9))
    assert one.config.http.max_connections == 7 and two.config.http.max_connections == 9
