"""``LongTermMemory``: per-user persistent memories, found again by similarity.

It turns what callers save (texts, dicts, ``Document``s) into documents with categories,
embeds them with the configured model, and hands vectors to a storage adapter (Qdrant).
Writes for one user are serialised by a per-user lock, so similarity dedup (read the closest
memory, then overwrite it) cannot race with another write of the same user; reads take no lock.

Inside a masai run every operation emits one ``custom`` event (``"[Memory: recalled 3
documents]"``, data ``{"long_term_memory": {"op", "user_id", "count", ...}}``) so a client can
show that memory was used. The event carries counts, ids and the search query, never the
memories' text.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from ..events import emit_custom_event
from ..exceptions import ConfigError
from ._config import QdrantConfig, RedisConfig
from ._document import Document, to_document
from ._embedders import AsyncEmbedder, resolve_embedder
from ._qdrant import BaseAdapter, QdrantAdapter

__all__ = ("CategoriesResolver", "LongTermMemory", "memory_from_config")

logger = logging.getLogger("masai.longterm")

CategoriesResolver = Callable[[Document], "list[str] | None"]

_REDIS_UNSUPPORTED = (
    "RedisConfig is not a long-term memory backend in masai: vector search in Redis needs the "
    "Redis Stack search module (masai's Redis support is for runs and sessions). "
    "Use QdrantConfig() instead (embedded ':memory:', a directory path, or a Qdrant server URL)."
)


def _config(backend_config: QdrantConfig | RedisConfig | Mapping[str, Any]) -> QdrantConfig:
    if isinstance(backend_config, QdrantConfig):
        return backend_config
    if isinstance(backend_config, RedisConfig):
        raise ConfigError(_REDIS_UNSUPPORTED)
    if isinstance(backend_config, Mapping):
        if "redis_url" in backend_config or "index_name" in backend_config:
            raise ConfigError(_REDIS_UNSUPPORTED)
        try:
            return QdrantConfig(**backend_config)
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            raise ConfigError(f"invalid long-term memory config: {exc}") from exc
    raise ConfigError(
        f"backend_config must be QdrantConfig or a dict, got {type(backend_config).__name__}"
    )


class _UserLocks:
    """One ``asyncio.Lock`` per user, dropped when nobody holds or waits for it, so a server
    that sees millions of users keeps locks only for those writing right now."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def __len__(self) -> int:
        return len(self._locks)

    @contextlib.asynccontextmanager
    async def hold(self, user_id: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(user_id, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[user_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            _, users = self._locks[user_id]
            if users <= 1:
                del self._locks[user_id]
            else:
                self._locks[user_id] = (lock, users - 1)


def _plural(n: int) -> str:
    return f"{n} document" if n == 1 else f"{n} documents"


class LongTermMemory:
    """Persistent memories per user on Qdrant (see the module docstring).

    ``backend_config``: a ``QdrantConfig`` or a dict of its fields (MASAI's names); a
    ``RedisConfig`` raises ``ConfigError``. ``categories_resolver(doc)`` gives the categories
    of a document saved without ``metadata["categories"]``.
    """

    def __init__(
        self,
        backend_config: QdrantConfig | RedisConfig | Mapping[str, Any],
        categories_resolver: CategoriesResolver | None = None,
        *,
        adapter: BaseAdapter | None = None,
    ) -> None:
        self.cfg = _config(backend_config)
        self.backend_type = "qdrant"
        self.categories_resolver = categories_resolver
        self.embedder: AsyncEmbedder = resolve_embedder(self.cfg.embedding_model)
        size = self.cfg.vector_size or self.embedder.dimension
        if size is None:
            raise ConfigError(
                "QdrantConfig.vector_size is required: the embedding model does not report "
                "its dimension (set vector_size to the length of its vectors)"
            )
        if self.embedder.dimension and self.cfg.vector_size not in (None, self.embedder.dimension):
            raise ConfigError(
                f"vector_size={self.cfg.vector_size} but the embedding model makes "
                f"{self.embedder.dimension}-dimensional vectors"
            )
        self.vector_size = size
        self.adapter: BaseAdapter = adapter or QdrantAdapter(self.cfg, vector_size=size)
        self._locks = _UserLocks()

    # -- the runtime's surface -----------------------------------------------------------

    async def save(
        self,
        user_id: str | int,
        documents: Sequence[Document | str | Mapping[str, Any]],
    ) -> None:
        """Embed and store documents for ``user_id`` (deduplicated per ``dedup_mode``)."""
        await self.upsert_documents(user_id, documents)

    async def search(
        self,
        user_id: str | int,
        query: str,
        k: int = 5,
        categories: list[str] | None = None,
    ) -> list[Document]:
        """The ``k`` memories of ``user_id`` most similar to ``query``, best first; each has
        ``metadata["doc_id"]`` and ``metadata["score"]``. ``categories``: any of them."""
        uid = _user(user_id)
        vector = await self.embedder.embed_query(query)
        self._check(vector)
        found = await self.adapter.search(uid, vector, max(1, int(k)), categories or None)
        await self._event(f"recalled {_plural(len(found))}", "search", uid, len(found), query=query)
        return found

    # -- more of MASAI's documented calls --------------------------------------------------

    async def upsert_documents(
        self,
        user_id: str | int,
        documents: Sequence[Document | str | Mapping[str, Any]],
        embed_fn: Any = None,
    ) -> list[str]:
        """``save`` that returns the stored ``doc_id``s. ``embed_fn`` (MASAI's signature)
        embeds this call's documents instead of the configured model."""
        uid = _user(user_id)
        if isinstance(documents, str | Document | Mapping):
            documents = [documents]  # a lone document, not a sequence of characters/keys
        docs = [self._prepare(to_document(d)) for d in documents]
        if not docs:
            return []
        embedder = self.embedder if embed_fn is None else resolve_embedder(embed_fn)
        vectors = await embedder.embed_documents([d.page_content for d in docs])
        for vector in vectors:
            self._check(vector)
        async with self._locks.hold(uid):
            ids = await self.adapter.upsert_documents(uid, docs, vectors)
        await self._event(f"saved {_plural(len(ids))}", "save", uid, len(ids), doc_ids=ids)
        return ids

    async def update(
        self, user_id: str | int, doc_id: str, document: Document | str | Mapping[str, Any]
    ) -> bool:
        """Replace the text and metadata of one memory, keeping its ``doc_id``; ``False`` if
        the user has no memory with that id."""
        uid = _user(user_id)
        doc = self._prepare(to_document(document))
        doc.metadata.pop("doc_id", None)
        vector = (await self.embedder.embed_documents([doc.page_content]))[0]
        self._check(vector)
        async with self._locks.hold(uid):
            done = await self.adapter.update(uid, str(doc_id), doc, vector)
        await self._event(
            f"updated {_plural(int(done))}", "update", uid, int(done), doc_ids=[str(doc_id)]
        )
        return done

    async def delete(self, user_id: str | int, doc_id: str | int) -> bool:
        """Remove one memory of ``user_id``; ``False`` if it had none with that id."""
        uid = _user(user_id)
        async with self._locks.hold(uid):
            done = await self.adapter.delete_by_doc_id(uid, str(doc_id))
        await self._event(
            f"deleted {_plural(int(done))}", "delete", uid, int(done), doc_ids=[str(doc_id)]
        )
        return done

    async def delete_documents(
        self, user_id: str | int, doc_ids: Sequence[str | int] | None = None
    ) -> int:
        """Remove the given memories, or all of the user's with ``doc_ids=None``; returns
        how many were removed."""
        uid = _user(user_id)
        async with self._locks.hold(uid):
            if doc_ids is None:
                removed = await self.adapter.delete_all(uid)
            else:
                removed = 0
                for doc_id in doc_ids:
                    removed += await self.adapter.delete_by_doc_id(uid, str(doc_id))
        await self._event(f"deleted {_plural(removed)}", "delete", uid, removed)
        return removed

    async def list_documents(
        self, user_id: str | int, limit: int = 100, categories: list[str] | None = None
    ) -> list[Document]:
        """Up to ``limit`` of the user's memories, without ranking (for review screens)."""
        uid = _user(user_id)
        return await self.adapter.list_documents(uid, max(1, int(limit)), categories or None)

    async def close(self) -> None:
        """Release the backend (an on-disk store stays locked until closed)."""
        await self.adapter.close()

    async def __aenter__(self) -> LongTermMemory:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- helpers ---------------------------------------------------------------------------

    def _prepare(self, doc: Document) -> Document:
        """Settle the document's categories: its own ``metadata["categories"]``, else the
        resolver's; a single string becomes a one-item list."""
        categories: Any = doc.metadata.get("categories")
        if not categories and self.categories_resolver is not None:
            categories = self.categories_resolver(doc)
        if isinstance(categories, str):
            categories = [categories]
        doc.metadata["categories"] = [str(c) for c in categories or []]
        return doc

    def _check(self, vector: Sequence[float]) -> None:
        if len(vector) != self.vector_size:
            raise ConfigError(
                f"the embedding model made a {len(vector)}-dimensional vector; the memory "
                f"is configured for {self.vector_size} (vector_size)"
            )

    @staticmethod
    async def _event(summary: str, op: str, user_id: str, count: int, **extra: Any) -> None:
        data: dict[str, Any] = {"op": op, "user_id": user_id, "count": count, **extra}
        await emit_custom_event(f"[Memory: {summary}]", {"long_term_memory": data})

    def __repr__(self) -> str:
        mode, _ = self.cfg.location
        return f"<LongTermMemory qdrant/{mode} collection={self.cfg.collection_name!r}>"


def _user(user_id: str | int) -> str:
    if user_id is None or (isinstance(user_id, str) and not user_id.strip()):
        raise ConfigError("long-term memory needs a user_id")
    return str(user_id)


def memory_from_config(
    config: QdrantConfig | RedisConfig | Mapping[str, Any] | LongTermMemory,
    categories_resolver: CategoriesResolver | None = None,
) -> LongTermMemory:
    """The ``LongTermMemory`` a config describes (a ready memory is returned as is), for code
    such as the agent runtime that accepts any of them as ``memory_config``."""
    if isinstance(config, LongTermMemory):
        return config
    return LongTermMemory(config, categories_resolver)
