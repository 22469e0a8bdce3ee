"""Caps on runs: how many are in flight (per principal and in all) and how fast new ones start.

A run holds a task, a buffer, a model connection and maybe tool threads, so one client must not
be able to start a thousand at once, and the server as a whole must say "later" (429 with a
``Retry-After`` it can keep) rather than slow every run down. Rates are token buckets: a burst
is allowed up to the bucket's size, then ``rate`` per second.
"""

from __future__ import annotations

import math
import time
from collections import Counter

from ._errors import ApiError
from ._settings import ServerSettings

__all__ = ("RunLease", "RunLimiter")


class _Bucket:
    __slots__ = ("at", "burst", "rate", "tokens")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = float(burst)
        self.at = now

    def refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now

    def wait(self) -> float:
        """Seconds until one token is there (0 if there is one now)."""
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


class RunLease:
    """One admitted run; ``release`` (idempotent) gives its place back."""

    __slots__ = ("_limiter", "principal")

    def __init__(self, limiter: RunLimiter, principal: str) -> None:
        self._limiter: RunLimiter | None = limiter
        self.principal = principal

    def release(self) -> None:
        limiter, self._limiter = self._limiter, None
        if limiter is not None:
            limiter._release(self.principal)


class RunLimiter:
    def __init__(self, settings: ServerSettings) -> None:
        self.max_runs = settings.max_runs
        self.max_per_principal = settings.max_runs_per_principal
        self.rate, self.burst = settings.run_rate, settings.run_burst
        self._clock = time.monotonic
        self._global = _Bucket(settings.global_run_rate, settings.global_run_burst, self._clock())
        self._buckets: dict[str, _Bucket] = {}
        self.active: Counter[str] = Counter()
        self.total = 0

    def acquire(self, principal: str) -> RunLease:
        """A lease for one more run, or ``ApiError(429)`` saying when to come back."""
        if self.total >= self.max_runs:
            raise _too_many("the server is running as many runs as it takes", 1.0)
        if self.active[principal] >= self.max_per_principal:
            raise _too_many(f"you have {self.max_per_principal} runs in flight already", 1.0)
        now = self._clock()
        mine = self._buckets.get(principal)
        if mine is None:
            mine = self._buckets[principal] = _Bucket(self.rate, self.burst, now)
        mine.refill(now)
        self._global.refill(now)
        wait = max(mine.wait(), self._global.wait())
        if wait > 0:
            raise _too_many("runs are being started too fast", wait)
        mine.tokens -= 1
        self._global.tokens -= 1
        self.active[principal] += 1
        self.total += 1
        return RunLease(self, principal)

    def _release(self, principal: str) -> None:
        self.total -= 1
        self.active[principal] -= 1
        if not self.active[principal]:
            del self.active[principal]


def _too_many(message: str, retry_after: float) -> ApiError:
    return ApiError(
        429,
        message,
        "too_many_runs",
        headers={"Retry-After": str(max(1, math.ceil(retry_after)))},
    )
