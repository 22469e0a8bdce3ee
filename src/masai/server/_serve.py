"""The HTTP server under ``masai serve``: uvicorn, hardened against clients that never finish.

Stock uvicorn trusts its clients: a new connection's first request has no deadline, connections
are unbounded, a write to a client that stopped reading waits forever, and shutdown waits for
every connection (then re-raises the signal). Any of these lets a few hundred sockets take the
server down, so here: request headers must arrive within ``header_timeout`` and
``max_header_bytes``; past ``max_connections`` a new connection gets a 429; a periodic watchdog
drops a client that takes no bytes for ``send_timeout`` (uvicorn then reports
``http.disconnect`` and the app cancels the run); shutdown is bounded and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
import math
import signal
import socket
import struct
import threading
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, fields
from types import FrameType
from typing import Any, ClassVar, cast

import orjson
import uvicorn
from uvicorn.config import LOGGING_CONFIG
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ._access import refused

__all__ = ("ConnectionLimits", "MasaiServer")

logger = logging.getLogger("masai.server")

#: Seconds a refused connection keeps reading (discarding) after its error response: closing a
#: socket with unread request bytes sends an RST, which can destroy the response unread.
_LINGER = 1.0
#: At shutdown, after the drain: how long responses get to reach their clients before the
#: connections still open (clients that stopped reading) are dropped.
_FLUSH_GRACE = 1.0
#: A drain that overruns its deadline by this much is abandoned: shutdown must stay bounded
#: (the app's drain needs a moment past the deadline for its streams' end frames).
_DRAIN_SLACK = 3.0
#: Past the drain's deadline, a client that takes no bytes for this long is dropped: its
#: stream cannot write its end frame anyway, and the drain would wait for it.
_SHUTDOWN_SEND_TIMEOUT = 1.0
#: uvicorn's graceful-shutdown wait, reached once every connection is gone: a backstop for app
#: tasks that ignore the disconnect.
_BACKSTOP = 2
_TOO_MANY = ("too_many_connections", "rate_limit_error", "too many open connections; retry soon")
#: Linux's ``struct tcp_info`` and the offset of its ``tcpi_bytes_acked`` (since Linux 4.1).
_TCP_INFO: int | None = getattr(socket, "TCP_INFO", None)
_ACKED_AT = 120
#: File descriptors kept for everything that is not a client connection (listeners, logs, files).
_FD_RESERVE = 64
#: A client connection may drive one outbound connection (to a model provider) of its own.
_FDS_PER_CONNECTION = 2


@dataclass(frozen=True)
class ConnectionLimits:
    """What client connections may cost the server, and how long shutdown may take. The defaults
    are generous for real clients and still keep thousands of abusive ones from exhausting file
    descriptors or memory."""

    #: Seconds from a connection's start (or from the first byte of a later keep-alive request)
    #: until its request headers are complete. A total, not an idle timeout, so a client trickling
    #: one byte at a time is cut off too.
    header_timeout: float = 30.0
    #: The request line and headers together; more is answered with 431.
    max_header_bytes: int = 65536
    #: Open client connections; one more is answered with 429 (clamped below the fd limit).
    max_connections: int = 4096
    #: Seconds a client may accept no bytes while a response waits for it before it is dropped.
    send_timeout: float = 60.0
    #: Seconds an idle keep-alive connection stays open between requests.
    keep_alive_timeout: float = 5.0
    #: Seconds the app's drain gets at shutdown to let runs finish (then it cancels them).
    shutdown_timeout: float = 30.0

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            wants_int = field.type == "int"
            kind = int if wants_int else (int, float)
            if isinstance(value, bool) or not isinstance(value, kind):
                noun = "an integer" if wants_int else "a number"
                raise ValueError(f"ConnectionLimits.{field.name} must be {noun}, got {value!r}")
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"ConnectionLimits.{field.name} must be positive, got {value!r}")


def _error_response(status: int, code: str, kind: str, message: str, *extra: bytes) -> bytes:
    """A complete ``Connection: close`` response with the project's JSON error body."""
    body = orjson.dumps({"error": {"message": message, "type": kind, "code": code}})
    head = [
        f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}".encode(),
        b"content-type: application/json",
        b"content-length: " + str(len(body)).encode(),
        b"connection: close",
        *extra,
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def _bytes_acked(sock: Any) -> int | None:
    """Bytes the peer has acknowledged on this TCP socket (None where unknown): what tells a slow
    reader from a stalled one. Bytes handed to the kernel do not: once its send buffer is full,
    it takes more only after the client drained a third of it, for a slow reader minutes."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _ACKED_AT + 8)
    except (OSError, AttributeError, TypeError):  # (not Linux, or not TCP)
        return None
    return int(struct.unpack_from("Q", info, _ACKED_AT)[0]) if len(info) >= _ACKED_AT + 8 else None


class _GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header deadline, a header size cap, a connection cap
    and the per-connection state of the send watchdog. ``limits`` and ``max_connections`` are
    set on a subclass made per server (see ``_protocol_for``), never globally."""

    limits: ClassVar[ConnectionLimits]
    max_connections: ClassVar[int]
    #: Last time (loop clock) this server warned that it is full; mutable, so kept in a list.
    full_warned_at: ClassVar[list[float]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sock: Any = None  # the transport's socket, fetched when first needed
        self._header_timer: asyncio.TimerHandle | None = None
        self._linger: asyncio.TimerHandle | None = None
        self._rejected = False
        self._partial = False  # some of the awaited request has arrived
        self._raw_bytes = 0  # bytes received while awaiting headers
        self._exact_bytes = 0  # request line + header bytes the parser reported
        self._progress = 0  # the client's progress (see send_stalled) when last seen to move
        self._stalled_since: float | None = None

    # -- connection lifecycle ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.max_connections:
            self.transport = transport
            if self.loop.time() - self.full_warned_at[0] >= 10.0:  # (a flood must not flood logs)
                self.full_warned_at[0] = self.loop.time()
                logger.warning("%d connections open: answering 429", len(self.connections))
            self._reject(429, *_TOO_MANY, b"retry-after: 1")
            return
        super().connection_made(transport)
        self._header_timer = self.loop.call_later(
            self.limits.header_timeout, self._header_deadline_passed
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        if self._linger is not None:
            self._linger.cancel()
        super().connection_lost(exc)

    def _reject(self, status: int, code: str, kind: str, message: str, *extra: bytes) -> None:
        """Answer with a JSON error and hang up: the response leaves with a FIN, and reading goes
        on (discarding) until the client closes or ``_LINGER`` passes, so the kernel does not
        turn unread request bytes into an RST that would destroy the response."""
        self._rejected = True
        self._cancel_header_timer()
        refused(status)  # (its access-log line: the app never saw it)
        transport = self.transport
        if transport.is_closing():
            return
        transport.write(_error_response(status, code, kind, message, *extra))
        if not transport.can_write_eof():  # (TLS) close() still flushes the response first
            transport.close()
            return
        transport.write_eof()
        self._linger = self.loop.call_later(_LINGER, transport.abort)

    # -- the header deadline and size cap ---------------------------------------------------

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_deadline_passed(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        logger.debug("%s: request headers not complete in time", self.peer())
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined request stalled behind a response still streaming: a 408 now would
            # land in the middle of that response, so just drop the connection.
            self.transport.abort()
        elif self._partial:
            message = f"request headers not received within {self.limits.header_timeout:g} s"
            self._reject(408, "request_timeout", "invalid_request_error", message)
        else:
            self.transport.close()  # nothing was sent and nothing is buffered: just hang up

    def _count_header_bytes(self, n: int) -> bool:
        """Add ``n`` parsed header bytes; reject the request (431) and say so if over the cap."""
        self._exact_bytes += n
        if self._exact_bytes <= self.limits.max_header_bytes:
            return False
        self._reject_oversized()
        return True

    def _reject_oversized(self) -> None:
        message = f"request line and headers over {self.limits.max_header_bytes} bytes"
        self._reject(431, "headers_too_large", "invalid_request_error", message)

    def data_received(self, data: bytes) -> None:
        if self._rejected:
            return  # lingering after an error response: discard
        if self._header_timer is not None:
            self._partial = True
            self._raw_bytes += len(data)
        super().data_received(data)
        # The parser only reports a header once it is complete, so one endless header line is
        # caught here, by the raw count of a request whose headers are still unfinished.
        if (
            not self._rejected
            and self._header_timer is not None
            and self._raw_bytes > self.limits.max_header_bytes
        ):
            self._reject_oversized()

    # The parser callbacks below run inside ``feed_data``; after a rejection the rest of the
    # chunk is still parsed, so each one must then do nothing (above all, start no app).

    def on_message_begin(self) -> None:
        if self._rejected:
            return
        if self._header_timer is None:  # a later request on a keep-alive connection
            self._partial = True
            self._raw_bytes = 0
            self._header_timer = self.loop.call_later(
                self.limits.header_timeout, self._header_deadline_passed
            )
        self._exact_bytes = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        if not self._rejected and not self._count_header_bytes(len(url)):
            super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._rejected and not self._count_header_bytes(len(name) + len(value) + 4):
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._rejected:
            return
        self._cancel_header_timer()
        self._raw_bytes = self._exact_bytes = 0
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._rejected:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._rejected:
            super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        if not self._rejected:
            super().handle_websocket_upgrade()

    # -- the send watchdog's view of this connection ----------------------------------------

    def send_stalled(self, now: float, timeout: float) -> bool:
        """Whether bytes have waited in our write buffer for ``timeout`` s while the client
        took none: checked by the server's periodic sweep, so writes cost nothing extra. Progress
        is the acknowledged byte count, or where unknown any change in our buffer (while it is
        full, the app is blocked on flow control and only the client can change it)."""
        buffered = self.transport.get_write_buffer_size()
        if buffered == 0:
            self._stalled_since = None
            return False
        if self._sock is None:
            self._sock = self.transport.get_extra_info("socket")
        acked = _bytes_acked(self._sock)
        progress = -buffered if acked is None else acked
        if self._stalled_since is None or progress != self._progress:
            self._progress, self._stalled_since = progress, now
            return False
        return now - self._stalled_since >= timeout

    def reset(self) -> None:
        """Drop the connection now, with an RST: a plain abort leaves the unsent bytes to the
        kernel, which keeps offering them to a client that takes none for minutes."""
        sock = self._sock if self._sock is not None else self.transport.get_extra_info("socket")
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()  # uvicorn reports the disconnect to the app

    def peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "client"


def _protocol_for(limits: ConnectionLimits, max_connections: int) -> type[_GuardedProtocol]:
    """A protocol class carrying one server's limits (uvicorn instantiates it per connection and
    passes it only its config, so the limits must travel on the class)."""
    return type(
        "GuardedHttpToolsProtocol",
        (_GuardedProtocol,),
        {"limits": limits, "max_connections": max_connections, "full_warned_at": [-math.inf]},
    )


def _fit_connection_cap(wanted: int) -> int:
    """Raise the soft fd limit towards what ``wanted`` connections need, and return the number of
    connections the limit really allows: past it, ``accept`` fails and even the 429 is lost."""
    try:
        import resource
    except ImportError:  # (Windows: no rlimits to fit)
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = wanted * _FDS_PER_CONNECTION + _FD_RESERVE
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            logger.debug("raised the soft fd limit from %d to %d", soft, target)
            soft = target
        except (ValueError, OSError) as exc:
            logger.debug("could not raise the soft fd limit from %d: %s", soft, exc)
    if soft == resource.RLIM_INFINITY:
        return wanted
    fits = max(1, (soft - _FD_RESERVE) // _FDS_PER_CONNECTION)
    if fits < wanted:
        logger.warning("fd limit %d: max_connections lowered from %d to %d", soft, wanted, fits)
        return fits
    return wanted


class MasaiServer(uvicorn.Server):
    """uvicorn's server with ``ConnectionLimits`` enforced, a send watchdog and a bounded
    shutdown: stop accepting, ``drain`` the app, a short grace for writes, abort what is still
    open. SIGTERM/SIGINT start it, a second signal forces it, and ``run()`` returns normally."""

    def __init__(
        self,
        app: Any,
        *,
        limits: ConnectionLimits = ConnectionLimits(),  # (frozen, so safe to share)
        drain: Callable[[float], Awaitable[None]] | None = None,
        on_started: Callable[[], None] | None = None,
        log_level: str = "info",
        log_config: dict[str, Any] | None = LOGGING_CONFIG,
    ) -> None:
        self.limits = limits
        #: The connection cap in force: ``limits.max_connections``, or less if the fd limit is.
        self.max_connections = _fit_connection_cap(limits.max_connections)
        config = uvicorn.Config(
            app,
            http=_protocol_for(limits, self.max_connections),
            log_level=log_level,
            log_config=log_config,  # (None: logging is already set up, see _access)
            access_log=False,  # (the app logs each request: _access.AccessLog)
            lifespan="on",
            timeout_keep_alive=cast(int, limits.keep_alive_timeout),  # (call_later takes floats)
            timeout_graceful_shutdown=_BACKSTOP,
        )
        super().__init__(config)
        self._drain = drain
        self._on_started = on_started
        self._sweeper: asyncio.TimerHandle | None = None
        self._send_timeout = limits.send_timeout  # (shortened past the drain's deadline)

    @property
    def connection_count(self) -> int:
        """Client connections open now (refused ones, answered with 429, are not counted)."""
        return len(self.server_state.connections)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.started:
            return
        self._schedule_sweep(asyncio.get_running_loop())
        if self._on_started is not None:
            self._on_started()

    # -- the send watchdog ------------------------------------------------------------------

    def _schedule_sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        every = min(1.0, self._send_timeout / 4)
        self._sweeper = loop.call_later(every, self._sweep, loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        """One pass over the live connections, dropping those that stopped taking bytes (not with
        ``close``, which would wait for the very buffer the client does not drain)."""
        now = loop.time()
        for conn in list(self.server_state.connections):
            if isinstance(conn, _GuardedProtocol) and conn.send_stalled(now, self._send_timeout):
                timeout = self._send_timeout
                logger.info("%s accepted no bytes for %g s: disconnected", conn.peer(), timeout)
                conn.reset()
        self._schedule_sweep(loop)

    # -- signals and shutdown ---------------------------------------------------------------

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        """Like uvicorn's, minus re-raising the signal afterwards: a server that shut down as
        asked has succeeded, so the process should exit 0, not die of SIGTERM."""
        if threading.current_thread() is not threading.main_thread():
            yield  # signal handlers can only be installed from the main thread
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit:
            self.force_exit = True
        else:
            self.should_exit = True

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        logger.info("shutting down: no new connections")
        for server in getattr(self, "servers", ()):
            server.close()
        for sock in sockets or ():
            sock.close()  # the loop may listen on a duplicate; this one must stop too
        for conn in list(self.server_state.connections):
            conn.shutdown()  # idle ones close now, busy ones after their response
        if self._drain is not None and not self.force_exit:
            budget = self.limits.shutdown_timeout
            drain = asyncio.ensure_future(self._drain(budget))
            await self._wait(drain.done, budget)
            if not drain.done() and self._send_timeout > _SHUTDOWN_SEND_TIMEOUT:
                self._send_timeout = _SHUTDOWN_SEND_TIMEOUT
                self._schedule_sweep(asyncio.get_running_loop())
            await self._wait(drain.done, _DRAIN_SLACK)
            if not drain.done():
                overrun = budget + _DRAIN_SLACK
                logger.warning("the drain did not finish in %g s: going on without it", overrun)
                drain.cancel()
            elif not drain.cancelled() and drain.exception() is not None:
                logger.error("the drain failed", exc_info=drain.exception())
        await self._wait(lambda: not self.server_state.connections, _FLUSH_GRACE)
        still_open = list(self.server_state.connections)
        if still_open:
            logger.info("shutdown: dropping %d connection(s) still open", len(still_open))
        for conn in still_open:
            if isinstance(conn, _GuardedProtocol):
                conn.reset()
            else:
                conn.transport.abort()  # (a websocket)
        if self._sweeper is not None:
            self._sweeper.cancel()
        await super().shutdown(sockets=sockets)

    async def _wait(self, done: Callable[[], bool], seconds: float) -> None:
        """Until ``done()``, ``seconds`` pass or a second signal forces the shutdown."""
        deadline = asyncio.get_running_loop().time() + seconds
        while not done() and not self.force_exit:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return
            await asyncio.sleep(min(0.05, left))
