"""Sinks: where a run's events go.

A sink is bound to a Context (see ``_context``); the emit functions look it up, build the event
with the current scope and hand it over. Two kinds exist: the bounded stream a handler reads
(``masai.streaming.EventStream``) and ``CallbackSink``, behind ``set_streaming_callback``.

A sink numbers what it accepts (``seq``) and keeps the stream-wide identity every chunk shares
(one ``chatcmpl-`` id, one ``created``), so those live here and not on the handler.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import inspect
import logging
import secrets
import threading
import time
import weakref
from collections.abc import Callable, Container, Iterable
from contextvars import Token
from typing import TYPE_CHECKING, Any

from ._context import Scope, call_scope, current_scope

if TYPE_CHECKING:
    from .events import StreamingEvent

__all__ = ("CallbackSink", "Sink", "new_tool_call_id", "run_ended", "run_started", "unbound_emit")

logger = logging.getLogger("masai.events")


def new_tool_call_id() -> str:
    return f"call_{secrets.token_hex(12)}"


class Sink:
    """Base: identity, numbering, filtering, and pairing of tool calls with their outputs."""

    __slots__ = (
        "__weakref__",
        "_call_scope",
        "_open_calls",
        "_seq",
        "_tool_index",
        "accepts",
        "chunk_id",
        "counted_usage",
        "created",
        "identity",
        "offer",
        "run_id",
        "session_id",
        "takes_custom",
    )

    def __init__(
        self,
        *,
        accepts: Container[str] | None = None,
        run_id: str | None = None,
        session_id: str | None = None,
        created: int | None = None,
    ) -> None:
        self.run_id = run_id or secrets.token_hex(16)  # (uuid4's randomness, without the object)
        #: The conversation this run belongs to, when a server gave it one.
        self.session_id = session_id
        #: What every event's metadata starts with (before ``seq``).
        self.identity: dict[str, Any] = {"run_id": self.run_id}
        if session_id is not None:
            self.identity["session_id"] = session_id
        self.chunk_id = f"chatcmpl-{self.run_id}"
        self.created = int(time.time()) if created is None else created
        #: Event types this sink takes; ``None`` takes all. Checked before an event is built.
        self.accepts = accepts
        #: The same question for the most frequent event type, answered once.
        self.takes_custom = accepts is None or "custom" in accepts
        #: Take the event now if that needs no waiting (the emit fast path); else False and
        #: the caller awaits ``send``. An attribute, so a subclass can bind its buffer's own.
        self.offer: Callable[[StreamingEvent], bool] = _refuse
        self._seq = 0
        self._tool_index = 0
        #: Tokens of the model calls reported to this sink (``usage`` events), as
        #: ``[prompt, completion]``; ``None`` until one is.
        self.counted_usage: list[int] | None = None
        self._open_calls: dict[str, list[str]] = {}
        #: ``attributed_scope``'s last answer: (the scope asked about, the call, its answer).
        self._call_scope: tuple[Scope, str, Scope] | None = None

    # -- numbering -------------------------------------------------------------------------
    @property
    def next_seq(self) -> int:
        """The ``seq`` the next accepted event gets (= how many were numbered)."""
        return self._seq

    def start_at(self, seq: int) -> None:
        """Number from ``seq`` on: a run taken over by another worker continues its log."""
        self._seq = seq

    def stamp(self, event: StreamingEvent) -> StreamingEvent:
        """Number an event at the moment its position in the stream is final."""
        self.number((event,))
        return event

    def number(self, events: Iterable[StreamingEvent]) -> None:
        """``stamp`` for a batch in delivery order: one call, whatever its size."""
        seq = self._seq
        for event in events:
            event._seq = seq
            event._sink = self
            if event._md is not None:
                event._md["seq"] = seq
            if event.event_type == "tool_call":
                event._tool_index = self._tool_index
                self._tool_index += 1
            seq += 1
        self._seq = seq

    # -- tool-call pairing for code that emits calls and outputs by hand ---------------------
    def open_call(self, tool_name: str, call_id: str) -> None:
        self._open_calls.setdefault(tool_name, []).append(call_id)

    def close_call(self, tool_name: str, call_id: str | None = None) -> str | None:
        ids = self._open_calls.get(tool_name)
        if not ids:
            return call_id
        if call_id is None:
            call_id = ids.pop(0)
        elif call_id in ids:
            ids.remove(call_id)
        if not ids:
            del self._open_calls[tool_name]
        return call_id

    def sole_open_call(self) -> str | None:
        """The id of the only tool call in flight, so a bare ``emit_custom_event`` inside it is
        attributed; ambiguous (parallel) calls attribute nothing rather than guess."""
        if len(self._open_calls) == 1:
            (ids,) = self._open_calls.values()
            if len(ids) == 1:
                return ids[0]
        return None

    def attributed_scope(self, scope: Scope) -> Scope:
        """``scope`` inside the sole open call (``sole_open_call``), or ``scope`` itself when
        none or several are open: the scope of progress emitted by hand from a context that
        did not open the call. The last answer is kept (progress comes in bursts)."""
        if len(self._open_calls) != 1:
            return scope
        ((tool_name, ids),) = self._open_calls.items()
        if len(ids) != 1:
            return scope
        cached = self._call_scope
        if cached is None or cached[0] is not scope or cached[1] != ids[0]:
            cached = self._call_scope = (scope, ids[0], call_scope(scope, tool_name, ids[0]))
        return cached[2]

    # -- delivery ----------------------------------------------------------------------------
    async def send(self, event: StreamingEvent) -> None:
        raise NotImplementedError

    def send_sync(self, event: StreamingEvent) -> None:
        raise NotImplementedError

    async def __call__(self, event: StreamingEvent) -> None:
        """Deliver an event someone built by hand (``get_streaming_callback()(event)``)."""
        if self.accepts is not None and event.event_type not in self.accepts:
            return
        adopt(self, event)
        await self.send(event)


def _refuse(event: StreamingEvent) -> bool:
    return False


def adopt(sink: Sink, event: StreamingEvent) -> None:
    """Give a hand-built event the metadata every event carries."""
    scope = current_scope()
    event._sink = sink
    md = event.metadata
    md.update(sink.identity)
    md.setdefault("seq", None)
    if md.get("agent") is None:
        md["agent"] = scope.agent
    if md.get("node") is None:
        md["node"] = scope.node
    md.setdefault("agent_path", list(scope.agent_path))
    if scope.tool_call_id and "tool_call_id" not in md:
        md["tool_call_id"] = scope.tool_call_id


Callback = Callable[["StreamingEvent"], Any]


class CallbackSink(Sink):
    """Calls a user callback (sync or async) for each event, in order, from any thread."""

    __slots__ = ("_lock", "_loop_thread", "callback", "loop", "previous", "token")

    def __init__(self, callback: Callback, previous: Sink | None) -> None:
        # A callback may say which event types it wants (``handler._event_callback`` does), so
        # rejected events are never numbered: ``seq`` stays gap-free for what it receives.
        super().__init__(accepts=getattr(callback, "accepts", None))
        self.callback = callback
        self.previous = previous
        self.token: Token[Sink | None] | None = None
        self._lock = asyncio.Lock()
        try:
            self.loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
            self._loop_thread: int | None = threading.get_ident()
        except RuntimeError:
            self.loop = None
            self._loop_thread = None

    async def send(self, event: StreamingEvent) -> None:
        # Numbering and delivery happen under one lock so that a callback which waits (a full
        # bounded queue) cannot let a later event overtake an earlier-numbered one.
        async with self._lock:
            self.stamp(event)
            result = self.callback(event)
            if inspect.isawaitable(result):
                await result

    def send_sync(self, event: StreamingEvent) -> None:
        loop = self.loop
        if loop is None or loop.is_closed() or threading.get_ident() == self._loop_thread:
            # No loop to hop to, or we are on it and must not block it.
            self.stamp(event)
            result = self.callback(event)
            if inspect.isawaitable(result):
                if loop is not None and loop.is_running():
                    loop.create_task(_await(result))
                else:
                    asyncio.run(_await(result))
            return
        # Deliver on the loop, in the emitting thread's context (the callback may look up
        # context-local state), and wait: order and back-pressure hold across threads.
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        ctx = contextvars.copy_context()

        def start() -> None:
            task = loop.create_task(self.send(event), context=ctx)
            task.add_done_callback(lambda t: _settle(t, done))

        loop.call_soon_threadsafe(start)
        done.result()


async def _await(awaitable: Any) -> None:
    await awaitable


def _settle(task: asyncio.Task[None], done: concurrent.futures.Future[None]) -> None:
    if task.cancelled():
        done.cancel()
    elif (exc := task.exception()) is not None:
        done.set_exception(exc)
    else:
        done.set_result(None)


# -- runs in progress, for one warning ------------------------------------------------------
#
# The one piece of process-wide mutable state in the event core, on purpose: a sync emit from a
# thread whose context holds no run (a bare ``threading.Thread`` started by a tool) cannot
# know which run it belongs to, only that some run is going on, and that is what makes its
# silently dropped events worth a warning (a library emitting with no stream at all is normal).
# So this counts the runs whose stream (``EventStream``) is live in this process, and notes the
# threads already warned about, weakly (a dead thread's entry goes with it). Nothing reads it
# on any other path.

_live_runs = 0
_live_lock = threading.Lock()
_warned: weakref.WeakSet[threading.Thread] = weakref.WeakSet()


def run_started() -> None:
    """A run's stream was bound (its task created)."""
    global _live_runs
    with _live_lock:
        _live_runs += 1


def run_ended() -> None:
    """That run's task ended."""
    global _live_runs
    with _live_lock:
        _live_runs -= 1


def unbound_emit(function: str) -> None:
    """``function`` (an ``emit_*_sync``) found no run in its context: if runs are going on and
    this is a thread that started with nothing of a run's context (so no scope either, and no
    event loop of its own), say once per thread how to fix it."""
    if not _live_runs:
        return
    thread = threading.current_thread()
    scope = current_scope()
    if thread is threading.main_thread() or scope.agent is not None or scope.agent_path:
        return  # (a thread of an agent's run that is not streamed has its scope)
    try:
        asyncio.get_running_loop()
        return  # (sync code on an event loop: not a thread a tool started)
    except RuntimeError:
        pass
    with _live_lock:
        if thread in _warned:
            return
        _warned.add(thread)
    logger.warning(
        "%s from thread %r has no run to report to: start the thread with "
        "masai.bind_context(fn) so its events reach the run",
        function,
        thread.name,
    )
