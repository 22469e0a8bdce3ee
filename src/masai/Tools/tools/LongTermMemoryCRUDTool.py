"""MASAI's import path for the memory tool; the code is in ``masai.longterm``."""

from ...longterm import LongTermMemoryCRUDTool, create_longterm_memory_tool

__all__ = ("LongTermMemoryCRUDTool", "create_longterm_memory_tool")
