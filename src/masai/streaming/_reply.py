"""What counts as the reply: the run's final answer, and nothing else.

Every protocol presents one text as the assistant's reply. It is the final answer only:
``token`` events as they stream, and whatever part of the final ``answer`` event they did not
already carry (a limit notice, a model that did not stream). Answers that fed another agent
(``metadata.intermediate``) are not the user's; each protocol puts them where it puts
non-final content (reasoning, data parts, step events). A ``retracted`` event (a worker took
the run over and redid a step) takes back what the withdrawn events added.
"""

from __future__ import annotations

from typing import Any

from ..events import StreamingEvent

__all__ = ("FinalText", "is_intermediate")


def is_intermediate(event: StreamingEvent) -> bool:
    """An answer (or its tokens) that an agent handed on rather than gave the user."""
    return bool(event.metadata.get("intermediate"))


def _seq(event: StreamingEvent) -> Any:
    """The event's ``seq``: numbered by this process's stream, or decoded from a log."""
    seq = event.seq
    return seq if seq is not None else event.metadata.get("seq")


class FinalText:
    """Follows a run's events and says what each adds to the reply text (``feed``)."""

    __slots__ = ("_marks", "_start", "text")

    def __init__(self) -> None:
        #: The reply so far.
        self.text = ""
        self._start = 0  # where the tokens since the last final answer begin in ``text``
        #: Per final token/answer event: (seq, len(text), _start) before it, for ``retract``.
        self._marks: list[tuple[int, int, int]] = []

    def feed(self, event: StreamingEvent) -> str:
        """The text ``event`` adds to the reply ("" for most events)."""
        kind = event.event_type
        if kind == "token":
            if is_intermediate(event):
                return ""
            self._mark(event)
            piece = str(event.data.get("content", ""))
            self.text += piece
            return piece
        if kind == "answer":
            if is_intermediate(event):
                return ""
            self._mark(event)
            answer, streamed = str(event.data.get("answer", "")), self.text[self._start :]
            piece = answer[len(streamed) :] if answer.startswith(streamed) else ""
            self.text += piece
            self._start = len(self.text)
            return piece
        if kind == "retracted":
            self.retract(event.data.get("from_seq"))
        return ""

    def _mark(self, event: StreamingEvent) -> None:
        seq = _seq(event)
        if isinstance(seq, int):
            self._marks.append((seq, len(self.text), self._start))

    def retract(self, from_seq: Any) -> int:
        """Forget what events from ``from_seq`` on added; how many characters that was (text
        already sent stays sent: a protocol shows the cut where it can, e.g. in a final
        ``…done`` event or a stored conversation)."""
        before = None
        while isinstance(from_seq, int) and self._marks and self._marks[-1][0] >= from_seq:
            before = self._marks.pop()
        if before is None:
            return 0
        _, length, self._start = before
        cut = len(self.text) - length
        self.text = self.text[:length]
        return cut
