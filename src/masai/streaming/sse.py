"""Server-Sent Events framing (WHATWG HTML, "event stream interpretation")."""

from __future__ import annotations

__all__ = ("DONE", "SSE_HEADERS", "comment", "frame")

#: The OpenAI stream terminator.
DONE = "data: [DONE]\n\n"

#: Headers for an event stream: no caching, no proxy buffering (nginx honours X-Accel-Buffering).
SSE_HEADERS: dict[str, str] = {
    "Cache-Control": "no-cache, no-transform",
    "Pragma": "no-cache",
    "Connection": "keep-alive",
    "X-Accel-Buffering": "no",
}


def comment(text: str = "") -> str:
    """A comment line, ignored by clients: keeps idle connections and proxies alive."""
    return "".join(f": {line}\n" for line in (text.splitlines() or [""])) + "\n"


def frame(data: str, *, event: str | None = None, id: str | None = None) -> str:
    """One SSE message; multi-line data becomes several ``data:`` lines, as the spec requires."""
    parts = []
    if event is not None:
        parts.append(f"event: {_one_line(event)}\n")
    if id is not None:
        parts.append(f"id: {_one_line(id)}\n")
    parts.extend(f"data: {line}\n" for line in data.split("\n"))
    parts.append("\n")
    return "".join(parts)


def _one_line(value: str) -> str:
    if "\n" in value or "\r" in value:
        raise ValueError("SSE field values cannot contain line breaks")
    return value
