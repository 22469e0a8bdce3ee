"""Backend configurations, with MASAI's field names so MASAI configs load unchanged.

One deliberate difference: ``QdrantConfig.url`` defaults to ``":memory:"``, qdrant-client's
embedded local mode, so long-term memory works with no server at all; a filesystem path (or
``path=``) keeps the memories on disk in the same embedded mode, and ``http(s)://`` reaches a
Qdrant server. MASAI requires a server URL.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ("DedupMode", "QdrantConfig", "RedisConfig")

DedupMode = Literal["none", "similarity", "hash"]


def _dedup_alias(value: object) -> object:
    """MASAI's Redis guide calls hash dedup ``"exact"``; both names mean the same here."""
    return "hash" if value == "exact" else value


class QdrantConfig(BaseModel):
    """Where and how memories are stored in Qdrant.

    ``dedup_mode``: ``"similarity"`` (MASAI's default) overwrites the user's most similar
    memory when its similarity is at least ``dedup_similarity_threshold``; ``"hash"`` makes the
    same text (case and surrounding spaces ignored) the same memory; ``"none"`` keeps every
    save. ``vector_size`` may be left out when the embedding model reports its size.
    ``prefer_async`` is accepted for MASAI compatibility; the adapter is always async.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    url: str = ":memory:"
    path: str | None = None
    api_key: str | None = Field(default=None, repr=False)
    collection_name: str = "masai_memories"
    vector_size: int | None = Field(default=None, gt=0)
    distance: str = "cosine"
    prefer_async: bool = True
    timeout_sec: float | None = Field(default=10.0, gt=0)
    consistency: str | int | None = None
    dedup_mode: DedupMode = "similarity"
    dedup_similarity_threshold: float = Field(default=0.9, ge=0.0, le=1.0)
    embedding_model: Any = None

    _dedup = field_validator("dedup_mode", mode="before")(_dedup_alias)

    @property
    def location(self) -> tuple[Literal["memory", "disk", "server"], str]:
        """Which qdrant-client mode the config selects, and its address."""
        if self.path:
            return "disk", self.path
        if self.url == ":memory:":
            return "memory", self.url
        if self.url.startswith(("http://", "https://")):
            return "server", self.url
        return "disk", self.url


class RedisConfig(BaseModel):
    """MASAI's Redis vector-store settings, accepted so MASAI configs parse, but not a backend
    here: building a ``LongTermMemory`` from it raises ``ConfigError``.

    masai uses Redis for runs and sessions (plain Redis); vector search in Redis needs the
    Redis Stack search module, which most Redis deployments lack, so masai does its
    long-term memory on Qdrant only (embedded, on disk, or a server).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="allow")

    redis_url: str = Field(default="redis://localhost:6379", repr=False)
    index_name: str = "masai_vectors"
    vector_size: int = 384
    distance_metric: str = "cosine"
    embedding_model: Any = None
    dedup_mode: DedupMode = "similarity"
    dedup_similarity_threshold: float = Field(default=0.95, ge=0.0, le=1.0)
    ttl_seconds: int | None = None
    connection_pool_size: int = 10
    socket_timeout: float = 5.0
    socket_connect_timeout: float = 5.0
    socket_keepalive: bool = True
    retry_on_timeout: bool = True
    health_check_interval: int = 30
    batch_size: int = 100
    use_async: bool = True

    _dedup = field_validator("dedup_mode", mode="before")(_dedup_alias)
