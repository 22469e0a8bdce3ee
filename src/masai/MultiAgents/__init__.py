"""Compatibility package: the original MASAI's import path (``masai.MultiAgents``)."""

from masai.systems import MultiAgentSystem, SupervisorConfig

__all__ = ("MultiAgentSystem", "SupervisorConfig")
