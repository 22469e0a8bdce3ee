"""Runs as resources: started once, executed in their own task, watched by anyone allowed.

A run's events go from its ``EventStream`` into its ``EventLog`` (each encoded once, as the
spec's chunk frame); every viewer reads the log from its own cursor. So a run never waits for
a viewer, a viewer that drops loses nothing (it reads on from its last ``seq``), and a run with
no viewer at all (waiting for an approval, say) goes on all the same. The run's record
(``RunStore``) says how it stands; cancel and approvals reach it through ``Control``.

``Runs`` is the Python API as well as what the server's ``/runs`` routes call::

    runs = Runs()
    run = await runs.start(agent, "Publish the report")
    async for event in run.events():
        if event.event_type == "approval_required":
            await run.approve(event.metadata["tool_call_id"], approved=True)
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from typing import Any, cast

from ..agents import ApprovalTimeout, RunContext
from ..exceptions import MasaiError, RunCancelled, ServerShutdown
from ..memory import LOCAL_OWNER
from ._control import Control, ControlMessage, InMemoryControl, NotListening
from ._drive import last_update, unwrap_state
from ._durable import DurableStream, ReplayGate
from ._handle import ApprovalConflict, ApprovalNotFound, RunFinished, RunHandle
from ._jobs import RunJob, RunQueue
from ._log import EventLog, InMemoryEventLog, LogBatch
from ._observe import RunObserver
from ._openai import ChunkEncoder
from ._retention import KeptRuns
from ._runstore import InMemoryRunStore, OnDisconnect, RunRecord, RunStatus, RunStore
from ._spec import SpecEncoder
from ._stream import EventStream, LoggedStream
from .handlers import EnhancedStreamHandler

__all__ = ("Runs",)

logger = logging.getLogger("masai.runs")

#: How long ``cancel(wait=True)`` waits for the run to stop.
CANCEL_WAIT_SECONDS = 10.0

#: A run's work: given its context (owner, session, approvals), the coroutine or the stream of
#: updates that is the run.
Work = Callable[[RunContext], Any]


def _answer(final: Any) -> str | None:
    """The run's final answer: the answer of its final state (the user's, never an
    intermediate agent's)."""
    state = unwrap_state(final)
    answer = state.get("answer") if isinstance(state, Mapping) else None
    return answer if isinstance(answer, str) and answer else None


def _outcome(error: BaseException | None, final: Any) -> tuple[RunStatus, str]:
    if error is None:
        state = unwrap_state(final)
        reason = state.get("stop_reason") if isinstance(state, Mapping) else None
        return "completed", str(reason or "completed")
    if isinstance(error, ServerShutdown):
        return "cancelled", "server_shutdown"
    if isinstance(error, RunCancelled):
        return "cancelled", "cancelled"
    if isinstance(error, ApprovalTimeout):
        return "failed", "approval_timeout"
    return "failed", error.code if isinstance(error, MasaiError) else "error"


