"""A dedicated, accounted thread pool for sync tools.

Why not ``asyncio.to_thread``: it runs on the loop's default executor, shared by the whole
process and only ``min(32, cpu + 4)`` threads wide. Sync tools are mostly I/O-bound and some
hang. A cancelled run cannot stop its tool's thread (Python cannot kill threads), so a handful
of hung tools from dropped requests held every executor thread and stalled every other run's
tools for a minute; and at a thousand concurrent runs, tools queued for those few threads while
the CPU sat idle.

``ToolThreads`` answers both. It is wide (256 by default) but starts threads only when calls
need them and ends them after they idle, so width costs nothing until it is used. A call whose
caller is cancelled is *abandoned*: its thread runs on, but its slot is given back at once, so
other runs' tools never wait behind it. Abandoned threads are still counted, and bounded by
``max_abandoned``: past that, abandoned calls keep their slots until their threads finish, so a
tool that always hangs slows new calls down instead of making the pool spawn threads without end.

A server gives its runs a pool with ``use_tool_threads`` (a ContextVar, so there is no global
pool to configure or leak between tests); without one, sync tools keep using
``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import itertools
import logging
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Any, Generic, ParamSpec, TypeVar

__all__ = ("ToolThreads", "current_tool_threads", "use_tool_threads")

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

_pool_var: ContextVar[ToolThreads | None] = ContextVar("masai.tool_threads", default=None)


def use_tool_threads(pool: ToolThreads | None) -> Token[ToolThreads | None]:
    """Run the sync tools of the current context (and the tasks and runs started from it) on
    ``pool``; ``None`` goes back to ``asyncio.to_thread``. Undo with ``token.var.reset(token)``.
    """
    return _pool_var.set(pool)


def current_tool_threads() -> ToolThreads | None:
    """The pool bound with ``use_tool_threads`` in this context, if any."""
    return _pool_var.get()


class _Call(Generic[R]):
    """One call, shared by its awaiting task and its worker thread. ``abandoned`` and
    ``finished`` change only under the pool's lock: they decide who gives the slot back."""

    __slots__ = ("abandoned", "args", "context", "finished", "fn", "future", "kwargs", "loop")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        fn: Callable[..., R],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        self.loop = loop
        self.future: asyncio.Future[R] = loop.create_future()
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        # A copy per call: a Context cannot be entered by two threads at once, and the tool's
        # emit_*_sync calls find the run's sink and scope in it.
        self.context = contextvars.copy_context()
        self.abandoned = False
        self.finished = False


