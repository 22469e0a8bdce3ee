"""The spec's protocol behind the one encoder interface: ``chat.completion.chunk`` frames.

The role chunk, a frame per event (``ChunkEncoder`` does the bytes), then the ``stop`` chunk or,
for a failed run, an ``error`` event numbered like any other, then ``data: [DONE]``. A run's log
already holds these frames, so reading it is a copy (with ``id: <seq>`` lines when ``ids``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..events import StreamingEvent
from ..exceptions import MasaiError
from ._encoding import Encoder, Outcome, error_data
from ._openai import ChunkEncoder
from .sse import DONE

if TYPE_CHECKING:
    from .._sinks import Sink
    from ._log import LogBatch
    from ._runstore import RunRecord

__all__ = ("SpecEncoder",)

_DONE = DONE.encode()


class SpecEncoder(Encoder):
    """The spec's chunks for one stream. ``sink``: the run's own stream, when this process
    executes it (events are spliced from pre-serialised parts, and an error ends numbered);
    ``ids``: each event frame preceded by ``id: <seq>`` (the cursor ``EventSource`` resends)."""

    reports_usage = False  # (the spec's chunks carry none)

    def __init__(
        self,
        chunks: ChunkEncoder,
        *,
        sink: Sink | None = None,
        role: str = "assistant",
        ids: bool = False,
        debug: bool = False,
        run_id: str | None = None,
    ) -> None:
        super().__init__(debug=debug)
        self.chunks = chunks
        self.run_id = run_id if run_id is not None else getattr(sink, "run_id", None)
        self._sink = sink
        self.role = role
        self.ids = ids

    @classmethod
    def of_stream(
        cls, sink: Sink, model: str, *, role: str | None = None, debug: bool = False
    ) -> SpecEncoder:
        """For a run streamed by this process (``sink`` is its ``EventStream``)."""
        chunks = ChunkEncoder(model, sink.chunk_id, sink.created, sink=sink)
        return cls(chunks, sink=sink, role=role or "assistant", debug=debug)

    @classmethod
    def of_record(cls, record: RunRecord, *, ids: bool = False) -> SpecEncoder:
        """For a viewer of a run's log (any process may execute the run)."""
        chunks = ChunkEncoder(record.model, f"chatcmpl-{record.run_id}", record.created)
        return cls(chunks, ids=ids, run_id=record.run_id)

    def start(self) -> bytes:
        return self.chunks.chunk({"role": self.role})

    def events(self, batch: Sequence[StreamingEvent]) -> bytes:
        if not self.ids:
            return self.chunks.events(list(batch))
        event = self.chunks.event
        return b"".join([b"id: %d\n%b" % (e.seq or 0, event(e)) for e in batch])

    def terminal(self, outcome: Outcome) -> tuple[StreamingEvent | None, bytes]:
        """The run's last frame (the ``stop`` chunk, or the ``error`` event, numbered by the
        run's stream), and that event."""
        if not outcome.failed:
            return None, self.chunks.chunk({}, "stop")
        identity: dict[str, Any] = self._sink.identity if self._sink is not None else {}
        metadata: dict[str, Any] = {
            **identity,
            "seq": None,
            "agent": None,
            "node": None,
            "agent_path": [],
            "error_code": outcome.code,
        }
        event = StreamingEvent("error", error_data(outcome, self.debug), metadata)
        if self._sink is not None:
            self._sink.stamp(event)
        return event, self.chunks.event(event)

    def end(self, outcome: Outcome) -> bytes:
        return self.terminal(outcome)[1] + _DONE

    def interrupted(self, error: MasaiError) -> bytes:
        """An ``error`` event that is this connection's, not the run's (no ``seq``), and no
        ``[DONE]``: the client reconnects later with its cursor."""
        metadata: dict[str, Any] = {"run_id": self.run_id, "seq": None, "error_code": error.code}
        data = {"error": error.public_message, "code": error.code}
        return self.chunks.event(StreamingEvent("error", data, metadata))

    # -- reading a run's log: its entries are these frames already ---------------------------
    def entries(self, batch: LogBatch) -> bytes:
        if not self.ids:
            return batch.data
        first, head = batch.first, batch.head
        return b"".join([b"id: %d\n%b%b" % (first + i, head, t) for i, t in enumerate(batch.tails)])

    def finish(self) -> bytes:
        return _DONE
