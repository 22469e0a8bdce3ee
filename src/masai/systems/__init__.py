"""Multi-agent systems: decentralized hand-offs, sequential and hierarchical workflows."""

from ._run import END
from .mas import MultiAgentSystem, SupervisorConfig

__all__ = ("END", "MultiAgentSystem", "SupervisorConfig")
