"""MASAI's import path for ``OrchestratedMultiAgentNetwork``; see ``masai.systems``."""

from masai.systems import OrchestratedMultiAgentNetwork

__all__ = ("OrchestratedMultiAgentNetwork",)
