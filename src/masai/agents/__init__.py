"""Agents: the runtime, and MASAI's manager API."""

from ._approvals import (
    ApprovalDecision,
    ApprovalPolicy,
    ApprovalRequest,
    Approvals,
    ApprovalTimeout,
)
from ._details import AgentDetails
from ._journal import Journal, ToolInterrupted
from ._run_context import RunContext, get_run_context
from .agent import Agent, AgentLimits, StateSnapshot
from .manager import AgentManager

__all__ = (
    "Agent",
    "AgentDetails",
    "AgentLimits",
    "AgentManager",
    "ApprovalDecision",
    "ApprovalPolicy",
    "ApprovalRequest",
    "ApprovalTimeout",
    "Approvals",
    "Journal",
    "RunContext",
    "StateSnapshot",
    "ToolInterrupted",
    "get_run_context",
)
