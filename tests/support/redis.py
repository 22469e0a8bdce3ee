"""A private ``redis-server`` for tests: real Redis, on a free loopback port, nothing saved.

``RedisServer`` can be stopped and started again on the same port (outage tests). Fixtures:
``redis_server`` (one server per test module) and ``redis_url``; import both into a test module
(``from tests.support.redis import redis_server, redis_url  # noqa: F401``).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

__all__ = ("RedisServer", "redis_server", "redis_url")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """One ``redis-server`` process (no persistence) on ``127.0.0.1:port``."""

    def __init__(self, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(
                "redis-server is not installed; the Redis tests need it "
                "(Debian/Ubuntu: apt-get install redis-server)"
            )
        self.binary = binary
        self.port = port or _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, within: float = 10.0) -> None:
        """Start it (again, on the same port) and wait until it answers PING."""
        if self._process is not None:
            return
        self._process = subprocess.Popen(
            [
                self.binary,
                *("--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no"),
                *("--protected-mode", "no", "--loglevel", "warning"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + within
        while not self._answers():
            if self._process.poll() is not None:
                error = self._process.stderr.read().decode() if self._process.stderr else ""
                self._process = None
                raise RuntimeError(f"redis-server exited at start: {error}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("redis-server did not answer PING in time")
            time.sleep(0.02)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop it (terminate, then kill if it lingers); its data is gone."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        if process.stderr is not None:
            process.stderr.close()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The module's server, running (a test that stopped it gets it started again)."""
    redis_server.start()
    return redis_server.url
