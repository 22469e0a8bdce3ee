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
from ..streaming import EnhancedStreamHandler, EventStream
from ..tools import ToolThreads, use_tool_threads
from ._errors import ApiError
from ._limits import RunLease, RunLimiter
from ._pacing import WritePacing
from ._response import Outcome
from ._settings import ServerSettings
from ._targets import Registry, Target

__all__ = ("SESSION_ID", "Outcome", "Run", "Runtime", "new_session_id")

logger = logging.getLogger("masai.server")

#: How long streams stopped at a shutdown get to write their last frame.
FINAL_FRAME_GRACE = 2.0


#: A session id a client may choose: 1 to 200 printable ASCII characters without spaces (it
#: travels back in a response header).
SESSION_ID = r"^[!-~]{1,200}$"


def new_session_id() -> str:
    """A session id nobody can guess (it is not a secret, but it must not collide)."""
    return f"sess_{secrets.token_hex(12)}"


class Run:
    """One admitted run: its stream, and the callback that ends its accounting."""

    __slots__ = ("done", "session_id", "stream")

    def __init__(
        self, stream: EventStream, session_id: str | None, done: Callable[[Outcome], None]
    ) -> None:
        self.stream = stream
        self.session_id = session_id
        #: Call once with how the run ended; idempotent.
        self.done = done

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Masai-Session-Id": self.session_id} if self.session_id else {}


class Runtime:
    def __init__(self, registry: Registry, settings: ServerSettings) -> None:
        self.registry = registry
        self.settings = settings
        self.limits = RunLimiter(settings)
        self.pacing = WritePacing(settings.write_interval, settings.pacing_load)
        self.tool_threads = ToolThreads(settings.tool_threads)
        self.counts: Counter[str] = Counter()
        self.draining = False
        self._streams: set[EventStream] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        sessions = registry.manager.sessions
        if type(sessions) is InMemorySessionStore:  # the default: size it by the settings
            registry.manager.use_sessions(
                InMemorySessionStore(
                    settings.session_max_count,
                    max_bytes=settings.session_max_bytes,
                    ttl=settings.session_ttl,
                )
            )

    def find(self, name: str | None, kind: Literal["agent", "system"] | None) -> Target:
        try:
            return self.registry.get(name, kind)
        except AgentNotFound as exc:
            raise ApiError(404, str(exc), "not_found") from None

    def open(
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
    ) -> Run:
        """A run of ``target`` for ``owner``, admitted by the caps (or 429/503), not started.

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
        pool = self.tool_threads

        async def run() -> Any:
            use_tool_threads(pool)  # (this task's own context)
            final = None
            async for update in target.updates(query, entry_agent=entry_agent, context=context):
                final = update
            return final

        shown = session if remember else None
        stream = handler.open_stream(run, session_id=shown)
        return Run(stream, shown, self._track(stream, lease))

    def _track(self, stream: EventStream, lease: RunLease) -> Callable[[Outcome], None]:
        self.counts["active"] += 1
        self._streams.add(stream)
        self._idle.clear()

        def done(outcome: Outcome) -> None:
            if stream not in self._streams:
                return
            if isinstance(stream.error, ServerShutdown):
                outcome = "cancelled"  # (stopped by us, not failed)
            self._streams.discard(stream)
            lease.release()
            self.counts["active"] -= 1
            self.counts[outcome] += 1
            if not self._streams:
                self._idle.set()

        return done

    async def drain(self, grace: float) -> None:
        """Shut down: take no new runs, let the running ones finish for ``grace`` seconds,
        then stop the rest (each stream then writes its end frame: a ``server_shutdown``
        error) and give them a moment to write it."""
        self.draining = True
        if self._streams:
            logger.info("waiting up to %gs for %d run(s) to finish", grace, len(self._streams))
        try:
            await asyncio.wait_for(self._idle.wait(), grace)
            return
        except TimeoutError:
            pass
        logger.warning("stopping %d run(s) still going at shutdown", len(self._streams))
        for stream in list(self._streams):
            stream.interrupt(ServerShutdown("stopped at shutdown"))
        try:
            await asyncio.wait_for(self._idle.wait(), FINAL_FRAME_GRACE)
        except TimeoutError:
            logger.warning("%d stream(s) could not write their end frame", len(self._streams))

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
        self.tool_threads.shutdown(wait=False)
        await self.registry.aclose()
