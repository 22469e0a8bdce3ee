"""The agent's side of human approval: decide whether a tool call needs a person, ask through
the run's ``Approvals`` channel, and stream the question and the answer.

Called inside the call's tool scope, right after its ``tool_call`` event, so both events carry
the call's ``tool_call_id``. A call that needs approval never runs without one: with no channel
to ask through it is denied.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

from .._json import to_jsonable
from ..events import emit_event
from ..tooling import Tool, ToolArgumentsError
from ._approvals import ApprovalDecision, ApprovalPolicy, ApprovalRequest, Approvals

__all__ = ("NO_APPROVER", "Gate", "approve", "denial_message")

logger = logging.getLogger("masai.agents")

#: The reason a call is denied when the run has no ``Approvals`` channel.
NO_APPROVER = "no one can approve tool calls in this run"


@dataclasses.dataclass(frozen=True, slots=True)
class Gate:
    """What comes of asking: run the tool with ``tool_input``, or (``refusal`` set) do not
    run it and give the model ``refusal`` as the call's (failed) result."""

    tool_input: Any
    refusal: str | None = None


async def approve(
    tool: Tool,
    call_id: str,
    tool_input: Any,
    *,
    approvals: Approvals | None,
    policy: ApprovalPolicy | None,
) -> Gate:
    """Ask for approval of one call if the tool or the agent's policy wants it.

    ``ApprovalTimeout`` from the channel and cancellation of the wait propagate. A call whose
    arguments do not fit the tool's schema is not put to anyone: it could not run anyway, and
    it fails with the argument error the model can correct.
    """
    if not tool.requires_approval and policy is None:
        return Gate(tool_input)
    try:
        arguments = tool.parse_arguments(tool_input)
    except ToolArgumentsError as exc:
        return Gate(tool_input, refusal=str(exc))
    if not tool.requires_approval and not _policy_asks(policy, tool.name, arguments):
        return Gate(tool_input)
    shown = to_jsonable(arguments)
    metadata = {"tool_name": tool.name}
    waiting: asyncio.Future[ApprovalDecision] | None = None
    if approvals is not None:  # asked first: a decision may come the moment the event shows
        waiting = approvals.ask(
            ApprovalRequest(
                tool_call_id=call_id,
                tool_name=tool.name,
                arguments=shown,
                timeout=tool.approval_timeout,
                validate=tool.parse_arguments,
            )
        )
    try:
        await emit_event(
            "approval_required",
            {"approval": {"tool_call_id": call_id, "tool_name": tool.name, "arguments": shown}},
            metadata,
        )
        if waiting is None:
            logger.warning("tool call %s (%s) denied: %s", call_id, tool.name, NO_APPROVER)
            decision = ApprovalDecision(approved=False, reason=NO_APPROVER)
        else:
            decision = await waiting
    finally:
        if waiting is not None:
            waiting.cancel()  # (withdraws the request if it is still open; else a no-op)
    await emit_event("approval", {"approval": _record(call_id, tool.name, decision)}, metadata)
    if not decision.approved:
        return Gate(None, refusal=denial_message(tool.name, decision.reason))
    return Gate(decision.arguments if decision.arguments is not None else tool_input)


def denial_message(tool_name: str, reason: str | None) -> str:
    """The denied call's result, as the model reads it."""
    if reason == NO_APPROVER:
        return f"{tool_name} was not run: it needs a person's approval, and {NO_APPROVER}."
    text = f"{tool_name} was not run: the user denied it."
    return f"{text} Reason: {reason}" if reason else text


def _policy_asks(policy: ApprovalPolicy | None, tool_name: str, arguments: dict[str, Any]) -> bool:
    if policy is None:
        return False
    try:
        return bool(policy(tool_name, arguments))
    except Exception:
        # A policy that cannot decide must not let the call through unapproved.
        logger.exception("approval policy failed for tool %s; asking for approval", tool_name)
        return True


def _record(call_id: str, tool_name: str, decision: ApprovalDecision) -> dict[str, Any]:
    return {
        "tool_call_id": call_id,
        "tool_name": tool_name,
        "approved": decision.approved,
        "reason": decision.reason,
        "arguments": None if decision.arguments is None else to_jsonable(decision.arguments),
        "decided_by": decision.decided_by,
        "decided_at": decision.decided_at,
    }
