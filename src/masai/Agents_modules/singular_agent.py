"""MASAI's import path for ``Agent``; see ``masai.agents``."""

from masai.agents import Agent

__all__ = ("Agent",)
