"""``OrchestratedMultiAgentNetwork`` beside ``MultiAgentSystem``; see ``masai.systems``."""

from masai.systems import OrchestratedMultiAgentNetwork

__all__ = ("OrchestratedMultiAgentNetwork",)
