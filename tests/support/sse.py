"""Parse SSE text the way a browser does (enough for tests): frames split on blank lines."""

from __future__ import annotations

import json
from typing import Any


def frames(text: str) -> list[str]:
    """The ``data`` payload of each message (comments skipped)."""
    out = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        data = [
            line[5:].removeprefix(" ") for line in block.split("\n") if line.startswith("data:")
        ]
        if data:
            out.append("\n".join(data))
    return out


def chunks(text: str) -> list[dict[str, Any]]:
    """Every JSON chunk; asserts the stream ends with exactly one ``[DONE]``."""
    payloads = frames(text)
    assert payloads and payloads[-1] == "[DONE]", payloads[-3:]
    assert payloads.count("[DONE]") == 1
    return [json.loads(p) for p in payloads[:-1]]


def events(text: str) -> list[dict[str, Any]]:
    """Only the chunks that carry an event (not the role and stop chunks)."""
    return [c for c in chunks(text) if "event_type" in c]
