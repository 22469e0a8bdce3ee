"""How far apart writes to one stream should be, from how busy this server process is.

A write per event costs the server a syscall and every client a read and a parse. While the
process has CPU to spare that is the right price: each event goes out the moment it is ready.
Once it is busy (at least ``load`` of one CPU for two tenths of a second in a row, or events
waiting ``late`` seconds or more for an unpaced write: the server is falling behind), writes to each
stream are spaced ``interval`` apart and whatever arrives meanwhile shares the next write, which
is how a saturated server keeps its latency flat instead of queueing. It stops pacing when the
load falls below half that (hysteresis, so it does not flap at the threshold).
"""

from __future__ import annotations

import time

__all__ = ("WritePacing",)


class WritePacing:
    __slots__ = ("_busy", "_cpu", "_hot", "_since", "interval", "late", "load", "period")

    def __init__(
        self, interval: float, load: float = 0.5, period: float = 0.1, late: float = 0.005
    ) -> None:
        if interval < 0 or load < 0 or period <= 0 or late <= 0:
            raise ValueError("write_interval and pacing_load must be >= 0; period, late > 0")
        self.interval = interval
        #: An event that waited this long for its write, unpaced, means the server is behind.
        self.late = late
        #: Fraction of one CPU from which writes are paced; 0 paces always.
        self.load = load
        self.period = period
        self._busy = False
        self._hot = False  # the last period was over the load
        self._since = time.monotonic()
        self._cpu = time.process_time()

    def gap(self) -> float:
        """The least time between two writes to one stream, now: ``interval`` or 0."""
        if not self.interval or not self.load:
            return self.interval
        now = time.monotonic()
        if now - self._since >= self.period:  # sampled on demand: no timer, no task
            cpu = time.process_time()
            used = (cpu - self._cpu) / (now - self._since)
            if self._busy:
                self._busy = used >= self.load / 2
            else:  # two periods in a row: a burst (say, a run starting) is not a busy server
                self._busy = self._hot and used >= self.load
            self._hot = used >= self.load
            self._since, self._cpu = now, cpu
        return self.interval if self._busy else 0.0

    def waited(self, seconds: float) -> None:
        """An event waited ``seconds`` between its emit and an unpaced write: queueing, if
        long. That is the first sign of a server falling behind (the load average needs two
        periods to show it), so it starts pacing at once, for at least a period."""
        if seconds >= self.late and self.interval and not self._busy:
            self._busy = self._hot = True
            self._since, self._cpu = time.monotonic(), time.process_time()
