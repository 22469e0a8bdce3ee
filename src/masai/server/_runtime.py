"""What a server holds while it runs: its targets, its caps, its counters and its open runs.

Routes ask it for a run (``open``: owner, session, caps checked), and it tracks every run until
its response ends, which is what lets a shutdown wait for them, then stop the stragglers with a
proper end frame, and what ``/healthz`` reports.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, Literal

from ..agents import RunContext
from ..exceptions import AgentNotFound, ServerShutdown
from ..memory import InMemorySessionStore
from ..models import Message
from ..streaming import (
    EnhancedStreamHandler,
    EventStream,
    OnDisconnect,
    RunHandle,
    RunJob,
    RunRecord,
    Runs,
    SharedBackend,
    open_backend,
)
from ..tooling import ToolThreads
from ._errors import ApiError
from ._limits import RunLease, RunLimiter
from ._metrics import Metrics
from ._pacing import WritePacing
from ._settings import ServerSettings
from ._targets import Registry, Target, work_of

__all__ = ("RUN_ID", "SESSION_ID", "Run", "Runtime", "new_session_id", "run_headers")

logger = logging.getLogger("masai.server")

#: How long streams stopped at a shutdown get to write their last frame.
FINAL_FRAME_GRACE = 2.0


#: A session id a client may choose: 1 to 200 printable ASCII characters without spaces (it
#: travels back in a response header).
SESSION_ID = r"^[!-~]{1,200}$"


#: A run id a client may choose: letters, digits, ``._:-``, 1 to 128 of them (it goes into
#: URLs and headers).
RUN_ID = r"^[A-Za-z0-9._:-]{1,128}$"


def new_session_id() -> str:
    """A session id nobody can guess (it is not a secret, but it must not collide)."""
    return f"sess_{secrets.token_hex(12)}"


def run_headers(record: RunRecord) -> dict[str, str]:
    """What every response about a run says of it: its id, and its session when it has one
    the client may continue."""
    headers = {"X-Masai-Run-Id": record.run_id}
    if record.session_id:
        headers["X-Masai-Session-Id"] = record.session_id
    return headers


class Run:
    """One admitted run, for the route that started it: its record, and its handle when this
    process executes it (not with a shared backend: a worker does)."""

    __slots__ = ("handle", "record", "session_id")

    def __init__(
        self, record: RunRecord, session_id: str | None, handle: RunHandle | None = None
    ) -> None:
        self.record = record
        self.handle = handle
        self.session_id = session_id

    @property
    def stream(self) -> EventStream | None:
        return None if self.handle is None else self.handle.stream

    @property
    def headers(self) -> dict[str, str]:
        return run_headers(self.record)


class Runtime:
    def __init__(self, registry: Registry, settings: ServerSettings) -> None:
        self.registry = registry
        self.settings = settings
        self.limits = RunLimiter(settings)
        self.pacing = WritePacing(settings.write_interval, settings.pacing_load)
        self.tool_threads = ToolThreads(settings.tool_threads)
        #: The shared backend, if the runs are executed by workers.
        self.backend: SharedBackend | None = None
        stores: dict[str, Any] = {}
        if settings.backend:
            self.backend = open_backend(
                settings.backend,
                retention=settings.run_retention,
                session_ttl=settings.session_ttl,
                max_runs=settings.max_runs,
                max_runs_per_principal=settings.max_runs_per_principal,
            )
            registry.use_stores(self.backend.sessions, self.backend.shared)
            stores = self.backend.stores(queue=True)
        self.metrics = Metrics(buffered=self.buffered_events)
        self.runs = Runs(
            observer=self.metrics,
            retention=settings.run_retention if self.backend is None else self.backend.retention,
            max_events=settings.run_log_max_events,
            approval_timeout=settings.approval_timeout,
            max_kept_bytes=settings.run_retention_max_bytes,
            gap=self.pacing.gap,
            **stores,
        )
        self.counts: Counter[str] = Counter()
        self.draining = False
        self._idle = asyncio.Event()
        self._idle.set()
        sessions = registry.manager.sessions
        if (
            self.backend is None and type(sessions) is InMemorySessionStore
        ):  # the default: size it by the settings
            registry.manager.use_sessions(
                InMemorySessionStore(
                    settings.session_max_count,
                    max_bytes=settings.session_max_bytes,
                    ttl=settings.session_ttl,
                )
            )

    def buffered_events(self) -> int:
        """Events emitted by the runs executing here and not yet in their logs."""
        return sum(h.stream.buffered for h in self.runs.live() if h.stream is not None)

    def find(self, name: str | None, kind: Literal["agent", "system"] | None) -> Target:
        try:
            return self.registry.get(name, kind)
        except AgentNotFound as exc:
            raise ApiError(404, str(exc), "not_found") from None

    async def start(
        self,
        handler: EnhancedStreamHandler,
        target: Target,
        query: str,
        *,
        owner: str,
        session_id: str | None,
        entry_agent: str | None = None,
        history: Sequence[Message] | None = None,
        remember: bool = True,
        run_id: str | None = None,
        on_disconnect: OnDisconnect = "cancel",
    ) -> Run:
        """A run of ``target`` for ``owner``, admitted by the caps (or 429/503), started.

        ``session_id`` ``None`` means a fresh session: nothing is shared with anyone."""
        if self.draining:
            raise ApiError(503, "the server is shutting down", "shutting_down")
        lease = self.limits.acquire(owner)
        session = session_id or new_session_id()
        context = RunContext(
            owner=owner,
            session_id=session,
            history=tuple(history) if history is not None else None,
            remember=remember,
        )
        shown = session if remember else None
        if self.runs.queue is not None:  # (a worker executes it)
            try:
                record = await self._enqueue(
                    handler, target, query, context, entry_agent, run_id, on_disconnect, shown
                )
            finally:
                # (The run's end is a worker's: the caps on runs in flight are the shared
                # backend's, checked as it records the run; this server's lease covered the
                # admission and its rates.)
                lease.release()
            return Run(record, shown)
        try:
            handle = await self.runs.start(
                work_of(target, query, entry_agent, self.tool_threads),
                owner=owner,
                run_id=run_id,
                target=target.name,
                handler=handler,
                context=context,
                session_id=shown,
                on_disconnect=on_disconnect,
                on_end=self._ended(lease),
            )
        except BaseException:
            lease.release()
            raise
        self.counts["active"] += 1
        self._idle.clear()
        return Run(handle.record, shown, handle)

    async def _enqueue(
        self,
        handler: EnhancedStreamHandler,
        target: Target,
        query: str,
        context: RunContext,
        entry_agent: str | None,
        run_id: str | None,
        on_disconnect: OnDisconnect,
        shown: str | None,
    ) -> RunRecord:
        """Record the run and queue it for a worker (a shared backend)."""

        def job(record: RunRecord) -> RunJob:
            return RunJob.of(
                record,
                query,
                handler,
                session_id=context.session_id,
                remember=context.remember,
                history=context.history,
                entry_agent=entry_agent,
            )

        return await self.runs.enqueue(
            job,
            owner=context.owner,
            target=target.name,
            handler=handler,
            run_id=run_id,
            session_id=shown,
            on_disconnect=on_disconnect,
        )

    def _ended(self, lease: RunLease) -> Callable[[RunRecord], None]:
        def ended(record: RunRecord) -> None:
            lease.release()
            self.counts["active"] -= 1
            self.counts[record.status] += 1
            if not self.counts["active"]:
                self._idle.set()

        return ended

    async def drain(self, grace: float) -> None:
        """Shut down: take no new runs, let the running ones finish for ``grace`` seconds,
        then stop the rest (each stream then writes its end frame: a ``server_shutdown``
        error) and give them a moment to write it."""
        self.draining = True
        if self.counts["active"]:
            logger.info("waiting up to %gs for %d run(s) to finish", grace, self.counts["active"])
        try:
            await asyncio.wait_for(self._idle.wait(), grace)
            return
        except TimeoutError:
            pass
        live = self.runs.live()
        logger.warning("stopping %d run(s) still going at shutdown", len(live))
        for handle in live:
            handle.interrupt(ServerShutdown("stopped at shutdown"))
        try:
            await asyncio.wait_for(self._idle.wait(), FINAL_FRAME_GRACE)
        except TimeoutError:
            logger.warning("%d run(s) did not stop in time", self.counts["active"])

    def health(self) -> dict[str, Any]:
        runs = {k: self.counts[k] for k in ("active", "completed", "cancelled", "failed")}
        loop = type(asyncio.get_running_loop()).__module__.partition(".")[0]  # uvloop / asyncio
        health: dict[str, Any] = {
            "status": "draining" if self.draining else "ok",
            "runs": runs,
            "event_loop": loop,
            "tool_threads": self.tool_threads.stats(),
        }
        stats = getattr(self.registry.manager.sessions, "stats", None)
        if callable(stats):
            health["sessions"] = stats()
        return health

    async def aclose(self) -> None:
        await self.runs.aclose()
        if self.backend is not None:
            await self.backend.aclose()
        self.tool_threads.shutdown(wait=False)
        await self.registry.aclose()
