"""Reading AG-UI streams in tests: the frames of a response, the protocol's sequence rules (the
ones ``@ag-ui/client``'s verifier enforces), and what a client builds from them (the reply, the
state after JSON Patch deltas)."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections import defaultdict
from typing import Any

from tests.support.sse import frames

#: Every event type of AG-UI 1.0 (``@ag-ui/core``'s ``EventType``).
EVENT_TYPES = frozenset(
    [
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_END",
        "TEXT_MESSAGE_CHUNK",
        "TOOL_CALL_START",
        "TOOL_CALL_ARGS",
        "TOOL_CALL_END",
        "TOOL_CALL_CHUNK",
        "TOOL_CALL_RESULT",
        "STATE_SNAPSHOT",
        "STATE_DELTA",
        "MESSAGES_SNAPSHOT",
        "ACTIVITY_SNAPSHOT",
        "ACTIVITY_DELTA",
        "RAW",
        "CUSTOM",
        "RUN_STARTED",
        "RUN_FINISHED",
        "RUN_ERROR",
        "STEP_STARTED",
        "STEP_FINISHED",
        "REASONING_START",
        "REASONING_MESSAGE_START",
        "REASONING_MESSAGE_CONTENT",
        "REASONING_MESSAGE_END",
        "REASONING_MESSAGE_CHUNK",
        "REASONING_END",
        "REASONING_ENCRYPTED_VALUE",
        "SUBAGENT_STARTED",
        "SUBAGENT_FINISHED",
        "SUBAGENT_ERROR",
    ]
)

_OPENERS = {
    "TEXT_MESSAGE_START": ("text", "messageId"),
    "TOOL_CALL_START": ("tool", "toolCallId"),
    "REASONING_START": ("span", "messageId"),
    "REASONING_MESSAGE_START": ("reasoning", "messageId"),
}
_CONTINUATIONS = {
    "TEXT_MESSAGE_CONTENT": ("text", "messageId", False),
    "TEXT_MESSAGE_END": ("text", "messageId", True),
    "TOOL_CALL_ARGS": ("tool", "toolCallId", False),
    "TOOL_CALL_END": ("tool", "toolCallId", True),
    "REASONING_MESSAGE_CONTENT": ("reasoning", "messageId", False),
    "REASONING_MESSAGE_END": ("reasoning", "messageId", True),
    "REASONING_END": ("span", "messageId", True),
}


def agui_events(text: str) -> list[dict[str, Any]]:
    """The events of an AG-UI SSE body (each ``data:`` payload is one JSON object)."""
    return [json.loads(payload) for payload in frames(text)]


def _no_nulls(value: Any, where: str) -> None:
    """The protocol's schemas reject ``null`` where a field may be absent: none are sent."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("value", "snapshot", "result", "arguments", "payload"):
                continue  # (application JSON: a null there is data)
            assert item is not None, f"{where}.{key} is null"
            _no_nulls(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _no_nulls(item, f"{where}[{i}]")


@dataclasses.dataclass
class Verified:
    events: list[dict[str, Any]]
    types: list[str]
    end: dict[str, Any]


def verify(events: list[dict[str, Any]]) -> Verified:
    """Assert the stream is one well-formed run; returns it with its last event."""
    assert events and events[0]["type"] == "RUN_STARTED", events[:1]
    open_: dict[str, dict[str, str | None]] = defaultdict(dict)  # kind -> id -> owner
    steps: set[tuple[str | None, str]] = set()
    subagents: dict[str, bool] = {}  # id -> still running
    for i, event in enumerate(events):
        kind = event["type"]
        where = f"#{i} {kind}"
        assert kind in EVENT_TYPES, where
        assert isinstance(event.get("timestamp"), int), where
        _no_nulls(event, where)
        if kind in ("RUN_FINISHED", "RUN_ERROR"):
            assert i == len(events) - 1, f"{where}: events after the end"
        owner = event.get("subagentRunId")
        if owner is not None and kind != "SUBAGENT_STARTED":
            assert owner in subagents, f"{where}: unknown subagent {owner}"
        if kind in _OPENERS:
            bucket, field = _OPENERS[kind]
            ident = event[field]
            assert ident not in open_[bucket], f"{where}: {ident} is open already"
            open_[bucket][ident] = owner
        elif kind in _CONTINUATIONS:
            bucket, field, closes = _CONTINUATIONS[kind]
            ident = event[field]
            assert ident in open_[bucket], f"{where}: {ident} is not open"
            assert open_[bucket][ident] == owner, f"{where}: {ident} is not {owner}'s"
            if closes:
                del open_[bucket][ident]
        elif kind == "STEP_STARTED":
            assert (owner, event["stepName"]) not in steps, where
            steps.add((owner, event["stepName"]))
        elif kind == "STEP_FINISHED":
            assert (owner, event["stepName"]) in steps, f"{where}: not started"
            steps.discard((owner, event["stepName"]))
        elif kind == "SUBAGENT_STARTED":
            sub, parent = event["subagentRunId"], event.get("parentSubagentRunId")
            assert sub not in subagents, f"{where}: {sub} reused"
            assert parent is None or parent in subagents, where
            subagents[sub] = True
        elif kind == "SUBAGENT_FINISHED":
            assert subagents.get(event["subagentRunId"]), f"{where}: not running"
            subagents[event["subagentRunId"]] = False
        elif kind == "RUN_FINISHED":
            assert not any(open_.values()), f"{where}: still open: {dict(open_)}"
            assert not steps, f"{where}: steps still open: {steps}"
            assert not any(subagents.values()), f"{where}: subagents still running"
    end = events[-1]
    assert end["type"] in ("RUN_FINISHED", "RUN_ERROR"), "the stream has no end"
    return Verified(events, [e["type"] for e in events], end)


def reply_text(events: list[dict[str, Any]]) -> tuple[set[str], str]:
    """The assistant text messages' ids, and their text (what a client shows as the reply)."""
    ids = {e["messageId"] for e in events if e["type"] == "TEXT_MESSAGE_START"}
    text = "".join(e["delta"] for e in events if e["type"] == "TEXT_MESSAGE_CONTENT")
    return ids, text


def apply_state(events: list[dict[str, Any]], state: Any = None) -> Any:
    """The state a client holds after the stream's snapshots and deltas (RFC 6902 add,
    replace and remove on objects, which is what masai sends)."""
    for event in events:
        if event["type"] == "STATE_SNAPSHOT":
            state = copy.deepcopy(event["snapshot"])
        elif event["type"] == "STATE_DELTA":
            for op in event["delta"]:
                parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
                target = state
                for part in parts[:-1]:
                    target = target[part]
                if op["op"] == "remove":
                    del target[parts[-1]]
                else:
                    if op["op"] == "replace":
                        assert parts[-1] in target, f"replace of a missing {op['path']}"
                    target[parts[-1]] = copy.deepcopy(op["value"])
    return state
