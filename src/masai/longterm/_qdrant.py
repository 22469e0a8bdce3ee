"""Storage adapters: the abstract ``BaseAdapter`` and ``QdrantAdapter`` on ``AsyncQdrantClient``.

Adapters store vectors they are given: embedding is the memory's job (``LongTermMemory``), so an
adapter never needs to know which model produced them. Every read, update and delete filters by
``user_id``, which is how one user never sees, changes or removes another's memories, even
when given a ``doc_id`` that belongs to someone else.

Each stored point's payload: ``user_id`` (always a string, so ``7`` and ``"7"`` are one user),
``page_content``, ``metadata`` (the caller's), ``doc_id`` and ``categories``.
"""

from __future__ import annotations

import abc
import logging
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigError
from ._config import QdrantConfig
from ._document import Document

if TYPE_CHECKING:
    from qdrant_client import AsyncQdrantClient
    from qdrant_client.http import models as qm

__all__ = ("BaseAdapter", "QdrantAdapter", "StoredVector")

logger = logging.getLogger("masai.longterm")

StoredVector = Sequence[float]

#: Namespace of the deterministic point ids (uuid5), fixed forever: changing it would make
#: hash dedup stop recognising memories saved before.
_NAMESPACE = uuid.UUID("5f0b8d1e-6a55-4c1e-9d0c-6d6173616901")

#: Payload keys masai owns; the caller's metadata lives under ``metadata``.
_RESERVED = frozenset({"user_id", "categories", "doc_id", "score"})


class BaseAdapter(abc.ABC):
    """What ``LongTermMemory`` needs from a vector store. All methods are scoped to one user."""

    @abc.abstractmethod
    async def upsert_documents(
        self, user_id: str, documents: Sequence[Document], vectors: Sequence[StoredVector]
    ) -> list[str]:
        """Store each document with its vector; returns their ``doc_id``s."""

    @abc.abstractmethod
    async def search(
        self, user_id: str, vector: StoredVector, k: int, categories: list[str] | None = None
    ) -> list[Document]:
        """The ``k`` nearest documents of ``user_id``, best first (``metadata["score"]``)."""

    @abc.abstractmethod
    async def delete_by_doc_id(self, user_id: str, doc_id: str) -> bool:
        """Remove one document; ``False`` if ``user_id`` has none with that id."""

    @abc.abstractmethod
    async def list_documents(
        self, user_id: str, limit: int = 100, categories: list[str] | None = None
    ) -> list[Document]:
        """Up to ``limit`` of the user's documents, in storage order."""

    @abc.abstractmethod
    async def update(
        self, user_id: str, doc_id: str, document: Document, vector: StoredVector
    ) -> bool:
        """Replace a document's text, metadata and vector; ``False`` if it does not exist."""

    @abc.abstractmethod
    async def delete_all(self, user_id: str) -> int:
        """Remove every document of ``user_id``; returns how many there were."""

    async def close(self) -> None:  # noqa: B027 - optional: not every store holds resources
        """Release connections or file locks."""


def _qdrant() -> tuple[type[AsyncQdrantClient], Any]:
    try:
        from qdrant_client import AsyncQdrantClient
        from qdrant_client.http import models
    except ImportError as exc:
        raise ConfigError(
            "long-term memory needs qdrant-client: pip install 'masai[memory]'"
        ) from exc
    return AsyncQdrantClient, models


def _distance(models: Any, name: str) -> Any:
    key = name.lower().replace("_", "")
    for aliases, value in (
        (("cos", "cosine"), models.Distance.COSINE),
        (("dot", "dotproduct", "ip"), models.Distance.DOT),
        (("l2", "euclid", "euclidean"), models.Distance.EUCLID),
        (("manhattan", "l1"), models.Distance.MANHATTAN),
    ):
        if key in aliases:
            return value
    raise ConfigError(f"unknown distance {name!r}: use cosine, dot or euclid")


def point_id(user_id: str, key: str) -> str:
    """A point id determined by the user and a key, so saving the same key again overwrites
    instead of adding; the user is part of it so two users' equal texts never collide."""
    return str(uuid.uuid5(_NAMESPACE, f"{user_id}\x1f{key}"))


