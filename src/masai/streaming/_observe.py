"""What a run manager tells an observer (a server's metrics) as runs go: a small protocol, so
``Runs`` knows nothing of Prometheus and an observer nothing of how runs are kept."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..events import StreamingEvent
from ._runstore import RunRecord

__all__ = ("RunObserver",)


class RunObserver(Protocol):
    """Called from the run manager's own code paths, on its event loop; must not block."""

    def run_started(self, record: RunRecord) -> None:
        """A run began executing in this process."""

    def run_events(self, events: Sequence[StreamingEvent]) -> None:
        """A batch of the run's events reached its log."""

    def run_finished(self, record: RunRecord) -> None:
        """The run ended (``record.status``, ``record.usage`` say how)."""

    def viewer_attached(self) -> None:
        """A connection started reading a run's log."""

    def viewer_detached(self, ended: bool) -> None:
        """That connection is done; ``ended`` False: its client left before the end."""

    def model_call(self, model: str, seconds: float) -> None:
        """One model call of a run executing here took ``seconds``."""
