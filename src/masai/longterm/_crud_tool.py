"""``LongTermMemoryCRUDTool``: an agent tool to create, search, update and delete memories.

The user whose memories are touched is, in order: the principal that owns the run when a
server runs it (always: a caller never reaches another principal's memories), the context's
user (``set_user_id``, set by the application per request), the ``user_id`` the tool was built
with, and only then the ``user_id`` argument. So once the user is known, a model cannot read
or change another user's memories whatever arguments it writes.

Results are dicts shaped as MASAI documents them (``status``, ``operation``, ``message``,
``count``, ``results`` ...); failures come back as ``{"status": "error", ...}`` rather than
raising, so the model sees what went wrong and can try again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .._context import current_scope
from ..exceptions import MasaiError
from ..memory import LOCAL_OWNER
from ..tooling import Tool
from ._config import QdrantConfig, RedisConfig
from ._document import to_document
from ._memory import CategoriesResolver, LongTermMemory, memory_from_config
from ._user import get_request_id, get_user_id

__all__ = ("LongTermMemoryCRUDTool", "create_longterm_memory_tool")

logger = logging.getLogger("masai.longterm")

Mode = Literal["create", "search", "update", "delete", "list"]

_DESCRIPTION = (
    "Long-term memory about the current user, kept across conversations. "
    "mode='search' with a query finds memories (each result has a doc_id); "
    "mode='create' with documents (a list of short texts) remembers new facts; "
    "mode='update' with documents re-saves facts (with doc_id and one document: replaces that "
    "memory); mode='delete' with doc_id forgets one; mode='list' shows stored memories. "
    "categories tag (create/update) or filter (search/list) memories."
)


class MemoryToolArguments(BaseModel):
    """What the model passes to the memory tool."""

    model_config = ConfigDict(extra="forbid")

    mode: Mode = Field(description="create, search, update, delete or list")
    documents: list[str | dict[str, Any]] | None = Field(
        default=None, description="texts to remember (create/update)"
    )
    query: str | None = Field(default=None, description="what to look for (search)")
    k: int = Field(default=5, ge=1, le=50, description="how many results (search)")
    categories: list[str] | None = Field(default=None, description="tags to set or filter by")
    doc_id: str | None = Field(default=None, description="the memory to update or delete")
    user_id: str | None = Field(
        default=None, description="whose memories; ignored when the application set the user"
    )


class LongTermMemoryCRUDTool(Tool):
    """The memory tool (see the module docstring). ``memory_config`` is a ``QdrantConfig``,
    a dict of its fields, or a ready ``LongTermMemory`` to share with other code."""

    def __init__(
        self,
        memory_config: QdrantConfig | RedisConfig | Mapping[str, Any] | LongTermMemory,
        categories_resolver: CategoriesResolver | None = None,
        *,
        user_id: str | int | None = None,
        name: str = "long_term_memory",
        description: str = _DESCRIPTION,
    ) -> None:
        super().__init__(name, description, args_schema=MemoryToolArguments)
        self.memory = memory_from_config(memory_config, categories_resolver)
        self.user_id = None if user_id is None else str(user_id)
        self.backend = self.memory.backend_type

    async def _call(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return await self.execute(**arguments)

    async def ainvoke(self, input_dict: object) -> dict[str, Any]:
        """MASAI's entry point: ``await tool.ainvoke({"mode": "search", ...})``. Documents
        may be ``Document`` objects here (the model's path accepts texts and dicts only)."""
        if not isinstance(input_dict, Mapping):
            return self._error(None, "the input must be a dict with at least 'mode'")
        known = set(MemoryToolArguments.model_fields)
        return await self.execute(**{k: v for k, v in input_dict.items() if k in known})

    async def execute(
        self,
        mode: str | None = None,
        user_id: str | int | None = None,
        documents: Sequence[Any] | None = None,
        query: str | None = None,
        k: int = 5,
        categories: list[str] | None = None,
        doc_id: str | int | None = None,
    ) -> dict[str, Any]:
        """Run one operation and describe its outcome (never raises for bad input)."""
        uid = (
            _run_owner()
            or get_user_id()
            or self.user_id
            or (None if user_id is None else str(user_id))
        )
        if not mode or not uid:
            return self._error(mode, "Missing required parameters: mode and user_id")
        handler = getattr(self, f"_op_{mode}", None)
        if handler is None:
            return self._error(
                mode, f"Unknown mode {mode!r}: use create, search, update, delete or list"
            )
        try:
            result: dict[str, Any] = await handler(
                uid, documents=documents, query=query, k=k, categories=categories, doc_id=doc_id
            )
        except (MasaiError, ValueError) as exc:
            return self._error(mode, f"{mode} failed: {exc}", str(exc))
        except Exception as exc:  # a backend failure: logged, told to the model by kind only
            logger.exception("long-term memory %s failed", mode)
            return self._error(mode, f"{mode} failed: {type(exc).__name__}", type(exc).__name__)
        result = {"status": "success", "operation": mode, **result, "backend": self.backend}
        request_id = get_request_id()
        if request_id:
            result["request_id"] = request_id
        return result

    # -- operations ----------------------------------------------------------------------

    async def _op_create(
        self, uid: str, *, documents: Sequence[Any] | None, categories: list[str] | None, **_: Any
    ) -> dict[str, Any]:
        docs = self._documents(documents, categories)
        ids = await self.memory.upsert_documents(uid, docs)
        return {
            "message": f"Successfully saved {len(ids)} document(s) for user {uid}",
            "count": len(ids),
            "doc_ids": ids,
        }

    async def _op_update(
        self,
        uid: str,
        *,
        documents: Sequence[Any] | None,
        categories: list[str] | None,
        doc_id: str | int | None,
        **_: Any,
    ) -> dict[str, Any]:
        docs = self._documents(documents, categories)
        if doc_id is not None:
            if len(docs) != 1:
                raise ValueError("update with doc_id takes exactly one document")
            if not await self.memory.update(uid, str(doc_id), docs[0]):
                raise ValueError(f"no document {doc_id} for user {uid}")
            ids = [str(doc_id)]
        else:  # MASAI's update: upsert, where dedup decides what is replaced
            ids = await self.memory.upsert_documents(uid, docs)
        return {
            "message": f"Successfully updated {len(ids)} document(s) for user {uid}",
            "count": len(ids),
            "doc_ids": ids,
        }

    async def _op_search(
        self, uid: str, *, query: str | None, k: int, categories: list[str] | None, **_: Any
    ) -> dict[str, Any]:
        if not query:
            raise ValueError("search needs a query")
        found = await self.memory.search(uid, query, k=k, categories=categories)
        results = [_result(doc) for doc in found]
        return {
            "message": f"Found {len(results)} document(s) matching query",
            "query": query,
            "results": results,
            "count": len(results),
        }

    async def _op_list(
        self, uid: str, *, k: int, categories: list[str] | None, **_: Any
    ) -> dict[str, Any]:
        found = await self.memory.list_documents(uid, limit=max(k, 50), categories=categories)
        results = [_result(doc) for doc in found]
        return {
            "message": f"{len(results)} stored document(s)",
            "results": results,
            "count": len(results),
        }

    async def _op_delete(self, uid: str, *, doc_id: str | int | None, **_: Any) -> dict[str, Any]:
        if doc_id is None or str(doc_id) == "":
            raise ValueError("delete needs a doc_id (search returns them)")
        if not await self.memory.delete(uid, str(doc_id)):
            raise ValueError(f"no document {doc_id} for user {uid}")
        return {
            "message": f"Successfully deleted document {doc_id} for user {uid}",
            "doc_id": str(doc_id),
        }

    # -- helpers -------------------------------------------------------------------------

    @staticmethod
    def _documents(documents: Sequence[Any] | None, categories: list[str] | None) -> list[Any]:
        if not documents:
            raise ValueError("documents are required (a list of texts)")
        if isinstance(documents, str):
            documents = [documents]
        if not categories:
            return list(documents)
        docs = [to_document(d) for d in documents]
        for doc in docs:
            own = doc.metadata.get("categories") or []
            own = [own] if isinstance(own, str) else list(own)
            doc.metadata["categories"] = list(dict.fromkeys([*own, *categories]))
        return docs

    def _error(self, mode: str | None, message: str, error: str | None = None) -> dict[str, Any]:
        return {"status": "error", "operation": mode, "message": message, "error": error or message}


def _result(doc: Any) -> dict[str, Any]:
    meta = {k: v for k, v in doc.metadata.items() if not k.startswith("_")}
    return {"content": doc.page_content, "metadata": meta, "doc_id": meta.get("doc_id")}


def create_longterm_memory_tool(
    memory_config: QdrantConfig | RedisConfig | Mapping[str, Any] | LongTermMemory,
    categories_resolver: CategoriesResolver | None = None,
    *,
    user_id: str | int | None = None,
    name: str = "long_term_memory",
    description: str = _DESCRIPTION,
) -> LongTermMemoryCRUDTool:
    """The memory tool, ready to give an agent: ``create_agent(..., tools=[tool])``."""
    return LongTermMemoryCRUDTool(
        memory_config, categories_resolver, user_id=user_id, name=name, description=description
    )


def _run_owner() -> str | None:
    """The principal owning the agent run this tool is part of, when a server runs it."""
    owner = getattr(current_scope().run, "owner", None)
    return owner if isinstance(owner, str) and owner != LOCAL_OWNER else None
