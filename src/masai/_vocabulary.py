"""The event vocabulary: every ``event_type`` a run emits, and the shape of its ``data``.

One short file, so the whole vocabulary reads at a glance; ``masai.events`` re-exports it
beside ``StreamingEvent`` and the functions that emit events.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict, get_args

__all__ = (
    "EVENT_TYPES",
    "AnswerData",
    "ApprovalData",
    "ApprovalInfo",
    "ApprovalRequiredData",
    "ApprovalRequiredInfo",
    "CustomData",
    "ErrorData",
    "EventType",
    "HandoffData",
    "MemoryUpdateData",
    "NodeTransitionData",
    "ReasoningData",
    "RetractedData",
    "StateData",
    "TokenData",
    "ToolCallData",
    "ToolOutputData",
    "UsageData",
)

EventType = Literal[
    "state",  # a state snapshot: {reasoning, answer, satisfied}
    "reasoning",  # the model's reasoning for a decision
    "answer",  # the final answer of an agent
    "token",  # a piece of answer text while the model generates it
    "tool_call",  # a tool is being called
    "tool_output",  # a tool returned (or failed)
    "node_transition",  # the agent moved between graph nodes
    "custom",  # anything a tool reports, typically progress
    "handoff",  # one agent handed the task to another
    "memory_update",  # shared memory was written
    "approval_required",  # a tool call waits for a person's approval
    "approval",  # a person approved or denied a tool call
    "retracted",  # events from_seq..to_seq were sent by an interrupted attempt: drop them
    "usage",  # tokens a model call cost (metadata.scope "call") or the run's ("run"); opt-in
    "error",  # the run failed
]
EVENT_TYPES: frozenset[str] = frozenset(get_args(EventType))


class StateData(TypedDict, total=False):
    reasoning: str
    answer: str
    satisfied: bool


class ReasoningData(TypedDict):
    reasoning: str


class AnswerData(TypedDict):
    answer: str
    satisfied: bool


class TokenData(TypedDict):
    content: str


class ToolCallData(TypedDict):
    tool_name: str
    tool_input: Any


class ToolOutputData(TypedDict):
    tool_name: str
    output: str
    is_error: NotRequired[bool]


class NodeTransitionData(TypedDict):
    from_node: str | None
    to_node: str | None


class CustomData(TypedDict):
    content: str
    custom_data: dict[str, Any]


class HandoffData(TypedDict):
    from_agent: str
    to_agent: str
    reason: str


class MemoryUpdateData(TypedDict):
    key: str
    value: Any
    agent: str | None


class ApprovalRequiredInfo(TypedDict):
    tool_call_id: str
    tool_name: str
    #: The call's arguments, validated against the tool's schema (defaults filled in).
    arguments: dict[str, Any]


class ApprovalRequiredData(TypedDict):
    approval: ApprovalRequiredInfo


class ApprovalInfo(TypedDict):
    tool_call_id: str
    tool_name: str
    approved: bool
    reason: str | None
    #: Edited arguments the tool runs with instead; ``None``: as requested.
    arguments: dict[str, Any] | None
    #: Who decided (a principal); ``None`` when no one could be asked.
    decided_by: str | None
    #: When, in seconds since the epoch.
    decided_at: float


class ApprovalData(TypedDict):
    approval: ApprovalInfo


class RetractedData(TypedDict):
    """A resumed run's events from ``from_seq`` on replace those of the interrupted attempt:
    the events ``from_seq`` to ``to_seq`` (inclusive) already sent are to be discarded."""

    from_seq: int
    to_seq: int


class UsageData(TypedDict):
    """Tokens, as chat completions count them. ``metadata.scope`` says whose: ``"call"`` (one
    model call; ``metadata.model`` names the model, ``metadata.agent`` the caller) or
    ``"run"`` (the whole run, every agent's calls; sent once, just before the stream ends)."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ErrorData(TypedDict):
    error: str
    code: NotRequired[str]
