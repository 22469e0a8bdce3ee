"""MASAI's import path for ``BaseAgent`` and its ``State`` (masai has one agent class, whose
state after each node is a read-only dict); see ``masai.agents``."""

from masai.agents import Agent as BaseAgent
from masai.agents import StateSnapshot as State

__all__ = ("BaseAgent", "State")
