"""Every store a process needs, from one backend URL: ``redis://…`` for a shared backend.

The in-process backend is the default (``Runs()`` with nothing given): one process, nothing
to run beside it. A shared backend puts runs, their logs, control messages, checkpoints, the
run queue, conversation memory and multi-agent shared memory on one Redis, so any number of
API servers and workers act as one system.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigError

if TYPE_CHECKING:  # (redis is imported by the processes that use it, not by every server)
    from ._redis import RedisBackend
    from ._redis_control import RedisControl
    from ._redis_journal import RedisJournalStore
    from ._redis_log import RedisEventLog
    from ._redis_memory import RedisSessionStore, RedisSharedStore
    from ._redis_queue import RedisRunQueue
    from ._redis_store import RedisRunStore

__all__ = ("MIN_SHARED_RETENTION", "SharedBackend", "open_backend")

#: Seconds a finished run is kept at least, with a shared backend: its viewers are in other
#: processes than the one that executed it (which cannot see them reading), and they must
#: still find its record and its log's end once it finished (``--run-retention 0``).
MIN_SHARED_RETENTION = 5.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class SharedBackend:
    """The Redis implementations of every storage interface, over one client."""

    redis: RedisBackend
    store: RedisRunStore
    log: RedisEventLog
    control: RedisControl
    queue: RedisRunQueue
    journals: RedisJournalStore
    sessions: RedisSessionStore
    shared: RedisSharedStore
    #: How long finished runs are kept (at least ``MIN_SHARED_RETENTION``): the run managers
    #: sharing this backend use it too.
    retention: float

    @property
    def url(self) -> str:
        """Where it is, password hidden."""
        return self.redis.url

    def stores(self, *, queue: bool) -> dict[str, Any]:
        """The run manager's storage, as ``Runs(**backend.stores(queue=…))`` takes it: with
        the queue for an API server (it queues the runs it starts), without for a worker (it
        executes them)."""
        stores: dict[str, Any] = {"store": self.store, "log": self.log, "control": self.control}
        if queue:
            stores["queue"] = self.queue
        return stores

    async def ping(self) -> bool:
        return await self.redis.ping()

    async def aclose(self) -> None:
        await self.control.aclose()
        await self.redis.aclose()


def open_backend(
    url: str,
    *,
    retention: float = 600.0,
    lease: float = 10.0,
    prefix: str = "masai:",
    session_ttl: float | None = None,
    max_runs: int | None = None,
    max_runs_per_principal: int | None = None,
) -> SharedBackend:
    """The shared backend at ``url`` (no connection is made until first use). ``max_runs``
    and ``max_runs_per_principal`` cap the runs in flight across every process sharing it
    (checked where runs are created: the API servers)."""
    from ._redis import connect
    from ._redis_control import RedisControl
    from ._redis_journal import RedisJournalStore
    from ._redis_log import RedisEventLog
    from ._redis_memory import RedisSessionStore, RedisSharedStore
    from ._redis_queue import RedisRunQueue
    from ._redis_store import RedisRunStore

    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(f"unsupported backend {scheme or url[:10]!r}: give a redis:// URL")
    redis = connect(url, prefix=prefix)
    kept = max(retention, MIN_SHARED_RETENTION)
    return SharedBackend(
        redis=redis,
        store=RedisRunStore(
            redis,
            retention=kept,
            max_active=max_runs,
            max_active_per_owner=max_runs_per_principal,
        ),
        log=RedisEventLog(redis, retention=kept),
        control=RedisControl(redis),
        queue=RedisRunQueue(redis, lease=lease),
        journals=RedisJournalStore(redis),
        sessions=RedisSessionStore(redis)
        if session_ttl is None
        else RedisSessionStore(redis, ttl=session_ttl),
        shared=RedisSharedStore(redis),
        retention=kept,
    )
