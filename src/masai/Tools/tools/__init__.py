"""MASAI's import path ``masai.Tools.tools``; the memory tool is in ``masai.longterm``."""

from ...longterm import LongTermMemoryCRUDTool, create_longterm_memory_tool

__all__ = ("LongTermMemoryCRUDTool", "create_longterm_memory_tool")
