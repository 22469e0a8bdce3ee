"""MASAI's import path ``masai.OMAN``; see ``masai.systems``."""

from masai.systems import OrchestratedMultiAgentNetwork

__all__ = ("OrchestratedMultiAgentNetwork",)
