"""The spec's import path for ``MultiAgentSystem``; see ``masai.systems``."""

from masai.systems import MultiAgentSystem, SupervisorConfig

__all__ = ("MultiAgentSystem", "SupervisorConfig")
