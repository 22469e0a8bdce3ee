"""Long-term memory: per-user memories that persist and are recalled by similarity (Qdrant).

``LongTermMemory(QdrantConfig(embedding_model=HashEmbedder()))`` works offline with no server
(qdrant-client's embedded mode); ``url="http://…"`` uses a Qdrant server. qdrant-client is only
imported when a memory is built (``pip install 'masai[memory]'``). The agent tool
(``LongTermMemoryCRUDTool``) loads on first use, so importing this package for the context
helpers or ``Document`` does not load the agent runtime.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

from ._config import DedupMode, QdrantConfig, RedisConfig
from ._document import Document
from ._embedders import (
    AsyncEmbedder,
    EmbeddingFunction,
    EmbeddingsLike,
    HashEmbedder,
    OpenAIEmbedder,
    resolve_embedder,
)
from ._memory import CategoriesResolver, LongTermMemory, memory_from_config
from ._qdrant import BaseAdapter, QdrantAdapter
from ._user import (
    clear_context,
    get_request_id,
    get_tenant_id,
    get_user_id,
    request_context,
    set_request_id,
    set_tenant_id,
    set_user_id,
)

if _typing.TYPE_CHECKING:
    from ._crud_tool import LongTermMemoryCRUDTool, create_longterm_memory_tool

__all__ = (
    "AsyncEmbedder",
    "BaseAdapter",
    "CategoriesResolver",
    "DedupMode",
    "Document",
    "EmbeddingFunction",
    "EmbeddingsLike",
    "HashEmbedder",
    "LongTermMemory",
    "LongTermMemoryCRUDTool",
    "OpenAIEmbedder",
    "QdrantAdapter",
    "QdrantConfig",
    "RedisConfig",
    "clear_context",
    "create_longterm_memory_tool",
    "get_request_id",
    "get_tenant_id",
    "get_user_id",
    "memory_from_config",
    "request_context",
    "resolve_embedder",
    "set_request_id",
    "set_tenant_id",
    "set_user_id",
)

_LAZY = {"LongTermMemoryCRUDTool", "create_longterm_memory_tool"}


def __getattr__(name: str) -> _typing.Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'masai.longterm' has no attribute {name!r}")
    value = getattr(_importlib.import_module("._crud_tool", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
