"""``masai worker``: a process that executes the runs API servers queue on a shared backend.

It reads the same configuration as the servers (the targets are found by name in it) and
keeps conversations and multi-agent shared memory on the backend, so whichever worker runs a
turn sees the conversation so far. SIGTERM or SIGINT stops it gracefully: it takes no new
runs, lets the ones it holds finish for ``grace`` seconds, and leaves the rest to the other
workers, which take them over from their checkpoints.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from typing import Any

from ..agents import RunContext
from ..streaming import RunJob, Runs, Worker, open_backend
from ..tooling import ToolThreads
from ._targets import Registry, work_of

__all__ = ("run_worker",)

logger = logging.getLogger("masai.worker")


def _resolve(registry: Registry, pool: ToolThreads) -> Callable[[RunJob], Any]:
    """A job's work: its target (by name, from this worker's configuration) run on its query."""

    def resolve(job: RunJob) -> Callable[[RunContext], Any]:
        return work_of(registry.get(job.target), job.query, job.entry_agent, pool)

    return resolve


async def run_worker(
    registry: Registry,
    backend_url: str,
    *,
    concurrency: int = 16,
    lease: float = 10.0,
    max_step_attempts: int = 3,
    retention: float = 600.0,
    max_kept_bytes: int = 64 * 2**20,
    session_ttl: float = 24 * 3600.0,
    max_events: int = 100_000,
    approval_timeout: float = 3600.0,
    grace: float = 30.0,
    tool_threads: int = 32,
    on_started: Callable[[Worker], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Execute queued runs until ``stop`` is set (or SIGTERM / SIGINT)."""
    backend = open_backend(backend_url, retention=retention, lease=lease, session_ttl=session_ttl)
    registry.use_stores(backend.sessions, backend.shared)
    pool = ToolThreads(tool_threads)
    runs = Runs(
        **backend.stores(queue=False),
        retention=backend.retention,
        max_events=max_events,
        approval_timeout=approval_timeout,
        max_kept_bytes=max_kept_bytes,
    )
    worker = Worker(
        runs,
        backend.queue,
        backend.journals,
        backend.control,
        _resolve(registry, pool),
        concurrency=concurrency,
        lease=lease,
        max_step_attempts=max_step_attempts,
        grace=grace,
    )
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    logger.info("worker %s taking runs from %s", worker.name, backend.url)
    if on_started is not None:
        on_started(worker)
    try:
        await worker.serve(stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await runs.aclose()
        await backend.aclose()
        pool.shutdown(wait=False)
        await registry.aclose()