class QdrantAdapter(BaseAdapter):
    """``BaseAdapter`` on Qdrant; the collection is created on first use.

    ``vector_size`` overrides the config's (``LongTermMemory`` passes the embedder's size).
    """

    def __init__(self, cfg: QdrantConfig, vector_size: int | None = None) -> None:
        client_cls, self._models = _qdrant()
        size = vector_size or cfg.vector_size
        if size is None:
            raise ConfigError("QdrantAdapter needs a vector_size")
        self.cfg = cfg
        self.vector_size = size
        self._distance = _distance(self._models, cfg.distance)
        mode, address = cfg.location
        self.mode = mode
        timeout = None if cfg.timeout_sec is None else max(1, round(cfg.timeout_sec))
        if mode == "server":
            self.client = client_cls(url=address, api_key=cfg.api_key, timeout=timeout)
        elif mode == "disk":
            self.client = client_cls(path=address)
        else:
            self.client = client_cls(location=":memory:")
        self._ready = False

    # -- collection ---------------------------------------------------------------------

    async def ensure_collection(self) -> None:
        """Create the collection (and, on a server, keyword indexes for the filters) once."""
        if self._ready:
            return
        m = self._models
        name = self.cfg.collection_name
        if not await self.client.collection_exists(name):
            await self.client.create_collection(
                collection_name=name,
                vectors_config=m.VectorParams(size=self.vector_size, distance=self._distance),
            )
            if self.mode == "server":  # local mode has no payload indexes
                for field in ("user_id", "doc_id", "categories"):
                    await self.client.create_payload_index(
                        collection_name=name,
                        field_name=field,
                        field_schema=m.PayloadSchemaType.KEYWORD,
                    )
        else:
            info = await self.client.get_collection(name)
            size = _collection_size(info)
            if size is not None and size != self.vector_size:
                raise ConfigError(
                    f"collection {name!r} holds {size}-dimensional vectors but the embedding "
                    f"model makes {self.vector_size}: use another collection_name"
                )
        self._ready = True

    # -- filters and conversion --------------------------------------------------------

    def _filter(
        self, user_id: str, categories: list[str] | None = None, doc_id: str | None = None
    ) -> qm.Filter:
        m = self._models
        must: list[Any] = [m.FieldCondition(key="user_id", match=m.MatchValue(value=user_id))]
        if doc_id is not None:
            must.append(m.FieldCondition(key="doc_id", match=m.MatchValue(value=doc_id)))
        if categories:
            must.append(m.FieldCondition(key="categories", match=m.MatchAny(any=categories)))
        return m.Filter(must=must)  # type: ignore[no-any-return]

    def _payload(self, user_id: str, doc: Document, doc_id: str) -> dict[str, Any]:
        meta = {k: v for k, v in doc.metadata.items() if k not in _RESERVED}
        categories = doc.metadata.get("categories") or []
        return {
            "user_id": user_id,
            "page_content": doc.page_content,
            "metadata": meta,
            "doc_id": doc_id,
            "categories": [str(c) for c in categories],
        }

    def _similarity(self, score: float) -> float:
        """Qdrant's score as a similarity where higher is closer (euclid gives distances)."""
        m = self._models
        if self._distance in (m.Distance.EUCLID, m.Distance.MANHATTAN):
            return 1.0 / (1.0 + score)
        return score

    # -- writes ---------------------------------------------------------------------------

    async def upsert_documents(
        self, user_id: str, documents: Sequence[Document], vectors: Sequence[StoredVector]
    ) -> list[str]:
        await self.ensure_collection()
        m = self._models
        ids: list[str] = []
        points: list[Any] = []
        for doc, vector in zip(documents, vectors, strict=True):
            pid, doc_id = await self._identity(user_id, doc, vector)
            payload = self._payload(user_id, doc, doc_id)
            points.append(m.PointStruct(id=pid, vector=list(vector), payload=payload))
            ids.append(doc_id)
            if self.cfg.dedup_mode == "similarity":
                # Written at once, so a near-duplicate later in the same batch merges with it.
                await self.client.upsert(self.cfg.collection_name, points=points, wait=True)
                points = []
        if points:
            await self.client.upsert(self.cfg.collection_name, points=points, wait=True)
        return ids

    async def _identity(self, user_id: str, doc: Document, vector: StoredVector) -> tuple[str, str]:
        """The point id and doc_id a document is stored under, which is where dedup happens:
        an id the caller chose (``metadata["doc_id"]``) always wins; otherwise ``hash`` derives
        it from the text, ``similarity`` reuses the closest memory's, ``none`` makes a new one.
        """
        chosen = doc.metadata.get("doc_id")
        if chosen is not None:
            return point_id(user_id, f"doc:{chosen}"), str(chosen)
        mode = self.cfg.dedup_mode
        if mode == "hash":
            pid = point_id(user_id, "text:" + " ".join(doc.page_content.lower().split()))
            return pid, pid
        if mode == "similarity":
            hits = await self._query(user_id, vector, 1, doc.metadata.get("categories") or None)
            if hits:
                hit = hits[0]
                if self._similarity(hit.score) >= self.cfg.dedup_similarity_threshold:
                    payload = hit.payload or {}
                    return str(hit.id), str(payload.get("doc_id", hit.id))
        pid = str(uuid.uuid4())
        return pid, pid

    async def update(
        self, user_id: str, doc_id: str, document: Document, vector: StoredVector
    ) -> bool:
        await self.ensure_collection()
        records, _ = await self.client.scroll(
            self.cfg.collection_name, scroll_filter=self._filter(user_id, doc_id=doc_id), limit=1
        )
        if not records:
            return False
        m = self._models
        payload = self._payload(user_id, document, doc_id)
        point = m.PointStruct(id=records[0].id, vector=list(vector), payload=payload)
        await self.client.upsert(self.cfg.collection_name, points=[point], wait=True)
        return True

    async def delete_by_doc_id(self, user_id: str, doc_id: str) -> bool:
        return await self._delete(self._filter(user_id, doc_id=str(doc_id))) > 0

    async def delete_all(self, user_id: str) -> int:
        return await self._delete(self._filter(user_id))

    async def _delete(self, selector: qm.Filter) -> int:
        await self.ensure_collection()
        name = self.cfg.collection_name
        found = (await self.client.count(name, count_filter=selector, exact=True)).count
        if found:
            await self.client.delete(
                name, points_selector=self._models.FilterSelector(filter=selector), wait=True
            )
        return found

    # -- reads ----------------------------------------------------------------------------

    async def _query(
        self, user_id: str, vector: StoredVector, k: int, categories: list[str] | None
    ) -> list[Any]:
        extra: dict[str, Any] = {}
        if self.cfg.consistency is not None and self.mode == "server":
            extra["consistency"] = self.cfg.consistency
        response = await self.client.query_points(
            self.cfg.collection_name,
            query=list(vector),
            query_filter=self._filter(user_id, categories),
            limit=max(1, k),
            with_payload=True,
            **extra,
        )
        return list(response.points)

    async def search(
        self, user_id: str, vector: StoredVector, k: int, categories: list[str] | None = None
    ) -> list[Document]:
        await self.ensure_collection()
        hits = await self._query(user_id, vector, k, categories)
        return [self._document(hit.id, hit.payload, self._similarity(hit.score)) for hit in hits]

    async def list_documents(
        self, user_id: str, limit: int = 100, categories: list[str] | None = None
    ) -> list[Document]:
        await self.ensure_collection()
        records, _ = await self.client.scroll(
            self.cfg.collection_name,
            scroll_filter=self._filter(user_id, categories),
            limit=max(1, limit),
            with_payload=True,
        )
        return [self._document(r.id, r.payload, None) for r in records]

    @staticmethod
    def _document(pid: Any, payload: dict[str, Any] | None, score: float | None) -> Document:
        """A stored point as a ``Document``: the caller's metadata, plus ``user_id``,
        ``categories``, ``doc_id`` and (from a search) ``score``; ``_point_id`` and
        ``_similarity_score`` are MASAI's names for the last two."""
        data = payload or {}
        meta: dict[str, Any] = dict(data.get("metadata") or {})
        meta.update(
            user_id=data.get("user_id"),
            categories=list(data.get("categories") or []),
            doc_id=str(data.get("doc_id", pid)),
            _point_id=str(pid),
        )
        if score is not None:
            meta["score"] = meta["_similarity_score"] = score
        return Document(str(data.get("page_content", "")), meta)

    async def close(self) -> None:
        await self.client.close()


def _collection_size(info: Any) -> int | None:
    vectors = getattr(getattr(info.config, "params", None), "vectors", None)
    size = getattr(vectors, "size", None)
    return size if isinstance(size, int) else None
