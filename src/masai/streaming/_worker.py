"""A worker: takes runs from the shared queue and executes them, durably.

Any number of workers share one queue. Each holds at most ``concurrency`` runs and renews its
lease on them every third of the lease; a worker that dies (``kill -9``) stops renewing, and
once a lease has lapsed another worker takes the run over: it loads the run's journal, replays
the steps the lost worker completed (their recorded results, no model call, no tool run, no
event: those were delivered), tells clients with one ``retracted`` event which of the lost
worker's later events the re-run replaces, and goes on live, numbering on from the log.

A run whose step was lost ``max_step_attempts`` times (taken over that often from the same
resume point) ends ``failed``: a step that kills its worker every time is given up, never
retried for ever. A run whose worker
cannot reach the backend is stopped without writing its end (it cannot), left pending, and
taken over once the backend is back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ..agents import Journal, RunContext
from ..events import emit_event
from ..exceptions import MasaiError, RunCancelled
from ._drive import last_update
from ._durable import DurableStream
from ._handle import RunHandle
from ._jobs import Queued, RunJob, RunQueue
from ._runs import Runs
from ._runstore import RunGone, RunNotFound, RunRecord

__all__ = ("JournalStore", "StepAttemptsExhausted", "Worker")

logger = logging.getLogger("masai.worker")

#: Longest pause between two tries to reach the backend.
MAX_BACKOFF = 5.0


class StepAttemptsExhausted(MasaiError):
    public_message = "The run was given up: one of its steps was lost too many times."
    code = "step_attempts_exhausted"


class JournalStore(Protocol):
    async def load(self, key: str) -> list[dict[str, Any]]: ...
    async def append(self, key: str, entry: dict[str, Any]) -> None: ...
    async def attempt(self, key: str, frontier: int) -> int: ...
    async def forget(self, key: str) -> None: ...


class RunControl(Protocol):
    """What a worker asks of the control channel besides listening."""

    async def cancelled(self, key: str) -> bool: ...
    async def decision(self, key: str, tool_call_id: str) -> dict[str, Any] | None: ...
    async def forget(self, key: str) -> None: ...


Resolve = Callable[[RunJob], Callable[[RunContext], Any]]


class Worker:
    def __init__(
        self,
        runs: Runs,
        queue: RunQueue,
        journals: JournalStore,
        control: RunControl,
        resolve: Resolve,
        *,
        concurrency: int = 16,
        lease: float = 10.0,
        max_step_attempts: int = 3,
        grace: float = 30.0,
        context: Callable[[RunJob], RunContext] | None = None,
        name: str | None = None,
    ) -> None:
        if concurrency < 1 or lease <= 0 or max_step_attempts < 1:
            raise ValueError("concurrency >= 1, lease > 0 and max_step_attempts >= 1")
        self.runs = runs
        self.queue = queue
        self.journals = journals
        self.control = control
        self.resolve = resolve
        self.concurrency = concurrency
        self.lease = lease
        self.max_step_attempts = max_step_attempts
        #: At a stop, how long the runs held may go on before they are left to other workers.
        self.grace = grace
        self.context = context or _context
        self.name = name or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self._held: dict[str, tuple[RunJob, asyncio.Task[None]]] = {}
        self._handles: dict[str, RunHandle] = {}
        self._slot = asyncio.Event()

    async def serve(self, stop: asyncio.Event) -> None:
        """Take and execute runs until ``stop`` is set; then stop taking, give the runs held
        ``grace`` seconds to finish, and leave the rest to other workers (each is taken over
        from its checkpoints once its lease lapses: none is lost)."""
        heart = asyncio.get_running_loop().create_task(self._heartbeat(stop))
        backoff = 0.0
        try:
            while not stop.is_set():
                free = self.concurrency - len(self._held)
                if free <= 0:
                    self._slot.clear()
                    await _either(self._slot.wait(), stop.wait())
                    continue
                try:
                    taken = await self.queue.take(self.name, free, block=1.0)
                except MasaiError as exc:
                    backoff = min(max(backoff * 2, 0.25), MAX_BACKOFF)
                    logger.warning("worker %s: cannot take runs (%s); retrying", self.name, exc)
                    await _either(asyncio.sleep(backoff), stop.wait())
                    continue
                backoff = 0.0
                for queued in taken:
                    self._hold(queued)
        finally:
            heart.cancel()
            await self._stop_held()

    def _hold(self, queued: Queued) -> None:
        if queued.entry_id in self._held:
            return
        task = asyncio.get_running_loop().create_task(self._execute(queued))
        self._held[queued.entry_id] = (queued.job, task)

        def release(_: asyncio.Task[None]) -> None:
            self._held.pop(queued.entry_id, None)
            self._handles.pop(queued.entry_id, None)
            self._slot.set()

        task.add_done_callback(release)

    async def _stop_held(self) -> None:
        """Let the runs held finish for ``grace`` seconds, then stop the rest without ending
        them (their leases lapse; another worker continues them from their checkpoints)."""
        tasks = [task for _, task in self._held.values()]
        if tasks and self.grace > 0:
            logger.info(
                "worker %s: waiting up to %gs for %d run(s)", self.name, self.grace, len(tasks)
            )
            await asyncio.wait(tasks, timeout=self.grace)
        for entry_id, (_, task) in list(self._held.items()):
            handle = self._handles.get(entry_id)
            if handle is not None:
                handle.abandon()
            else:
                task.cancel()
        tasks = [task for _, task in self._held.values()]
        if tasks:
            await asyncio.wait(tasks, timeout=10)

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        """Renew the lease on every run held, every third of the lease; a run whose lease
        was taken over meanwhile (this worker stalled) is given up here."""
        while not stop.is_set():
            await asyncio.sleep(self.lease / 3)
            held = list(self._held)
            if not held:
                continue
            try:
                kept = set(await self.queue.renew(self.name, held))
            except MasaiError as exc:
                logger.warning("worker %s: cannot renew leases (%s)", self.name, exc)
                continue
            for entry_id in held:
                if (handle := self._handles.get(entry_id)) is None:
                    continue
                if entry_id not in kept:
                    logger.warning("worker %s lost run %s to another", self.name, handle.run_id)
                    handle.abandon()
                elif await self._cancelled(handle):  # (a cancel whose message was lost)
                    handle.interrupt(RunCancelled(f"run {handle.run_id} was cancelled"))

    async def _cancelled(self, handle: RunHandle) -> bool:
        try:
            return await self.control.cancelled(handle.record.key)
        except MasaiError:
            return False

    async def _execute(self, queued: Queued) -> None:
        job = queued.job
        try:
            record = await self.runs.store.get(job.owner, job.run_id)
        except (RunNotFound, RunGone):  # (expired, or the backend lost it)
            await self.queue.done(queued.entry_id)
            return
        except MasaiError as exc:
            logger.warning("worker %s: run %s not started: %s", self.name, job.run_id, exc)
            return  # (left pending: taken again once the backend answers)
        if record.finished:  # (its worker died after its end, before its acknowledgement)
            await self.queue.done(queued.entry_id)
            return
        ended = asyncio.Event()
        try:
            handle = await self._start(queued, record, lambda _: ended.set())
        except MasaiError as exc:
            logger.warning("worker %s: run %s not started: %s", self.name, job.run_id, exc)
            return
        self._handles[queued.entry_id] = handle
        await ended.wait()
        if handle.finished.is_set():  # (its end is logged: never run it again)
            try:
                await self.queue.done(queued.entry_id)
                await self.journals.forget(record.key)
                await self.control.forget(record.key)
            except MasaiError as exc:
                logger.warning("worker %s: run %s: %s", self.name, job.run_id, exc)

    async def _start(
        self, queued: Queued, record: RunRecord, on_end: Callable[[RunRecord], None]
    ) -> RunHandle:
        job, key = queued.job, record.key
        entries = await self.journals.load(key)
        frontier = sum(1 for e in entries if e.get("kind") == "resume")
        taken_over = queued.deliveries > 1 or bool(entries)
        # (How often the step after this resume point was lost: each take-over is one loss.)
        lost = await self.journals.attempt(key, frontier) if taken_over else 0
        first_seq = await self.runs.log.next_seq(key)
        stream: list[DurableStream] = []

        async def save(entry: dict[str, Any]) -> None:
            if entry.get("kind") == "resume":  # (only once what precedes it is logged)
                await stream[0].checkpointed(int(entry["seq"]))
            await self.journals.append(key, entry)

        journal = Journal(entries, save=save, position=lambda: stream[0].position)
        if taken_over:
            logger.info(
                "worker %s takes run %s over at seq %d (its step lost %d time(s))",
                self.name,
                job.run_id,
                first_seq,
                lost,
            )
        work = self._work(job, journal, first_seq, lost, await self.control.cancelled(key))
        context = self.context(job)
        context.journal = journal
        handle = await self.runs.execute(
            record,
            work,
            handler=job.make_handler(),
            context=context,
            gate=journal,
            first_seq=first_seq,
            on_end=on_end,
        )
        handle.recall = lambda call_id: self.control.decision(key, call_id)
        assert isinstance(handle.stream, DurableStream)
        stream.append(handle.stream)
        # A cancel sent before this worker listened (``execute`` returns once it does) was
        # kept: look for it now.
        if await self.control.cancelled(key):
            handle.interrupt(RunCancelled(f"run {job.run_id} was cancelled"))
        return handle

    def _work(
        self, job: RunJob, journal: Journal, first_seq: int, lost: int, cancelled: bool
    ) -> Callable[[RunContext], Awaitable[Any]]:
        """The run as this worker executes it: first the ``retracted`` event, once the
        replay is over, for what the lost worker logged after its last resume point."""
        retracted = False

        async def retract(resumed_at: int) -> None:
            # (``resumed_at``: the seq the last resume point reached, -1 for none; what the
            # log holds from there on, the re-run replaces.)
            nonlocal retracted
            start = max(resumed_at, 0)
            if not retracted and first_seq > start:
                retracted = True
                await emit_event("retracted", {"from_seq": start, "to_seq": first_seq - 1})

        async def work(ctx: RunContext) -> Any:
            journal.on_live = retract
            if not journal.replaying:
                await retract(journal.last_resume_seq)
            if cancelled:
                raise RunCancelled(f"run {job.run_id} was cancelled")
            if lost >= self.max_step_attempts:
                raise StepAttemptsExhausted(f"run {job.run_id}: lost {lost} times at one step")
            return await last_update(self.resolve(job)(ctx))

        return work


def _context(job: RunJob) -> RunContext:
    return RunContext(
        owner=job.owner, session_id=job.session_id, history=job.history, remember=job.remember
    )


async def _either(*waits: Awaitable[Any]) -> None:
    """Wait until the first of ``waits`` is done; cancel the others."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
