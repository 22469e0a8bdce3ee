"""MASAI's import path ``masai.Agents`` (``Agent``, and the modules ``singular_agent`` and
``base_agent``); see ``masai.agents``.

A module rather than a folder: ``masai/Agents/`` and ``masai/agents/`` are one folder on the
case-insensitive file systems of macOS and Windows. Its two submodules live in
``Agents_modules/``, where ``__path__`` points the import system, so
``from masai.Agents.singular_agent import Agent`` works as in MASAI.
"""

from pathlib import Path

from masai.agents import Agent

__path__ = [str(Path(__file__).with_name("Agents_modules"))]

__all__ = ("Agent",)
