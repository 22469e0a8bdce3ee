"""Running a tool's coroutine from sync code (MASAI's ``invoke``/``run`` on async tools).

Three situations, three answers, each chosen so that nothing deadlocks:

* No event loop runs in this thread, and the run's loop (the "home" loop, recorded when a sync
  tool is handed to a worker thread) runs in another one: the coroutine is scheduled on the home
  loop and this thread waits. The home loop is free (it awaits this thread), and the tool's
  events reach the run's stream exactly as if the agent had called it.
* No event loop anywhere in reach (a script, a test): ``asyncio.run`` on a fresh loop.
* An event loop runs in *this* thread (sync ``invoke`` called from async code): that loop is
  blocked while we wait, so the coroutine runs on a private loop in a helper thread. It is
  detached from the run's stream, whose delivery needs the blocked loop; its events are
  dropped rather than waited for forever. Awaiting ``ainvoke``/``arun`` avoids all of this.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import logging
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from typing import Any

from .._context import _open_call_var, _sink_var
from ._threads import use_tool_threads

__all__ = ("home_loop", "run_coroutine_blocking")

logger = logging.getLogger(__name__)

#: The loop of the run a sync tool belongs to; set around handing the tool to a worker thread,
#: which inherits it through its copied context.
home_loop: ContextVar[asyncio.AbstractEventLoop | None] = ContextVar(
    "masai.tool_home_loop", default=None
)


def _detach() -> None:
    """In a copied context: forget the stream, the home loop and the thread pool, all of which
    belong to a loop the caller is blocking."""
    _sink_var.set(None)
    _open_call_var.set(None)
    home_loop.set(None)
    use_tool_threads(None)


def run_coroutine_blocking(make: Callable[[], Coroutine[Any, Any, Any]], what: str) -> Any:
    """Run the coroutine ``make()`` to completion from sync code and return its result (or
    raise its exception). ``what`` names the caller in the log line for the blocking case."""
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is None:
        home = home_loop.get()
        if home is not None and home.is_running() and not home.is_closed():
            # The coroutine's task copies this thread's context (call_soon_threadsafe does).
            return asyncio.run_coroutine_threadsafe(make(), home).result()
        return asyncio.run(make())
    logger.debug(
        "%s: sync call of an async tool inside a running event loop; it runs on a private "
        "loop in a helper thread and blocks this loop until done (await ainvoke() instead)",
        what,
    )
    context = contextvars.copy_context()
    context.run(_detach)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="masai-invoke") as pool:
        return pool.submit(context.run, asyncio.run, make()).result()
