"""MASAI's import path for memory (``masai.Memory.LongTermMemory``); see ``masai.longterm``."""

from ..longterm import BaseAdapter, LongTermMemory, QdrantAdapter, QdrantConfig, RedisConfig

__all__ = ("BaseAdapter", "LongTermMemory", "QdrantAdapter", "QdrantConfig", "RedisConfig")