class _Waiter:
    """A call waiting for a slot. ``granted`` is set under the lock when a slot is handed to
    it, before its future is woken, so a waiter cancelled in between gives the slot back."""

    __slots__ = ("future", "granted", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self.granted = False


class ToolThreads:
    """A pool of worker threads for I/O-bound sync tools; see the module docstring for why.

    At most ``size`` calls hold a slot at once; more wait, first come first served, without
    blocking the event loop. ``max_abandoned`` (default ``size``) bounds the abandoned calls
    that give their slot back, so the pool never runs more than ``size + max_abandoned``
    threads with work. Idle threads end after ``idle_timeout`` seconds.
    """

    def __init__(
        self,
        size: int = 256,
        *,
        name: str = "masai-tool",
        max_abandoned: int | None = None,
        idle_timeout: float = 60.0,
    ) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"ToolThreads size must be an int >= 1, got {size!r}")
        if max_abandoned is None:
            max_abandoned = size
        if isinstance(max_abandoned, bool) or not isinstance(max_abandoned, int):
            raise ValueError(f"max_abandoned must be an int >= 0, got {max_abandoned!r}")
        if max_abandoned < 0:
            raise ValueError(f"max_abandoned must be an int >= 0, got {max_abandoned!r}")
        if not idle_timeout > 0:
            raise ValueError(f"idle_timeout must be > 0 seconds, got {idle_timeout!r}")
        self.size = size
        self.name = name
        self.max_abandoned = max_abandoned
        self.idle_timeout = float(idle_timeout)
        self._lock = threading.Lock()
        self._work_ready = threading.Condition(self._lock)
        self._queue: collections.deque[_Call[Any]] = collections.deque()
        self._waiters: collections.deque[_Waiter] = collections.deque()
        #: Every live worker thread and the call it is running (None while idle).
        self._workers: dict[threading.Thread, _Call[Any] | None] = {}
        self._busy = 0  # calls holding a slot: running or about to, not abandoned
        self._abandoned = 0  # abandoned calls whose thread has not finished them
        # Workers not running a call: waiting for work, or done with a call and about to look
        # for the next. Counting the latter too means a tool called right after another one
        # (the common case) reuses its thread instead of racing it and starting a new one.
        self._spare = 0
        self._closed = False
        self._warned = False
        self._numbers = itertools.count(1)

    # -- public ------------------------------------------------------------------------------
    async def run(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``fn(*args, **kwargs)`` in a worker thread, in a copy of the caller's context,
        and return its result or raise its exception. Cancelling the caller abandons the call:
        the thread cannot be stopped, but its slot is freed at once and its outcome dropped.
        """
        loop = asyncio.get_running_loop()
        await self._acquire(loop)
        call = _Call(loop, fn, args, kwargs)
        try:
            self._submit(call)
        except BaseException:
            self._release()
            raise
        try:
            return await call.future
        except asyncio.CancelledError:
            self._abandon(call)
            raise

    def stats(self) -> dict[str, int]:
        """Exact counts: ``busy`` calls hold a slot and still have a caller; ``abandoned``
        calls lost their caller but their thread is still running them."""
        with self._lock:
            return {"size": self.size, "busy": self._busy, "abandoned": self._abandoned}

    def shutdown(self, wait: bool = False) -> None:
        """Stop accepting calls: new ``run`` calls and calls still waiting for a slot raise
        ``RuntimeError``; running calls finish and deliver; idle threads end. With ``wait``,
        block until the threads not running abandoned calls have ended; call it off the event
        loop then (``await asyncio.to_thread(pool.shutdown, True)``), since a tool emitting
        events waits for the loop.
        """
        with self._lock:
            self._closed = True
            waiters = list(self._waiters)
            self._waiters.clear()
            self._work_ready.notify_all()
            joinable = [t for t, c in self._workers.items() if c is None or not c.abandoned]
        for waiter in waiters:  # one exception each: a raised exception collects a traceback
            closed = RuntimeError(f"{self.name} thread pool is shut down")
            _call_soon(waiter.loop, _settle, waiter.future, None, closed)
        if wait:
            me = threading.current_thread()
            for thread in joinable:
                if thread is not me:
                    thread.join()

    def __repr__(self) -> str:
        counts = " ".join(f"{key}={value}" for key, value in self.stats().items())
        return f"<ToolThreads {self.name!r} {counts}>"

    # -- slots (event loop side) -------------------------------------------------------------
    def _has_slot_locked(self) -> bool:
        """Abandoned calls past ``max_abandoned`` keep holding their slot."""
        excess = max(self._abandoned - self.max_abandoned, 0)
        return not self._closed and self._busy + excess < self.size

    async def _acquire(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self.name} thread pool is shut down")
            if not self._waiters and self._has_slot_locked():
                self._busy += 1
                return
            waiter = _Waiter(loop)
            self._waiters.append(waiter)
        try:
            await waiter.future
        except asyncio.CancelledError:
            with self._lock:
                if waiter.granted:
                    self._busy -= 1
                    granted = self._grant_locked()
                else:
                    granted = []
                    if waiter in self._waiters:
                        self._waiters.remove(waiter)
            self._wake(granted)
            _retrieve(waiter.future)
            raise

    def _grant_locked(self) -> list[_Waiter]:
        """Hand free slots to waiters in arrival order; they are woken outside the lock."""
        granted: list[_Waiter] = []
        while self._waiters and self._has_slot_locked():
            waiter = self._waiters.popleft()
            waiter.granted = True
            self._busy += 1
            granted.append(waiter)
        return granted

    def _wake(self, granted: list[_Waiter]) -> None:
        for waiter in granted:
            if not _call_soon(waiter.loop, _settle, waiter.future, None, None):
                self._release()  # its loop is gone, so is its caller: pass the slot on

    def _release(self) -> None:
        """Give back a slot that never got as far as a worker."""
        with self._lock:
            self._busy -= 1
            granted = self._grant_locked()
        self._wake(granted)

    def _abandon(self, call: _Call[Any]) -> None:
        """The caller is gone: free the slot now unless the call has already finished."""
        call.future.cancel()  # so a result arriving later is dropped, not set
        with self._lock:
            if call.finished:
                granted: list[_Waiter] = []
                warn = False
            else:
                call.abandoned = True
                self._busy -= 1
                self._abandoned += 1
                warn = not self._warned and self._abandoned > self.max_abandoned
                self._warned = self._warned or warn
                granted = self._grant_locked()
            abandoned = self._abandoned
        self._wake(granted)
        _retrieve(call.future)
        if warn:
            logger.warning(
                "%d abandoned tool calls are still running in %s (limit %d): they now keep "
                "their slots, so new tool calls may wait; some sync tool is hanging",
                abandoned,
                self.name,
                self.max_abandoned,
            )

    # -- workers (thread side) ---------------------------------------------------------------
    def _submit(self, call: _Call[Any]) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self.name} thread pool is shut down")
            if self._spare > len(self._queue):
                self._queue.append(call)
                self._work_ready.notify()
                return
            thread = threading.Thread(
                target=self._work,
                args=(call,),
                name=f"{self.name}-{next(self._numbers)}",
                # Daemon: a hung tool whose caller is long gone must not keep the process
                # from exiting; nobody is waiting for its result.
                daemon=True,
            )
            self._workers[thread] = call
        try:
            thread.start()
        except BaseException:
            with self._lock:
                self._workers.pop(thread, None)
            raise

    def _work(self, call: _Call[Any] | None) -> None:
        me = threading.current_thread()
        while call is not None:
            self._execute(call)
            call = self._next_call(me)

    def _execute(self, call: _Call[Any]) -> None:
        with self._lock:
            skip = call.abandoned  # its caller left before it started: do not start it
        if skip:
            self._finish(call, None, None)
            return
        result: Any = None
        error: BaseException | None = None
        try:
            result = call.context.run(call.fn, *call.args, **call.kwargs)
        except BaseException as exc:
            error = exc
            if isinstance(exc, StopIteration):  # an asyncio future refuses StopIteration
                error = RuntimeError(f"{_describe(call.fn)} raised StopIteration")
                error.__cause__ = exc
        self._finish(call, result, error)

    def _finish(self, call: _Call[Any], result: Any, error: BaseException | None) -> None:
        with self._lock:
            call.finished = True
            self._spare += 1  # _next_call follows: this thread looks at the queue next
            abandoned = call.abandoned
            if abandoned:
                self._abandoned -= 1
                # Warn again only once the backlog has drained well below the limit, so
                # hovering around it does not log on every call.
                if self._abandoned <= self.max_abandoned // 2:
                    self._warned = False
            else:
                self._busy -= 1
            granted = self._grant_locked()
        self._wake(granted)
        if abandoned:
            if error is not None:
                logger.debug("abandoned call %s raised", _describe(call.fn), exc_info=error)
        elif not _call_soon(call.loop, _settle, call.future, result, error):
            logger.debug("%s finished after its event loop closed", _describe(call.fn))

    def _next_call(self, me: threading.Thread) -> _Call[Any] | None:
        """Wait for work; None once idle for ``idle_timeout`` or shut down (the thread ends)."""
        deadline = time.monotonic() + self.idle_timeout
        with self._lock:
            self._workers[me] = None
            while True:
                if self._queue:
                    call = self._queue.popleft()
                    self._workers[me] = call
                    self._spare -= 1
                    return call
                remaining = deadline - time.monotonic()
                if self._closed or remaining <= 0:
                    del self._workers[me]
                    self._spare -= 1
                    return None
                self._work_ready.wait(remaining)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    """Complete ``future`` on its loop; a future already cancelled drops the outcome."""
    if future.done():
        if error is not None:
            logger.debug("dropped the outcome of a cancelled tool call", exc_info=error)
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[..., None], *args: Any) -> bool:
    """``loop.call_soon_threadsafe`` that reports, instead of raising, a closed loop."""
    try:
        loop.call_soon_threadsafe(fn, *args)
    except RuntimeError:
        return False
    return True


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark an exception nobody will read as read, so asyncio does not log it at exit."""
    if future.done() and not future.cancelled() and (error := future.exception()) is not None:
        logger.debug("dropped the outcome of a cancelled tool call", exc_info=error)


def _describe(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)
