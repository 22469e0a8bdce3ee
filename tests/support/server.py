"""A real server (``MasaiServer``, so the tests see the production connection guards) on
127.0.0.1 and an ephemeral port, in a thread of the test process (so tests can also look at
server-side state)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from masai.server._serve import ConnectionLimits, MasaiServer


class LiveServer:
    def __init__(
        self,
        app: Any,
        limits: ConnectionLimits | None = None,
        drain: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.app = app
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = MasaiServer(
            app,
            limits=limits or ConnectionLimits(),
            drain=drain,
            log_level="warning",
        )
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="uvicorn", daemon=True)

    def _run(self) -> None:
        # The production loop (uvloop when installed), as under ``masai serve``.
        factory = self.server.config.get_loop_factory() or asyncio.new_event_loop
        loop = factory()
        self.loop = loop
        asyncio.set_event_loop(loop)
        loop.run_until_complete(self.server.serve(sockets=[self.sock]))
        loop.close()

    def start(self) -> None:
        self._thread.start()
        for _ in range(500):
            if self.server.started:
                return
            if not self._thread.is_alive():
                raise RuntimeError("uvicorn failed to start")
            threading.Event().wait(0.01)
        raise RuntimeError("uvicorn did not start in 5 s")

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)
        self.sock.close()

    def call(self, fn: Any) -> Any:
        """Run a sync function on the server's loop thread and return its result."""
        assert self.loop is not None
        done: Any = asyncio.run_coroutine_threadsafe(_call(fn), self.loop)
        return done.result(timeout=5)


async def _call(fn: Any) -> Any:
    return fn()


@contextlib.contextmanager
def live_server(
    app: Any,
    limits: ConnectionLimits | None = None,
    drain: Callable[[float], Awaitable[None]] | None = None,
) -> Iterator[LiveServer]:
    server = LiveServer(app, limits=limits, drain=drain)
    server.start()
    try:
        yield server
    finally:
        server.stop()
