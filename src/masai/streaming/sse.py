"""Server-Sent Events framing (WHATWG HTML, "event stream interpretation")."""

from __future__ import annotations

__all__ = ("DONE", "SSE_HEADERS", "comment")

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
