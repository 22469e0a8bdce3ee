"""ToolThreads: the pool sync tools run on when a server binds one.

Every blocking function here waits on a ``threading.Event`` with a short timeout, never a long
sleep, and every test releases what it blocked, so no test can outlive its few seconds.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from masai import AgentDetails, AgentManager, ScriptedModel, emit_custom_event_sync, tool
from masai.streaming import EnhancedStreamHandler
from masai.tooling import ToolThreads, current_tool_threads, use_tool_threads
from tests.support.models import wait_until
from tests.support.sse import events

LOGGER = "masai.tooling._threads"
_names = itertools.count(1)


class Blocker:
    """A sync function that blocks until ``release`` is set, counting who is inside."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.release = threading.Event()
        self.error = error
        self._lock = threading.Lock()
        self.entered = 0
        self.inside = 0
        self.peak = 0
        self.order: list[int] = []

    def __call__(self, index: int = 0) -> int:
        with self._lock:
            self.entered += 1
            self.inside += 1
            self.peak = max(self.peak, self.inside)
            self.order.append(index)
        try:
            if not self.release.wait(5):
                raise TimeoutError("the test never released this call")
            if self.error is not None:
                raise self.error
            return index
        finally:
            with self._lock:
                self.inside -= 1


@pytest.fixture
def blockers() -> Iterator[list[Blocker]]:
    """Blockers a test makes; all released at the end, whatever happened."""
    made: list[Blocker] = []
    yield made
    for blocker in made:
        blocker.release.set()


def blocker(made: list[Blocker], error: BaseException | None = None) -> Blocker:
    made.append(Blocker(error))
    return made[-1]


def pool_of(size: int, **options: Any) -> ToolThreads:
    """A pool with a name of its own, so its threads can be told apart from other tests'."""
    return ToolThreads(size, name=f"test-pool-{next(_names)}", **options)


def threads_of(pool: ToolThreads) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(pool.name + "-")]


