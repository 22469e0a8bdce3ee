"""MASAI's import path for ``AgentManager`` and ``AgentDetails``; see ``masai.agents``."""

from masai.agents import AgentDetails, AgentManager

__all__ = ("AgentDetails", "AgentManager")
