"""Multi-agent systems: decentralized hand-offs, sequential and hierarchical workflows, and
MASAI's network of systems (OMAN)."""

from ._run import END
from .mas import MultiAgentSystem, SupervisorConfig
from .oman import OrchestratedMultiAgentNetwork

__all__ = ("END", "MultiAgentSystem", "OrchestratedMultiAgentNetwork", "SupervisorConfig")
