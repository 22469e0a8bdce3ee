"""Tools agents can call."""

from ._threads import ToolThreads, current_tool_threads, use_tool_threads
from ._tool import FunctionTool, LangChainTool, Tool, ToolArgumentsError, as_tool, tool

__all__ = (
    "FunctionTool",
    "LangChainTool",
    "Tool",
    "ToolArgumentsError",
    "ToolThreads",
    "as_tool",
    "current_tool_threads",
    "tool",
    "use_tool_threads",
)
