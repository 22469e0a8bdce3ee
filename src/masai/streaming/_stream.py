"""One streamed run: its task, its bounded buffer, and the consumer's view of it.

The run executes in its own task whose Context has this stream bound as the sink, so the
caller's Context is never touched (nothing to reset, nothing to leak into a concurrent request
or cut off around a nested stream). The consumer owns the stream: ``aclose()`` cancels the run
and waits for it, shielded from the cancellation that usually triggers it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Container, Sequence
from types import TracebackType
from typing import Any

import anyio

from .. import _tracing
from .._context import _sink_var
from .._sinks import Sink, run_ended, run_started
from .._updates import unwrap_state
from ..events import StreamingEvent, _build, _usage_data
from ..exceptions import RunCancelled, StreamClosed
from ._channel import EventChannel
from ._encoding import Outcome
from ._log import LogWriter
from ._openai import ChunkEncoder

__all__ = ("DEFAULT_MAX_BUFFERED_EVENTS", "EventStream", "LoggedStream")

logger = logging.getLogger("masai.streaming")

DEFAULT_MAX_BUFFERED_EVENTS = 256
#: How long ``aclose`` waits for a cancelled run to unwind before giving up on it (and logging).
CANCEL_GRACE_SECONDS = 5.0


class EventStream(Sink):
    """Runs ``run()`` and yields the events it emits, in order, a batch per wake-up."""

    __slots__ = (
        "_channel",
        "_interrupted",
        "_loop_thread",
        "_run",
        "_task",
        "cancelled",
        "error",
        "loop",
        "result",
    )

    def __init__(
        self,
        run: Callable[[], Awaitable[Any]],
        *,
        accepts: Container[str] | None = None,
        max_buffered_events: int = DEFAULT_MAX_BUFFERED_EVENTS,
        run_id: str | None = None,
        session_id: str | None = None,
        created: int | None = None,
    ) -> None:
        super().__init__(accepts=accepts, run_id=run_id, session_id=session_id, created=created)
        self._run = run
        self._channel: EventChannel[StreamingEvent] = EventChannel(max_buffered_events)
        self.offer = self._channel.offer
        self._task: asyncio.Task[Any] | None = None
        self._interrupted: BaseException | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self.cancelled = False
        #: The exception that ended the run, if it failed (already logged).
        self.error: BaseException | None = None
        #: What ``run()`` returned, once it has.
        self.result: Any = None

    @property
    def peak_buffered(self) -> int:
        return self._channel.peak

    @property
    def buffered(self) -> int:
        """Events emitted and not yet taken by the consumer (a server's buffer depth)."""
        return len(self._channel)

    @property
    def finished(self) -> bool:
        """The run is over: what is buffered is all there will be."""
        return self._channel.closed

    @property
    def outcome(self) -> Outcome:
        """How the run ended (once it has): its error if it failed, and what it returned."""
        error, task = self.error, self._task
        if error is None and task is not None and task.cancelled() and not self.cancelled:
            error = RunCancelled("run cancelled from inside")  # (a cancel from inside fails)
        return Outcome(error, self.result)

    @property
    def task(self) -> asyncio.Task[Any] | None:
        return self._task

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("stream already started")
        self.loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        ctx = contextvars.copy_context()
        ctx.run(_sink_var.set, self)
        self._task = task = self.loop.create_task(self._main(), context=ctx)
        # A task cancelled before it first runs never enters ``_main``: its end must still
        # close the channel, or the consumer would wait for ever.
        task.add_done_callback(self._ended)
        run_started()  # (``_ended`` undoes it: see ``_sinks.unbound_emit``)
        if self._interrupted is not None:  # interrupted before it started
            self.interrupt(self._interrupted)

    def _ended(self, _: asyncio.Task[Any]) -> None:
        run_ended()
        self._channel.close()

    async def _main(self) -> Any:
        # The run's trace span, current in its task: every span of the run descends from it.
        with _tracing.run_span(self.run_id, self.session_id) as span:
            try:
                self.result = await self._run()
                await self._run_usage(self.result)
                return self.result
            except Exception as exc:
                self.error = exc
                span.fail(exc)
                logger.error("run %s failed", self.run_id, exc_info=exc)
                await self._run_usage(None)
                return None
            finally:
                self._channel.close()

    async def _run_usage(self, result: Any) -> None:
        """The run's ``usage`` event (``metadata.scope: "run"``), its last before the end,
        if model calls reported usage to this stream: the totals the run's result reports
        (what ``/v1/chat/completions`` reports too), else the sum of the calls'."""
        counted = self.counted_usage
        if counted is None:
            return
        try:
            final = unwrap_state(result)
            reported = final.get("usage") if isinstance(final, dict) else None
            if isinstance(reported, dict):
                prompt = int(reported.get("input_tokens", 0))
                completion = int(reported.get("output_tokens", 0))
            else:
                prompt, completion = counted
            data = dict(_usage_data(prompt, completion))
            event = _build(self, "usage", data, {"scope": "run"})
            if not self.offer(event):
                await self.send(event)
        except Exception:  # (how the run ended matters more than its total)
            logger.debug("run %s: its usage event was not sent", self.run_id, exc_info=True)

    # -- Sink --------------------------------------------------------------------------------
    async def send(self, event: StreamingEvent) -> None:
        try:
            if not self._channel.put_nowait(event):
                await self._channel.put(event)
        except StreamClosed:
            self._closed_emit(event)

    def send_sync(self, event: StreamingEvent) -> None:
        loop = self.loop
        assert loop is not None, "send_sync before start"
        try:
            if threading.get_ident() == self._loop_thread:
                self._channel.force_put(event)
                return
            waiter: concurrent.futures.Future[None] = concurrent.futures.Future()
            loop.call_soon_threadsafe(self._channel.put_waiting, event, waiter)
            waiter.result()
        except RuntimeError:  # the loop is closed: the stream is long gone
            self._closed_emit(event)
        except StreamClosed:
            self._closed_emit(event)

    def _closed_emit(self, event: StreamingEvent) -> None:
        if self.cancelled:
            raise RunCancelled(f"run {self.run_id} was cancelled")
        logger.debug("dropped %s event emitted after run %s ended", event.event_type, self.run_id)

    # -- consumer ------------------------------------------------------------------------------
    async def __aenter__(self) -> EventStream:
        """Start the run; leaving the block cancels it if it is still going (and waits)."""
        if self._task is None:
            self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def batches(self) -> AsyncIterator[list[StreamingEvent]]:
        """The run's events as they come, each batch what was ready at one wake-up (numbered,
        never empty), until the run is over: the way encoders read, one write per batch.

        ``next_batch`` in a loop, with the channel's steps inlined: when a tool yields after
        every event, every event is a batch, and its two coroutines per batch were 3-4 % of
        the CPU such a stream costs."""
        if type(self).next_batch is not EventStream.next_batch:  # (a subclass's own reading)
            while (batch := await self.next_batch()) is not None:
                if batch:
                    yield batch
            return
        channel, number = self._channel, self.number
        ready, waiter = channel.ready, channel.waiter
        while True:
            batch = ready()
            if batch is None:
                if channel.closed:
                    return
                await waiter()
                continue  # (woken: by events, ``wake()`` or the end; asked again above)
            number(batch)
            yield batch

    async def __aiter__(self) -> AsyncIterator[StreamingEvent]:
        """``async for event in stream``: one event at a time (``batches()`` for bursts)."""
        async for batch in self.batches():
            for event in batch:
                yield event

    async def next_batch(self) -> list[StreamingEvent] | None:
        """The next events in order (numbered now, so ``seq`` is gap-free as delivered), or
        ``None`` when the run is over and everything was delivered. An empty list means only
        that ``wake()`` was called."""
        batch = await self._channel.get_batch()
        if batch:
            self.number(batch)
        return batch

    def logged(self, next_seq: int) -> None:
        """Every event before ``next_seq`` is in the run's log (for streams that wait on it)."""

    def interrupt(self, error: BaseException) -> None:
        """End the run from outside with ``error`` as its outcome (a server shutting down):
        the consumer still gets what was buffered, then the error, then the end."""
        task = self._task
        if task is None:
            self._interrupted = error  # (applied by ``start``)
            return
        if task.done():
            return
        self.error = error
        self.cancelled = True  # (a sync tool emitting after the end is stopped, not ignored)
        task.cancel()

    def wake(self) -> None:
        """Make a waiting ``next_batch()`` return ``[]`` now (for timers such as heartbeats)."""
        self._channel.wake()

    async def aclose(self) -> None:
        """Cancel the run if it is still going and wait for it; idempotent."""
        task = self._task
        if task is None or task.done():
            self._channel.close()
            return
        self.cancelled = True
        self._channel.close(RunCancelled(f"run {self.run_id} was cancelled"))
        task.cancel()
        # The consumer is usually being cancelled itself (client gone); anyio's cancellation is
        # level-triggered, so the wait must be shielded or it would be interrupted at once.
        with anyio.CancelScope(shield=True), anyio.move_on_after(CANCEL_GRACE_SECONDS):
            await asyncio.wait([task])
        if not task.done():
            logger.warning("run %s ignored cancellation for %ss", self.run_id, CANCEL_GRACE_SECONDS)


#: Most events a ``LoggedStream`` holds before it writes them to its log, whoever reads.
FLUSH_AT = 256


class LoggedStream(EventStream):
    """A run's stream whose events go straight into the run's log, with no task in between:
    the emitting task adds each event to a short pending list, and the list is numbered,
    encoded (as one batch) and written to the log when a reader is waiting for it (at once,
    so live viewers see each event the moment it happens), when a reader comes to read (a
    paced viewer gathers what arrived meanwhile), when it holds ``FLUSH_AT`` events, and at the
    end. The log is the buffer (bounded by its window): a run never waits for a viewer. For
    logs that take entries synchronously (``EventLog.writer``); the consumer's
    ``next_batch()`` only says that the run ended."""

    __slots__ = ("_observe", "_open", "_pending", "_writer", "encoder")

    def __init__(
        self,
        run: Callable[[], Awaitable[Any]],
        *,
        model: str,
        accepts: Container[str] | None = None,
        run_id: str | None = None,
        session_id: str | None = None,
        created: int | None = None,
    ) -> None:
        super().__init__(
            run, accepts=accepts, run_id=run_id, session_id=session_id, created=created
        )
        #: Encodes this stream's frames (its ``head`` is what the log keeps once).
        self.encoder = ChunkEncoder(model, self.chunk_id, self.created, sink=self)
        self._writer: LogWriter | None = None
        self._open: LogWriter | None = None  # the writer while the run can still emit
        self._pending: list[StreamingEvent] = []
        self._observe: Callable[[Sequence[StreamingEvent]], None] | None = None
        self.offer = self._log

    def connect(self, writer: LogWriter) -> None:
        """Where entries go; before ``start``."""
        self._writer = self._open = writer
        writer.before_read(self.flush)

    def observe(self, written: Callable[[Sequence[StreamingEvent]], None]) -> None:
        """Also hand each batch written to ``written`` (a run manager's observer)."""
        self._observe = written

    def _ended(self, task: asyncio.Task[Any]) -> None:
        self._open = None
        super()._ended(task)

    def flush(self) -> None:
        """Number, encode and write what is pending."""
        pending = self._pending
        if pending and self._writer is not None:
            self._pending = []
            first = self.next_seq
            self.number(pending)
            self._writer.write(first, self.encoder.tails(pending))
            if self._observe is not None:
                self._observe(pending)

    def _log(self, event: StreamingEvent) -> bool:
        """Every emit's path: keep the event for the next write, or write now if a reader
        waits for it (or enough are pending)."""
        writer = self._open
        if writer is None:
            return False
        pending = self._pending
        pending.append(event)
        if writer.waiting or len(pending) >= FLUSH_AT:
            self.flush()
        return True

    async def send(self, event: StreamingEvent) -> None:
        if not self._log(event):
            self._closed_emit(event)

    def send_sync(self, event: StreamingEvent) -> None:
        loop = self.loop
        assert loop is not None, "send_sync before start"
        if threading.get_ident() == self._loop_thread:
            if not self._log(event):
                self._closed_emit(event)
            return
        # From a worker thread: logged on the loop, in order; the thread waits for it, so an
        # emit after the run ended raises here (``RunCancelled`` stops a cancelled tool).
        logged: concurrent.futures.Future[bool] = concurrent.futures.Future()

        def log() -> None:
            try:
                logged.set_result(self._log(event))
            except BaseException as exc:  # (a writer's error belongs to the emitting thread)
                logged.set_exception(exc)

        try:
            loop.call_soon_threadsafe(log)
        except RuntimeError:  # the loop is closed: the stream is long gone
            self._closed_emit(event)
            return
        if not logged.result():
            self._closed_emit(event)
