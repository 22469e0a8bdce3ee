"""The original MASAI's import path for ``ToolCache``; see ``masai.tooling``."""

from masai.tooling import ToolCache

__all__ = ("ToolCache",)
