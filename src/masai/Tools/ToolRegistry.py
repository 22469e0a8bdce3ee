"""The original MASAI's import path for ``ToolRegistry``; see ``masai.tooling``."""

from masai.tooling import ToolRegistry

__all__ = ("ToolRegistry",)
