"""One interface for every wire protocol: a run's events → one protocol's frames.

An encoder is made per response. It says how the stream starts (``start``), turns each batch of
events into frames (``events``) and ends it (``end``, given the run's ``Outcome``: a success
with its usage, or a failure with its public message and code). Everything else (which events
a run emits, pacing, pings, disconnects, replay from a cursor) belongs to the caller, so a
protocol is one small class and a route or command is a few lines.

Two sources feed an encoder:

- a live ``EventStream`` (the handler, the CLI): ``encode(stream, encoder)``;
- a run's log (the server, where any process may be executing the run): ``entries(batch)``
  decodes the entries and notes the terminal one (how the run ended), ``finish()`` ends the
  response. The spec encoder overrides both: the log already holds its frames.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from .._updates import unwrap_state
from ..events import StreamingEvent
from ..exceptions import MasaiError
from .sse import SSE_HEADERS

if TYPE_CHECKING:
    from ._log import LogBatch

__all__ = ("Encoder", "Outcome", "ReportedError", "Source", "encode", "error_data")


class ReportedError(MasaiError):
    """A run's failure as its log reports it (its ``error`` event): what a viewer knows of a
    run another process executed. Its message is already the public one."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.public_message = message


class Outcome:
    """How a run ended, the same for every protocol: ``error`` is ``None`` for a success;
    ``result`` is what the run returned (its usage), when this process executed it."""

    __slots__ = ("_usage", "error", "result")

    def __init__(
        self,
        error: BaseException | None = None,
        result: Any = None,
        *,
        usage: dict[str, int] | None = None,
    ) -> None:
        self.error = error
        self.result = result
        self._usage = usage  # (known from the run's record, for a run executed elsewhere)

    @classmethod
    def reported(cls, event: StreamingEvent | None) -> Outcome:
        """From a log's terminal entry: its ``error`` event, or ``None`` (the ``stop`` chunk)."""
        if event is None or event.event_type != "error":
            return cls()
        message = str(event.data.get("error") or MasaiError.public_message)
        return cls(ReportedError(str(event.data.get("code") or MasaiError.code), message))

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def code(self) -> str:
        error = self.error
        return error.code if isinstance(error, MasaiError) else MasaiError.code

    def message(self, debug: bool = False) -> str:
        """What a client may see: the public message (the exception's text with ``debug``)."""
        error = self.error
        if error is None:
            return ""
        if debug and not isinstance(error, ReportedError):
            return f"{type(error).__name__}: {error}"
        return error.public_message if isinstance(error, MasaiError) else MasaiError.public_message

    @property
    def usage(self) -> dict[str, int]:
        """Tokens the run's models used (zeros when unknown)."""
        if self._usage is not None:
            return {k: int(self._usage.get(k, 0)) for k in ("input_tokens", "output_tokens")}
        final: Any = unwrap_state(self.result)
        usage: Any = (final.get("usage") if isinstance(final, dict) else None) or {}
        return {
            "input_tokens": int(usage.get("input_tokens", 0)),
            "output_tokens": int(usage.get("output_tokens", 0)),
        }


class Source(Protocol):
    """A live run an encoder reads (``EventStream`` is one): started and stopped by
    ``async with``, read a batch at a time, with one outcome once finished."""

    @property
    def finished(self) -> bool: ...

    @property
    def outcome(self) -> Outcome: ...

    def batches(self) -> AsyncIterator[list[StreamingEvent]]: ...

    async def __aenter__(self) -> Any: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def error_data(outcome: Outcome, debug: bool = False) -> dict[str, Any]:
    """An ``error`` event's data for a failed outcome."""
    return {"error": outcome.message(debug), "code": outcome.code}


class Encoder(ABC):
    """A run's events as one protocol's frames, for one response.

    Subclasses implement ``start``, ``events`` and ``end``; ``debug`` puts exception text in
    error frames (off by default: clients get the public message, the log the traceback).
    """

    media_type: ClassVar[str] = "text/event-stream"
    #: The protocol reports the run's token usage at its end (a viewer of a run executed in
    #: another process then looks it up in the run's record: ``learn``).
    reports_usage: ClassVar[bool] = True

    def __init__(self, *, debug: bool = False) -> None:
        self.debug = debug
        #: The response is complete although the run goes on (AG-UI ends a response at an
        #: interrupt; another response resumes the run): the writer stops reading here.
        self.done = False
        self._outcome: Outcome | None = None
        self._stream: Source | None = None
        self._usage: dict[str, int] | None = None

    def headers(self) -> dict[str, str]:
        """The response headers the protocol wants (beyond the media type)."""
        return dict(SSE_HEADERS)

    @abstractmethod
    def start(self) -> bytes:
        """What the response opens with."""

    @abstractmethod
    def events(self, batch: Sequence[StreamingEvent]) -> bytes:
        """Frames for consecutive events of the run (may be empty: not every event shows)."""

    @abstractmethod
    def end(self, outcome: Outcome) -> bytes:
        """What the response closes with: the protocol's success or error end."""

    def interrupted(self, error: MasaiError) -> bytes:
        """The last frame of a response that cannot go on (the backend is down): the run
        may still be going, so the protocol's error, not the run's end."""
        return self.end(Outcome(error))

    # -- reading a run's log ------------------------------------------------------------------
    def watch(self, stream: Source | None) -> None:
        """This process executes the run: its outcome (usage included) comes from ``stream``
        rather than from the log's terminal entry alone."""
        self._stream = stream

    @property
    def watching(self) -> bool:
        """The run's own stream is here (``watch``): its outcome is known in full."""
        return self._stream is not None

    def learn(self, usage: dict[str, int] | None) -> None:
        """The run's usage, from its record (for a run executed in another process)."""
        self._usage = usage

    def entries(self, batch: LogBatch) -> bytes:
        """Frames for entries read from the run's log; the terminal one is noted, not shown."""
        events = []
        for entry in batch.entries():
            event = entry.event
            if entry.terminal:
                self._outcome = Outcome.reported(event)
            elif event is not None:
                events.append(event)
        return self.events(events) if events else b""

    @property
    def outcome(self) -> Outcome:
        """How the run ended, once the log's end was read."""
        stream = self._stream
        if stream is not None and stream.finished:
            return stream.outcome
        reported = self._outcome or Outcome()
        return Outcome(reported.error, usage=self._usage)

    def finish(self) -> bytes:
        """The response's end after the log's last entry."""
        return self.end(self.outcome)


async def encode(stream: Source, encoder: Encoder) -> AsyncIterator[bytes]:
    """Run ``stream`` and yield its frames in ``encoder``'s protocol: a start, each batch that
    shows, and the end. Closing the iterator (the client left) cancels the run."""
    async with stream:
        yield encoder.start()
        async for batch in stream.batches():
            if frames := encoder.events(batch):
                yield frames
        yield encoder.end(stream.outcome)
