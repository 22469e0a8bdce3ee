"""The original MASAI's import path for ``Tool`` and ``@tool``; see ``masai.tooling``."""

from masai.tooling import Tool, ToolCache, tool

__all__ = ("Tool", "ToolCache", "tool")
