"""Tools agents can call."""

from ._tool import FunctionTool, LangChainTool, Tool, ToolArgumentsError, as_tool, tool

__all__ = ("FunctionTool", "LangChainTool", "Tool", "ToolArgumentsError", "as_tool", "tool")
