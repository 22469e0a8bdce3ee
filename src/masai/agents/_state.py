"""The state of one agent run, and the read-only snapshot of it MASAI code gets after
each node (``initiate_agent_astream`` yields it; ``initiate_agent`` returns the last)."""

from __future__ import annotations

import dataclasses
from typing import Any

from .. import _json
from .._tracing import NOOP, Span
from ..models import Decision, Message
from ..models import ToolCallRequest as _Call
from ._run_context import RunContext

__all__ = ("RunState", "StateSnapshot", "note_repeats", "snapshot")


class StateSnapshot(dict[str, Any]):
    """A read-only copy of the run state after a node (a dict, for MASAI code that expects one)."""

    def _readonly(self, *_: Any, **__: Any) -> Any:
        raise TypeError("a state snapshot is read-only")

    __setitem__ = __delitem__ = _readonly
    clear = pop = popitem = setdefault = update = _readonly
    __ior__ = _readonly


@dataclasses.dataclass(kw_only=True)
class RunState:
    """Everything one run of an agent holds; concurrent runs share nothing else."""

    query: str
    passed_from: str
    ctx: RunContext
    path: tuple[str, ...]
    history: list[Message]
    deadline: float | None
    scratch: list[Message] = dataclasses.field(default_factory=list)
    transcript: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    decision: Decision | None = None
    answer: str = ""
    reasoning: str = ""
    satisfied: bool = False
    current_tool: str | None = None
    tool_input: Any = None
    tool_output: str = ""
    delegate_to_agent: str | None = None
    #: The ids of the decision's calls, when a journal made them (else made as they run).
    call_ids: tuple[str, ...] = ()
    tool_calls: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    reflection_counter: int = 0
    total_tool_calls: int = 0
    steps: int = 0
    stop_reason: str | None = None
    previous_node: str | None = None
    #: What the agent knows beyond the conversation, for every step of this run.
    notes: list[str] | None = None
    tool_decided_by: str | None = None
    #: How often each (tool, input) was called: MASAI's ``max_tool_loop`` warns on repeats.
    repeats: dict[str, int] = dataclasses.field(default_factory=dict)
    tool_loop_counter: int = 0
    #: The run's trace span (``invoke_agent``): its steps' spans are its children.
    span: Span = NOOP


def snapshot(agent: str, run: RunState, node: str) -> StateSnapshot:
    """The state MASAI code reads after a node, as a read-only dict."""
    return StateSnapshot(
        agent=agent,
        current_agent=agent,
        session_id=run.ctx.session_id,
        current_question=run.query,
        passed_from=run.passed_from,
        current_node=node,
        previous_node=run.previous_node,
        reasoning=run.reasoning,
        answer=run.answer,
        satisfied=run.satisfied,
        current_tool=run.current_tool,
        tool_input=run.tool_input,
        tool_output=run.tool_output,
        delegate_to_agent=run.delegate_to_agent,
        tool_calls=tuple(dict(c) for c in run.tool_calls),
        messages=tuple(dict(m) for m in run.transcript),
        reflection_counter=run.reflection_counter,
        tool_loop_counter=run.tool_loop_counter,
        tool_decided_by=run.tool_decided_by,
        plan=None,
        total_tool_calls=run.total_tool_calls,
        steps=run.steps,
        stop_reason=run.stop_reason,
        usage={
            "input_tokens": run.ctx.usage.input_tokens,
            "output_tokens": run.ctx.usage.output_tokens,
        },
    )


def note_repeats(run: RunState, calls: list[_Call], max_tool_loop: int | None) -> None:
    """MASAI's ``max_tool_loop``: advisory, the model is told when it repeats itself."""
    worst = 0
    for call in calls:
        key = f"{call.tool}:{_json.dumps_str(call.tool_input)}"
        run.repeats[key] = count = run.repeats.get(key, 0) + 1
        worst = max(worst, count)
    run.tool_loop_counter = worst
    if max_tool_loop and worst > max_tool_loop:
        run.scratch.append(
            Message(
                "user",
                f"Warning: you called the same tool with the same input {worst} times. "
                "Use what you already have, try something else, or answer.",
            )
        )