def hold_loop_until(condition: Callable[[], bool], within: float = 2.0) -> None:
    """Wait without yielding to the event loop, so no task runs meanwhile."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.001)


def stats(busy: int, abandoned: int, size: int) -> dict[str, int]:
    return {"size": size, "busy": busy, "abandoned": abandoned}


async def cancel(*tasks: asyncio.Task[Any]) -> None:
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results), results


def test_invalid_settings_are_refused() -> None:
    for size in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="size must be an int >= 1"):
            ToolThreads(size)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_abandoned"):
        ToolThreads(2, max_abandoned=-1)
    with pytest.raises(ValueError, match="idle_timeout"):
        ToolThreads(2, idle_timeout=0)
    assert ToolThreads(3).max_abandoned == 3  # defaults to size


async def test_abandoned_calls_free_their_slot(blockers: list[Blocker]) -> None:
    pool = pool_of(2)
    block = blocker(blockers)
    tasks = [asyncio.create_task(pool.run(block)) for _ in range(2)]
    await wait_until(lambda: block.entered == 2)
    assert pool.stats() == stats(busy=2, abandoned=0, size=2)

    await cancel(*tasks)
    assert pool.stats() == stats(busy=0, abandoned=2, size=2)
    started = time.monotonic()
    assert await asyncio.wait_for(pool.run(str.upper, "third"), 2) == "THIRD"
    assert time.monotonic() - started < 1
    assert block.inside == 2  # both abandoned threads are still blocked
    assert pool.stats() == stats(busy=0, abandoned=2, size=2)

    block.release.set()
    await wait_until(lambda: pool.stats()["abandoned"] == 0)
    assert pool.stats() == stats(busy=0, abandoned=0, size=2)
    pool.shutdown()


async def test_a_tool_timeout_abandons_the_call(blockers: list[Blocker]) -> None:
    pool = pool_of(1)
    block = blocker(blockers)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await pool.run(block)
    assert pool.stats() == stats(busy=0, abandoned=1, size=1)
    assert await asyncio.wait_for(pool.run(len, "abc"), 2) == 3
    block.release.set()
    await wait_until(lambda: pool.stats()["abandoned"] == 0)
    pool.shutdown()


async def test_the_callers_context_is_carried_into_the_thread() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    var.set("caller")
    pool = pool_of(2)

    def read() -> tuple[str, str]:
        return var.get(), threading.current_thread().name

    def write() -> str:
        var.set("thread")
        return var.get()

    value, thread_name = await pool.run(read)
    assert value == "caller"
    assert thread_name.startswith(pool.name + "-")
    assert await pool.run(write) == "thread"
    assert var.get() == "caller"  # a copy: the thread's changes stay in the thread
    pool.shutdown()


async def test_the_binding_is_context_local() -> None:
    assert current_tool_threads() is None
    pool = pool_of(1)
    token = use_tool_threads(pool)
    try:
        assert current_tool_threads() is pool
        # A task started here inherits the binding; one started from a fresh context does not.
        assert await asyncio.create_task(_current()) is pool
        fresh = contextvars.Context()
        assert await asyncio.create_task(_current(), context=fresh) is None
    finally:
        token.var.reset(token)
    assert current_tool_threads() is None
    pool.shutdown()


async def _current() -> ToolThreads | None:
    return current_tool_threads()


async def test_no_more_than_size_calls_run_at_once(blockers: list[Blocker]) -> None:
    pool = pool_of(3)
    block = blocker(blockers)
    tasks = [asyncio.create_task(pool.run(block, i)) for i in range(10)]
    await wait_until(lambda: block.entered == 3)
    await asyncio.sleep(0.1)  # time enough for an unbounded pool to start more
    assert (block.entered, block.inside) == (3, 3)
    assert pool.stats() == stats(busy=3, abandoned=0, size=3)
    block.release.set()
    assert await asyncio.wait_for(asyncio.gather(*tasks), 3) == list(range(10))
    assert block.peak == 3
    assert pool.stats() == stats(busy=0, abandoned=0, size=3)
    pool.shutdown()


async def test_waiting_calls_are_served_in_arrival_order(blockers: list[Blocker]) -> None:
    pool = pool_of(1)
    block = blocker(blockers)
    first = asyncio.create_task(pool.run(block, 0))
    await wait_until(lambda: block.entered == 1)
    rest = [asyncio.create_task(pool.run(block, i)) for i in range(1, 6)]
    await asyncio.sleep(0.05)
    block.release.set()
    assert await asyncio.wait_for(asyncio.gather(first, *rest), 3) == list(range(6))
    assert block.order == list(range(6))
    pool.shutdown()


async def test_cancelling_a_waiting_call_leaks_no_slot(blockers: list[Blocker]) -> None:
    pool = pool_of(1)
    block = blocker(blockers)
    running = asyncio.create_task(pool.run(block))
    await wait_until(lambda: block.entered == 1)
    waiting = asyncio.create_task(pool.run(block))
    await asyncio.sleep(0.05)
    await cancel(waiting)
    assert pool.stats() == stats(busy=1, abandoned=0, size=1)
    block.release.set()
    assert await asyncio.wait_for(running, 2) == 0
    assert pool.stats() == stats(busy=0, abandoned=0, size=1)
    assert await asyncio.wait_for(pool.run(len, "ab"), 2) == 2
    assert block.entered == 1  # the cancelled call never ran
    pool.shutdown()


async def test_a_call_cancelled_after_its_slot_was_granted_passes_it_on(
    blockers: list[Blocker],
) -> None:
    pool = pool_of(1)
    block = blocker(blockers)
    running = asyncio.create_task(pool.run(block))
    await wait_until(lambda: block.entered == 1)
    granted = asyncio.create_task(pool.run(str, "granted"))
    await asyncio.sleep(0.05)
    block.release.set()
    # Hold the loop until the worker has handed the slot over: the waiter is granted, but its
    # task has not run yet, and is cancelled before it can.
    hold_loop_until(lambda: not pool._waiters)
    granted.cancel()
    assert await running == 0
    await asyncio.gather(granted, return_exceptions=True)
    assert granted.cancelled()
    assert pool.stats() == stats(busy=0, abandoned=0, size=1)
    assert await asyncio.wait_for(pool.run(str, "next"), 2) == "next"
    pool.shutdown()


async def test_max_abandoned_bounds_the_threads_and_warns_once(
    blockers: list[Blocker], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    pool = pool_of(1, max_abandoned=1)
    first, second, third = blocker(blockers), blocker(blockers), blocker(blockers)

    for block in (first, second):
        task = asyncio.create_task(pool.run(block))
        await wait_until(lambda block=block: block.entered == 1)  # type: ignore[misc]
        await cancel(task)
    assert pool.stats() == stats(busy=0, abandoned=2, size=1)
    # One abandoned call gave its slot back; the second, past the limit, keeps it: a new call
    # waits instead of starting a third thread.
    waiting = asyncio.create_task(pool.run(third))
    await asyncio.sleep(0.2)
    assert third.entered == 0 and not waiting.done()
    assert len(threads_of(pool)) == 2

    first.release.set()  # one abandoned thread finishes: the slot goes to the waiting call
    await wait_until(lambda: third.entered == 1)
    await cancel(waiting)  # over the limit again, within the same episode
    assert pool.stats() == stats(busy=0, abandoned=2, size=1)

    second.release.set()
    third.release.set()
    await wait_until(lambda: pool.stats()["abandoned"] == 0)
    warnings = [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "2 abandoned tool calls are still running" in warnings[0].getMessage()
    assert await asyncio.wait_for(pool.run(str, "ok"), 2) == "ok"
    pool.shutdown()


def make_agent(name: str, turns: list[dict[str, Any]], tools: list[Any]) -> Any:
    manager = AgentManager(model=ScriptedModel(turns), logging=False)
    details = AgentDetails(capabilities=["testing"], description="Calls one tool.")
    return manager.create_agent(name, tools, details)


async def test_a_cancelled_run_does_not_hold_up_another_runs_sync_tool() -> None:
    """The probe's failure, end to end: a dropped request's hung sync tool must not make the
    next request's sync tool wait, even in a pool one thread wide."""
    entered = threading.Event()
    release = threading.Event()
    hung_threads: list[threading.Thread] = []
    quick_threads: list[str] = []

    @tool
    def hang() -> str:
        """Blocks like a network call that never answers."""
        hung_threads.append(threading.current_thread())
        entered.set()
        release.wait(5)
        return "too late"

    @tool
    def shout(text: str) -> str:
        """Upper-cases text."""
        quick_threads.append(threading.current_thread().name)
        emit_custom_event_sync("shouting", {"progress": 1.0})
        return text.upper()

    hung = make_agent("hung", [{"tool": "hang"}, {"satisfied": True, "answer": "-"}], [hang])
    answer = {"satisfied": True, "answer": "Done."}
    other = make_agent("other", [{"tool": "shout", "tool_input": {"text": "abc"}}, answer], [shout])
    pool = pool_of(1)
    token = use_tool_threads(pool)
    try:
        stream: Any = EnhancedStreamHandler().stream_agent_execution(hung, "q")
        await anext(stream)
        await wait_until(entered.is_set)
        assert pool.stats() == stats(busy=1, abandoned=0, size=1)
        await stream.aclose()  # the client went away
        await wait_until(lambda: pool.stats()["abandoned"] == 1)
        assert pool.stats() == stats(busy=0, abandoned=1, size=1)

        started = time.monotonic()
        handler = EnhancedStreamHandler()
        chunks = [c async for c in handler.stream_agent_execution(other, "q")]
        assert time.monotonic() - started < 2
        assert hung_threads[0].is_alive() and not release.is_set()
        assert pool.stats() == stats(busy=0, abandoned=1, size=1)
    finally:
        release.set()
        token.var.reset(token)
    evs = events("".join(chunks))
    outputs = [e["choices"][0]["delta"]["content"] for e in evs if e["event_type"] == "tool_output"]
    assert outputs == ["\n[Tool: shout]\nABC\n"]
    assert [e["event_type"] for e in evs].count("custom") == 1  # the thread reached the stream
    assert len(hung_threads) == 1
    assert hung_threads[0].name.startswith(pool.name + "-")
    assert quick_threads and quick_threads[0].startswith(pool.name + "-")
    await wait_until(lambda: pool.stats()["abandoned"] == 0)
    pool.shutdown()


