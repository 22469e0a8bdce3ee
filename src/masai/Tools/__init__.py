"""The original MASAI's import path for tools (``from masai.Tools import Tool``); see
``masai.tooling``."""

from masai.tooling import Tool, ToolCache, ToolRegistry, tool
from masai.tooling._compat import keep_reexports as _keep_reexports

__all__ = ("Tool", "ToolCache", "ToolRegistry", "tool")

_keep_reexports(__name__)  # ``Tool`` stays the class once ``masai.Tools.Tool`` is imported
