"""Human approval of tool calls: what an agent asks, what a person answers, and who carries it.

The agent layer only knows the ``Approvals`` protocol: it asks and waits. Whatever can reach a
person (a server's run manager, a terminal prompt) implements it and is set on the run's
``RunContext.approvals``. An agent with no such channel denies the call rather than run it
unapproved: a tool marked as needing a person never runs without one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from typing import Any, Protocol

from ..exceptions import MasaiError

__all__ = (
    "ApprovalDecision",
    "ApprovalPolicy",
    "ApprovalRequest",
    "ApprovalTimeout",
    "Approvals",
)

#: Per agent: ``(tool name, arguments) -> True`` when the call needs a person's approval.
ApprovalPolicy = Callable[[str, dict[str, Any]], bool]


class ApprovalTimeout(MasaiError):
    """Nobody decided on a tool call within its approval timeout; the run ends."""

    public_message = "No one approved or denied the tool call in time; the run was stopped."
    code = "approval_timeout"


@dataclasses.dataclass(frozen=True, kw_only=True)
class ApprovalRequest:
    """A tool call waiting for a decision."""

    tool_call_id: str
    tool_name: str
    #: The call's arguments, validated against the tool's schema, as plain JSON values.
    arguments: dict[str, Any]
    #: Seconds to wait for a decision; ``None``: the channel's default.
    timeout: float | None
    #: Checks edited arguments against the tool's schema: returns them parsed, or raises
    #: ``ToolArgumentsError`` (the decision is then refused and the call keeps waiting).
    validate: Callable[[Any], dict[str, Any]]


@dataclasses.dataclass(frozen=True, kw_only=True)
class ApprovalDecision:
    """A person's answer to an ``ApprovalRequest``."""

    approved: bool
    reason: str | None = None
    #: Edited arguments (already validated), or ``None`` to run the call as requested.
    arguments: dict[str, Any] | None = None
    #: Who decided (a principal), for the record.
    decided_by: str | None = None
    decided_at: float = dataclasses.field(default_factory=time.time)


class Approvals(Protocol):
    """A channel to whoever approves tool calls for one run."""

    def ask(self, request: ApprovalRequest) -> asyncio.Future[ApprovalDecision]:
        """Put ``request`` to whoever decides, now, and return the future of the decision.

        The agent asks before it streams ``approval_required``, so a decision can never
        arrive for a call the channel does not know yet. The future fails with
        ``ApprovalTimeout`` when no decision comes in time; cancelling it (the run was
        cancelled) withdraws the request. The agent streams ``approval`` with the decision; a
        channel need not emit either event.
        """
        ...
