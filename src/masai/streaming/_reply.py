"""What counts as the reply: the run's final answer, and nothing else.

Every protocol presents one text as the assistant's reply. It is the final answer only:
``token`` events as they stream, and whatever part of the final ``answer`` event they did not
already carry (a limit notice, a model that did not stream). Answers that fed another agent
(``metadata.intermediate``) are not the user's; each protocol puts them where it puts
non-final content (reasoning, data parts, step events).
"""

from __future__ import annotations

from ..events import StreamingEvent

__all__ = ("FinalText", "is_intermediate")


def is_intermediate(event: StreamingEvent) -> bool:
    """An answer (or its tokens) that an agent handed on rather than gave the user."""
    return bool(event.metadata.get("intermediate"))


class FinalText:
    """Follows a run's events and says what each adds to the reply text (``feed``)."""

    __slots__ = ("_segment", "text")

    def __init__(self) -> None:
        self._segment = ""  # streamed since the last final answer
        #: The reply so far.
        self.text = ""

    def feed(self, event: StreamingEvent) -> str:
        kind = event.event_type
        if kind == "token":
            if is_intermediate(event):
                return ""
            piece = str(event.data.get("content", ""))
            self._segment += piece
        elif kind == "answer":
            if is_intermediate(event):
                return ""
            answer = str(event.data.get("answer", ""))
            piece = answer[len(self._segment) :] if answer.startswith(self._segment) else ""
            self._segment = ""
        else:
            return ""
        self.text += piece
        return piece
