"""The way back: spec SSE text into ``StreamingEvent``s, for Python clients of a masai server
(``masai run --server``) that want the same events a local run gives.

``SSEDecoder`` parses incrementally, by blank lines, as ``EventSource`` does: a read may hold
several frames or part of one. ``decode_chunk`` inverts the spec's delta mapping (``event_delta``).
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from ..events import StreamingEvent

__all__ = ("SSEDecoder", "decode_chunk")

_TOOL = re.compile(r"^\n\[Tool: ([^\]\n]*)\]\n(.*)\n$", re.S)
_NODE = re.compile(r"^\n\[Node: (.*) → (.*)\]\n$", re.S)
_ERROR = re.compile(r"^\n\[Error: (.*)\]\n$", re.S)


class SSEDecoder:
    """Feed it text as it arrives; it returns the ``data`` payloads of complete frames."""

    def __init__(self) -> None:
        self._buffer = ""

    def feed(self, text: str) -> list[str]:
        self._buffer += text.replace("\r\n", "\n")
        *blocks, self._buffer = self._buffer.split("\n\n")
        out = []
        for block in blocks:
            data = [
                line[5:].removeprefix(" ") for line in block.split("\n") if line.startswith("data:")
            ]
            if data:
                out.append("\n".join(data))
        return out


def decode_chunk(payload: str | bytes | dict[str, Any]) -> StreamingEvent | None:
    """The event a spec chunk carries (its JSON, as text, bytes or parsed), or ``None`` for
    the role and stop chunks (and ``[DONE]``)."""
    if isinstance(payload, str | bytes):
        if payload in ("[DONE]", b"[DONE]"):
            return None
        payload = orjson.loads(payload)
    assert isinstance(payload, dict)
    kind = payload.get("event_type")
    if not isinstance(kind, str):
        return None
    choice = (payload.get("choices") or [{}])[0]
    delta: dict[str, Any] = choice.get("delta") or {}
    metadata: dict[str, Any] = dict(payload.get("metadata") or {})
    return StreamingEvent(kind, _data(kind, delta, metadata), metadata)  # type: ignore[arg-type]


def _data(kind: str, delta: dict[str, Any], metadata: dict[str, Any]) -> dict[str, Any]:
    content = str(delta.get("content") or "")
    if kind in ("token", "custom"):
        data: dict[str, Any] = {"content": content}
        if kind == "custom":
            data["custom_data"] = delta.get("custom_data") or {}
        return data
    if kind == "reasoning":
        return {"reasoning": content}
    if kind == "answer":
        return {"answer": content, "satisfied": bool(delta.get("satisfied", True))}
    if kind == "tool_call":
        call = (delta.get("tool_calls") or [{}])[0]
        function = call.get("function") or {}
        arguments = function.get("arguments") or "{}"
        try:
            tool_input: Any = orjson.loads(arguments)
        except orjson.JSONDecodeError:
            tool_input = arguments
        return {"tool_name": function.get("name"), "tool_input": tool_input}
    if kind in ("handoff", "memory_update"):
        return dict(delta.get(kind) or {})
    if kind in ("approval_required", "approval"):
        return {"approval": dict(delta.get("approval") or {})}
    if kind == "retracted":
        retracted = delta.get("retracted") or {}
        return {"from_seq": retracted.get("from_seq"), "to_seq": retracted.get("to_seq")}
    if kind == "usage":
        return dict(delta.get("usage") or {})
    if kind == "tool_output":
        match = _TOOL.match(content)
        name, output = match.groups() if match else (metadata.get("tool_name"), content)
        data = {"tool_name": name, "output": output}
        if metadata.get("is_error"):
            data["is_error"] = True
        return data
    if kind == "node_transition":
        match = _NODE.match(content)
        return dict(zip(("from_node", "to_node"), match.groups(), strict=True)) if match else {}
    if kind == "error":
        match = _ERROR.match(content)
        return {"error": match.group(1) if match else content, "code": metadata.get("error_code")}
    return {"content": content}