class Runs:
    """Starts runs and finds them again: the run manager, over three storage interfaces."""

    def __init__(
        self,
        *,
        store: RunStore | None = None,
        log: EventLog | None = None,
        control: Control | None = None,
        queue: RunQueue | None = None,
        retention: float = 600.0,
        max_events: int = 100_000,
        approval_timeout: float = 3600.0,
        max_kept_bytes: int = 64 * 2**20,
        gap: Callable[[], float] | None = None,
        clock: Callable[[], float] = time.time,
        observer: RunObserver | None = None,
    ) -> None:
        if retention < 0 or max_events < 1 or approval_timeout <= 0 or max_kept_bytes < 1:
            raise ValueError(
                "retention >= 0, max_events >= 1, approval_timeout > 0 and max_kept_bytes >= 1"
            )
        self.store: RunStore = store if store is not None else InMemoryRunStore()
        self.log: EventLog = log if log is not None else InMemoryEventLog()
        self.control: Control = control if control is not None else InMemoryControl()
        #: Where runs go to be executed by workers (a shared backend); ``None``: this process
        #: executes the runs it starts.
        self.queue = queue
        self.retention = retention
        self.max_events = max_events
        self.approval_timeout = approval_timeout
        #: Finished runs' logs together hold at most about this much; the oldest go first.
        self.max_kept_bytes = max_kept_bytes
        #: The least time between two appends of one run's events, asked before each (a
        #: server answers more than 0 while it is busy: events that arrive meanwhile share one
        #: append, one wake-up of each viewer and one write). ``None``: append at once.
        self.gap = gap
        self.clock = clock
        #: Told of runs, events, viewers and model calls (a server's metrics), if given.
        self.observer = observer
        self._live: dict[str, RunHandle] = {}
        self._viewers: Counter[str] = Counter()  # connections reading each run's log now
        self._tasks: set[asyncio.Task[Any]] = set()
        self._kept = KeptRuns(
            self.store,
            self.log,
            retention=retention,
            max_bytes=max_kept_bytes,
            viewers=self.viewers,
            spawn=self.spawn,
        )

    # -- starting ----------------------------------------------------------------------------
    async def start(
        self,
        work: Work | Any,
        query: str | None = None,
        *,
        owner: str = LOCAL_OWNER,
        run_id: str | None = None,
        target: str | None = None,
        handler: EnhancedStreamHandler | None = None,
        context: RunContext | None = None,
        session_id: str | None = None,
        on_disconnect: OnDisconnect = "continue",
        on_end: Callable[[RunRecord], None] | None = None,
    ) -> RunHandle:
        """Start ``work`` (an agent with ``query``, or ``work(context)`` returning a coroutine or
        an async iterator of updates) as a run of ``owner``'s; its id is ``run_id`` if given
        (``RunExists`` if the owner has one). ``on_end`` is called once it has finished."""
        fn = _work_of(work, query)
        handler = handler or EnhancedStreamHandler()
        record = self._new_record(
            owner, run_id, target or str(getattr(work, "agent_name", None) or "run"), handler
        )
        record.on_disconnect, record.session_id = on_disconnect, session_id
        base = context or RunContext(owner=owner, session_id=session_id or "default")
        await self._open(record)
        handle = RunHandle(self, record, handler)
        ctx = self._context(base, handle)
        handle.stream, handle.encoder = self._stream(record, _runner(fn, ctx), handler)
        await self._launch(handle, on_end)
        return handle

    async def enqueue(
        self,
        job: Callable[[RunRecord], RunJob],
        *,
        owner: str,
        target: str,
        handler: EnhancedStreamHandler,
        run_id: str | None = None,
        session_id: str | None = None,
        on_disconnect: OnDisconnect = "continue",
    ) -> RunRecord:
        """Record a run and queue it for a worker (``job(record)`` describes it); it starts
        when a worker takes it. For run managers with a ``queue``."""
        if self.queue is None:
            raise RuntimeError("this run manager has no queue: use start()")
        record = self._new_record(owner, run_id, target, handler)
        record.on_disconnect, record.session_id = on_disconnect, session_id
        await self._open(record)
        await self.queue.submit(job(record))
        return record

    async def execute(
        self,
        record: RunRecord,
        work: Work,
        *,
        handler: EnhancedStreamHandler,
        context: RunContext,
        gate: ReplayGate,
        first_seq: int,
        on_end: Callable[[RunRecord], None] | None = None,
    ) -> RunHandle:
        """Execute a run recorded (and its log opened) elsewhere, as a worker does: its
        events are numbered from ``first_seq`` (what its log holds already) and dropped while
        ``gate`` replays the steps a previous worker completed."""
        handle = RunHandle(self, record, handler)
        ctx = self._context(context, handle)
        stream = DurableStream(
            _runner(work, ctx),
            gate=gate,
            first_seq=first_seq,
            accepts=handler.accepts,
            max_buffered_events=handler.max_buffered_events,
            run_id=record.run_id,
            session_id=record.session_id,
            created=record.created,
        )
        handle.stream = stream
        handle.encoder = SpecEncoder.of_stream(stream, handler.model, debug=handler.debug)
        await self._launch(handle, on_end)
        return handle

    def _context(self, base: RunContext, handle: RunHandle) -> RunContext:
        """The run's context: its approvals go through its handle; its model calls are
        reported to the observer, if any."""
        observer = self.observer
        if observer is None:
            return dataclasses.replace(base, approvals=handle)
        return dataclasses.replace(base, approvals=handle, on_model_call=observer.model_call)

    def _new_record(
        self, owner: str, run_id: str | None, target: str, handler: EnhancedStreamHandler
    ) -> RunRecord:
        now = self.clock()
        return RunRecord(
            run_id=run_id or f"run_{secrets.token_hex(12)}",
            owner=owner,
            target=target,
            created_at=now,
            model=handler.model,
            created=int(now),
        )

    async def _open(self, record: RunRecord) -> None:
        """Record the run (``RunExists`` if its owner has one with that id) and open its
        log, whose frames all start with the run's shared head."""
        head = ChunkEncoder(record.model, f"chatcmpl-{record.run_id}", record.created).head
        await self.store.create(record)
        await self.log.open(record.key, head=head, max_entries=self.max_events)

    async def _launch(self, handle: RunHandle, on_end: Callable[[RunRecord], None] | None) -> None:
        """Listen for the run's messages, then start it: a decision sent the moment the run
        asks for it must find the run listening."""
        key = handle.record.key
        self._live[key] = handle
        if self.observer is not None:
            self.observer.run_started(handle.record)
        stop_listening = self.control.listen(key, handle.on_message)
        await self.control.ready(key)
        self.spawn(self._pump(handle, stop_listening, on_end))

    def _stream(
        self, record: RunRecord, run: Callable[[], Awaitable[Any]], handler: EnhancedStreamHandler
    ) -> tuple[EventStream, SpecEncoder]:
        """The run's stream: one that writes each event into the log as it is emitted, if the
        log takes entries that way, else one the pump drains into the log in batches."""
        identity = {"run_id": record.run_id, "session_id": record.session_id}
        writer = self.log.writer(record.key)
        if writer is not None:
            logged = LoggedStream(
                run,
                model=handler.model,
                accepts=handler.accepts,
                created=record.created,
                **identity,
            )
            logged.connect(writer)
            if self.observer is not None:
                logged.observe(self.observer.run_events)
            return logged, SpecEncoder(logged.encoder, sink=logged, debug=handler.debug)
        stream = EventStream(
            run,
            accepts=handler.accepts,
            max_buffered_events=handler.max_buffered_events,
            created=record.created,
            **identity,
        )
        return stream, SpecEncoder.of_stream(stream, handler.model, debug=handler.debug)

    async def _pump(
        self,
        handle: RunHandle,
        stop_listening: Callable[[], None],
        on_end: Callable[[RunRecord], None] | None,
    ) -> None:
        """Moves the run's events into its log until the run ends, then writes its end."""
        record, stream, encoder = handle.record, handle.stream, handle.encoder
        assert stream is not None and encoder is not None
        log, key = self.log, record.key
        record.status, record.started_at = "running", self.clock()
        await self.store.update(record)
        gap, tails, observer = self.gap, encoder.chunks.tails, self.observer
        stream.start()
        try:
            async for batch in stream.batches():
                first = cast(int, batch[0].seq)  # (numbered: an int)
                await log.append(key, LogBatch(first, tails(batch)))
                stream.logged(first + len(batch))
                if observer is not None:
                    observer.run_events(batch)
                if gap is not None and not stream.finished and (pause := gap()):
                    await asyncio.sleep(pause)  # a busy server: gather events for one write
        finally:
            stop_listening()
            try:
                if handle.abandoned:  # (another worker has the run now: write nothing)
                    await stream.aclose()
                    self._live.pop(key, None)
                else:
                    await self._finish(handle, stream, encoder)
            finally:
                if on_end is not None:
                    on_end(record)

    async def _finish(self, handle: RunHandle, stream: EventStream, encoder: SpecEncoder) -> None:
        """The run's terminal entry (``stop`` chunk or ``error`` event), its final record."""
        record = handle.record
        await stream.aclose()
        if isinstance(stream, LoggedStream):
            stream.flush()  # (what it still held back)
        outcome = stream.outcome
        event, frame = encoder.terminal(outcome)
        seq = stream.next_seq if event is None else stream.next_seq - 1
        head = encoder.chunks.head
        await self.log.append(record.key, LogBatch(seq, [frame[len(head) :]], terminal=True))
        record.status, record.stop_reason = _outcome(outcome.error, stream.result)
        record.answer = _answer(stream.result)
        record.usage = outcome.usage
        record.event_count = stream.next_seq
        record.finished_at = self.clock()
        record.pending_approvals.clear()
        await self.store.update(record)
        self._live.pop(record.key, None)
        handle.finished.set()
        if self.observer is not None:
            self.observer.run_finished(record)
        await self._kept.keep(record)

    # -- finding -----------------------------------------------------------------------------
    async def get(self, owner: str, run_id: str) -> RunRecord:
        record = await self.store.get(owner, run_id)
        handle = self._live.get(record.key)
        if handle is not None and handle.stream is not None:  # (live: counted when asked)
            if isinstance(handle.stream, LoggedStream):
                handle.stream.flush()
            record.event_count = handle.stream.next_seq
        elif not record.finished and record.status != "queued":  # (executed elsewhere)
            record.event_count = await self.log.next_seq(record.key)
        return record

    async def list_runs(self, owner: str, status: RunStatus | None = None) -> list[RunRecord]:
        return await self.store.list(owner, status)

    def spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run ``work`` in the background, kept until it is done (and awaited by ``aclose``)."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def viewers(self, key: str) -> int:
        """How many connections read the run's log now."""
        return self._viewers[key]

    def attach(self, record: RunRecord) -> None:
        """A connection starts reading the run's log (its log is kept while it reads)."""
        self._viewers[record.key] += 1
        if self.observer is not None:
            self.observer.viewer_attached()

    def detach(self, record: RunRecord, *, ended: bool) -> None:
        """That connection is done; ``ended``: it read to the end. A run whose policy is
        ``cancel`` is cancelled when its last viewer leaves before the end."""
        key = record.key
        self._viewers[key] -= 1
        if self.observer is not None:
            self.observer.viewer_detached(ended)
        if self._viewers[key] > 0:
            return
        del self._viewers[key]
        if ended or record.on_disconnect != "cancel":
            return
        handle = self._live.get(key)
        if handle is not None:
            handle.interrupt(RunCancelled(f"run {record.run_id}: its last viewer left"))
        elif self.queue is not None:  # (a worker executes it: tell that worker)
            self.spawn(self._cancel_remote(record))

    async def _cancel_remote(self, record: RunRecord) -> None:
        message = ControlMessage(kind="cancel", sender="its last viewer left")
        try:
            await self.control.send(record.key, message)
        except (MasaiError, NotListening) as exc:
            logger.warning("run %s: its last viewer left, not cancelled: %s", record.run_id, exc)

    def handle(self, record: RunRecord) -> RunHandle | None:
        """The live run behind ``record``, if this process executes it."""
        return self._live.get(record.key)

    def live(self) -> list[RunHandle]:
        return list(self._live.values())

    async def check_cursor(self, record: RunRecord, after: int) -> None:
        """``LogGone`` if the run's log no longer holds what follows ``after``."""
        await self.log.read(record.key, after, idle=0)

    async def follow(
        self, owner: str, run_id: str, after: int = -1, *, idle: float | None = None
    ) -> AsyncIterator[LogBatch]:
        """Batches of log entries after ``after``, then live ones, until the terminal one.
        With ``idle``, an empty batch whenever that long passes quietly (for pings)."""
        record = await self.store.get(owner, run_id)
        while (batch := await self.log.read(record.key, after, idle=idle)) is not None:
            after = batch.last
            yield batch
            if batch.terminal:  # (the end: nothing more to ask the log for)
                return

    # -- acting --------------------------------------------------------------------------------
    async def cancel(
        self, owner: str, run_id: str, *, by: str | None = None, wait: bool = False
    ) -> RunRecord:
        record = await self.store.get(owner, run_id)
        if record.finished:
            raise RunFinished(f"run {run_id} has finished already ({record.status})")
        handle = self._live.get(record.key)
        # Executed by another process: its listener answers once the run has stopped.
        remote_wait = wait and handle is None
        message = ControlMessage(kind="cancel", sender=by, body={"wait": remote_wait})
        try:
            await self.control.send(record.key, message)
        except NotListening:
            raise RunFinished(f"run {run_id} has finished already") from None
        if not wait:
            return record
        # (Bounded: a run stuck in a sync call cannot be stopped sooner than it returns.)
        with contextlib.suppress(TimeoutError):
            if handle is not None:
                await asyncio.wait_for(handle.finished.wait(), CANCEL_WAIT_SECONDS)
            else:  # (answered once stopped, or not listened to: watch its record)
                async with asyncio.timeout(CANCEL_WAIT_SECONDS):
                    while True:
                        record = await self.store.get(owner, run_id)
                        if record.finished:
                            break
                        await asyncio.sleep(0.05)
        return record

    async def approve(
        self,
        owner: str,
        run_id: str,
        tool_call_id: str,
        *,
        approved: bool,
        reason: str | None = None,
        arguments: dict[str, Any] | None = None,
        by: str | None = None,
    ) -> RunRecord:
        record = await self.store.get(owner, run_id)
        if tool_call_id in record.decided_approvals:
            raise ApprovalConflict(f"tool call {tool_call_id} was decided already")
        # (A worker's record may not show a call that waits already: the worker decides.)
        waiting = tool_call_id in record.pending_approvals or self.queue is not None
        if record.finished or not waiting:
            raise ApprovalNotFound(f"no tool call {tool_call_id} is waiting for approval")
        body = {
            "tool_call_id": tool_call_id,
            "approved": approved,
            "reason": reason,
            "arguments": arguments,
        }
        try:
            reply = await self.control.send(
                record.key, ControlMessage(kind="approval", sender=by, body=body)
            )
        except NotListening:
            raise ApprovalNotFound(f"no tool call {tool_call_id} is waiting") from None
        if isinstance(reply, RunRecord):
            return reply
        # Decided in another process (or kept for the worker that takes the run over): the
        # record as it stands, with this decision.
        record = await self.store.get(owner, run_id)
        record.pending_approvals.pop(tool_call_id, None)
        record.decided_approvals.add(tool_call_id)
        return record

    async def aclose(self) -> None:
        """Stop every live run (cancelled) and forget the timers."""
        for handle in self.live():
            handle.interrupt(RunCancelled("the run manager closed"))
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        self._kept.clear()


def _work_of(work: Any, query: str | None) -> Work:
    astream = getattr(work, "initiate_agent_astream", None)
    if callable(astream):
        if not isinstance(query, str) or not query.strip():
            raise ValueError("an agent run needs a non-empty query")
        return lambda ctx: astream(query, "user", context=ctx)
    if not callable(work):
        raise TypeError(f"cannot run {type(work).__name__}: give an agent or a function")
    if query is not None:
        raise TypeError("query is for agents; a function gets the run's context only")
    fn: Work = work
    return fn


def _runner(fn: Work, ctx: RunContext) -> Callable[[], Awaitable[Any]]:
    """The run itself: ``fn(ctx)``, awaited or iterated to its last update (its result)."""

    async def run() -> Any:
        return await last_update(fn(ctx))

    return run
