"""The original MASAI's import path for tools (``from masai.Tools import Tool``); see
``masai.tooling``.

The submodules are imported first, so the names below end up bound to the classes, not to the
modules of the same name (``masai.Tools.Tool`` stays importable as a module by its full name).
"""

from .Tool import Tool, ToolCache, tool
from .ToolRegistry import ToolRegistry

__all__ = ("Tool", "ToolCache", "ToolRegistry", "tool")