async def test_exceptions_propagate_and_idle_threads_end(blockers: list[Blocker]) -> None:
    pool = pool_of(4, idle_timeout=0.2)
    assert threads_of(pool) == []  # nothing started before it is needed

    def boom() -> None:
        raise ValueError("boom in the thread")

    with pytest.raises(ValueError, match="boom in the thread"):
        await pool.run(boom)
    assert pool.stats() == stats(busy=0, abandoned=0, size=4)

    block = blocker(blockers)
    tasks = [asyncio.create_task(pool.run(block, i)) for i in range(3)]
    await wait_until(lambda: block.entered == 3)
    assert len(threads_of(pool)) == 3  # one thread reused, two started for the overlap
    block.release.set()
    assert await asyncio.gather(*tasks) == [0, 1, 2]

    await wait_until(lambda: not threads_of(pool), within=3)
    assert await pool.run(str.upper, "again") == "AGAIN"  # a new thread after shrinking
    pool.shutdown()


async def test_an_idle_thread_is_reused() -> None:
    pool = pool_of(4)

    def name() -> str:
        return threading.current_thread().name

    assert await pool.run(name) == await pool.run(name)
    assert len(threads_of(pool)) == 1
    pool.shutdown()


async def test_an_abandoned_calls_exception_is_logged_at_debug_only(
    blockers: list[Blocker], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    pool = pool_of(1)
    block = blocker(blockers, error=OSError("connection reset"))
    task = asyncio.create_task(pool.run(block))
    await wait_until(lambda: block.entered == 1)
    await cancel(task)
    block.release.set()
    await wait_until(lambda: pool.stats()["abandoned"] == 0)
    gc.collect()
    await asyncio.sleep(0)
    dropped = [r for r in caplog.records if r.name == LOGGER and r.exc_info]
    assert len(dropped) == 1 and dropped[0].levelno == logging.DEBUG
    assert isinstance(dropped[0].exc_info[1], OSError)  # type: ignore[index]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    pool.shutdown()


async def test_shutdown_refuses_new_and_waiting_calls(blockers: list[Blocker]) -> None:
    pool = pool_of(1)
    block = blocker(blockers)
    running = asyncio.create_task(pool.run(block, 7))
    await wait_until(lambda: block.entered == 1)
    waiting = asyncio.create_task(pool.run(block))
    await asyncio.sleep(0.05)
    pool.shutdown()
    with pytest.raises(RuntimeError, match="shut down"):
        await asyncio.wait_for(waiting, 2)
    with pytest.raises(RuntimeError, match="shut down"):
        await pool.run(str, "late")
    block.release.set()
    assert await asyncio.wait_for(running, 2) == 7  # a running call still delivers
    await asyncio.to_thread(pool.shutdown, True)
    assert threads_of(pool) == []


def test_a_call_outliving_its_event_loop_is_dropped_quietly(blockers: list[Blocker]) -> None:
    pool = pool_of(1)
    block = blocker(blockers)
    failures: list[threading.ExceptHookArgs] = []
    previous, threading.excepthook = threading.excepthook, failures.append
    loop = asyncio.new_event_loop()
    reported: list[str] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context["message"]))
    task = loop.create_task(pool.run(block))
    try:
        loop.run_until_complete(wait_until(lambda: block.entered == 1))
        loop.close()  # closed under a call that was never cancelled
        block.release.set()
        hold_loop_until(lambda: pool.stats()["busy"] == 0)
        assert pool.stats() == stats(busy=0, abandoned=0, size=1)
        pool.shutdown(wait=True)
    finally:
        threading.excepthook = previous
        del task
        gc.collect()
    assert failures == []
    assert set(reported) <= {"Task was destroyed but it is pending!"}
