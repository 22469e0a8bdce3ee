"""Reading a UI message stream's chunks in tests: the order rules the AI SDK's message builder
relies on (``check_order``), and what a UI would take out of them."""

from __future__ import annotations

from typing import Any

Chunk = dict[str, Any]


def check_order(parts: list[Chunk]) -> None:
    """The rules the SDK's message builder enforces or assumes: a start and one end; text and
    reasoning deltas only inside their open part, every part closed before its step ends;
    tool chunks only for a call announced with its input; steps neither nested nor left open."""
    assert parts[0]["type"] == "start"
    assert parts[-1]["type"] in ("finish", "abort")
    in_step = False
    open_parts: set[tuple[str, str]] = set()
    tools: dict[str, str] = {}  # tool call id -> how far it got
    for part in parts[1:-1]:
        kind = part["type"]
        assert kind not in ("start", "finish", "abort"), part
        if kind == "start-step":
            assert not in_step
            in_step = True
            continue
        if kind == "finish-step":
            assert in_step and not open_parts, open_parts
            in_step = False
            continue
        if kind == "error":
            assert not in_step and parts[-1] == {"type": "finish", "finishReason": "error"}
            continue
        assert in_step, f"{kind} outside a step"
        for prefix in ("text", "reasoning"):
            if kind == f"{prefix}-start":
                assert (prefix, part["id"]) not in open_parts
                open_parts.add((prefix, part["id"]))
            elif kind in (f"{prefix}-delta", f"{prefix}-end"):
                assert (prefix, part["id"]) in open_parts, part
                if kind.endswith("-end"):
                    open_parts.discard((prefix, part["id"]))
        if kind.startswith("tool-"):
            call = part["toolCallId"]
            if kind == "tool-input-start":
                assert call not in tools and part["providerExecuted"] and part["dynamic"]
                tools[call] = "streaming"
            elif kind == "tool-input-delta":
                assert tools[call] == "streaming"
            elif kind == "tool-input-available":
                assert tools[call] == "streaming" and part["providerExecuted"]
                tools[call] = "available"
            else:
                assert tools.get(call) in ("available", "approval"), part
                tools[call] = "approval" if kind == "tool-approval-request" else "done"
    assert not in_step and not open_parts


def of(parts: list[Chunk], kind: str) -> list[Chunk]:
    return [p for p in parts if p["type"] == kind]


def text_of(parts: list[Chunk]) -> str:
    return "".join(p["delta"] for p in of(parts, "text-delta"))


def reasoning_texts(parts: list[Chunk]) -> dict[str, str]:
    texts: dict[str, str] = {}
    for part in of(parts, "reasoning-delta"):
        texts[part["id"]] = texts.get(part["id"], "") + part["delta"]
    return texts


def step_agents(parts: list[Chunk]) -> list[set[str]]:
    """The agents each step's parts come from (``providerMetadata.masai.agent``)."""
    steps: list[set[str]] = []
    for part in parts:
        if part["type"] == "start-step":
            steps.append(set())
        elif agent := part.get("providerMetadata", {}).get("masai", {}).get("agent"):
            steps[-1].add(agent)
    return steps
