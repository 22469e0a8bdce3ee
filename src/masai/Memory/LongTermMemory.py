"""MASAI's import path ``masai.Memory.LongTermMemory``; the code is in ``masai.longterm``."""

from ..longterm import BaseAdapter, LongTermMemory, QdrantAdapter, QdrantConfig, RedisConfig

__all__ = ("BaseAdapter", "LongTermMemory", "QdrantAdapter", "QdrantConfig", "RedisConfig")
