"""Tools agents can call, and the original MASAI's tool utilities (registry, Redis cache)."""

from ._cache import ToolCache
from ._registry import ToolRegistry
from ._threads import ToolThreads, current_tool_threads, use_tool_threads
from ._tool import (
    FunctionTool,
    LangChainTool,
    Tool,
    ToolArgumentsError,
    ToolOutput,
    as_tool,
    tool,
)

__all__ = (
    "FunctionTool",
    "LangChainTool",
    "Tool",
    "ToolArgumentsError",
    "ToolCache",
    "ToolOutput",
    "ToolRegistry",
    "ToolThreads",
    "as_tool",
    "current_tool_threads",
    "tool",
    "use_tool_threads",
)
