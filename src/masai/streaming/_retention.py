"""How long finished runs are kept: for their retention period, within a byte budget.

A finished run's record and log stay readable (a client that dropped reads the end) for
``retention`` seconds; all finished runs' logs together hold at most about ``max_bytes``, and
over that the oldest ones nobody is reading are forgotten early (410 from then). A run being
read is never forgotten under its reader. With a shared backend the stores also expire what
they hold by themselves (a worker that dies takes its timers with it); these timers are what
make a finished run go on time in the process that finished it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from typing import Any

from ._log import EventLog
from ._runstore import RunRecord, RunStore

__all__ = ("KeptRuns",)

logger = logging.getLogger("masai.runs")


class KeptRuns:
    """The finished runs one run manager keeps, oldest first, and their expiry timers.

    ``viewers(key)``: how many connections read a run's log now; ``spawn(coroutine)`` runs
    one in the background (the run manager's, so closing it awaits them)."""

    def __init__(
        self,
        store: RunStore,
        log: EventLog,
        *,
        retention: float,
        max_bytes: int,
        viewers: Callable[[str], int],
        spawn: Callable[[Coroutine[Any, Any, Any]], None],
    ) -> None:
        self.store, self.log = store, log
        self.retention, self.max_bytes = retention, max_bytes
        self.viewers, self.spawn = viewers, spawn
        self._kept: OrderedDict[str, tuple[RunRecord, int]] = OrderedDict()
        self._bytes = 0
        self._expiry: dict[str, asyncio.TimerHandle] = {}

    async def keep(self, record: RunRecord) -> None:
        self._expire_later(record, self.retention)
        size = await self.log.size(record.key)
        self._kept[record.key] = (record, size)
        self._bytes += size
        excess = self._bytes - self.max_bytes
        forget = []
        for key, (oldest, kept) in self._kept.items():  # (oldest first; stops once enough)
            if excess <= 0:
                break
            if oldest is not record and not self.viewers(key):
                forget.append(oldest)
                excess -= kept
        for oldest in forget:
            logger.info("forgetting run %s early: kept runs hold too much", oldest.run_id)
            await self.expire(oldest)

    def _expire_later(self, record: RunRecord, delay: float) -> None:
        loop = asyncio.get_running_loop()

        def due() -> None:
            if self.viewers(record.key):  # still being read: look again in a while
                self._expire_later(record, max(min(self.retention, 60.0), 1.0))
            else:
                self.spawn(self.expire(record))

        self._expiry[record.key] = loop.call_later(delay, due)

    async def expire(self, record: RunRecord) -> None:
        timer = self._expiry.pop(record.key, None)
        if timer is not None:
            timer.cancel()
        kept = self._kept.pop(record.key, None)
        if kept is not None:
            self._bytes -= kept[1]
        await self.store.expire(record.owner, record.run_id)
        await self.log.drop(record.key)

    def clear(self) -> None:
        """Forget the timers (the run manager is closing)."""
        for timer in self._expiry.values():
            timer.cancel()
        self._expiry.clear()
