"""The unit of long-term memory: a text and its metadata, shaped like MASAI's ``Document``.

MASAI ships its own ``Document`` so memory code needs no LangChain; ours keeps that shape
(``page_content``, ``metadata``, ``to_dict``/``from_dict``) so user code written for MASAI or
for LangChain's ``Document`` reads the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..exceptions import ConfigError

__all__ = ("Document", "to_document")

#: How much of the text ``str(doc)`` shows: enough to recognise it in a log line.
_PREVIEW_CHARS = 20


class Document(BaseModel):
    """A piece of text with optional metadata: ``Document("text", {"source": "x"})``.

    Positional arguments are accepted (as in MASAI and LangChain), which pydantic models do
    not do by themselves; ``metadata=None`` becomes ``{}``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    page_content: str
    metadata: dict[str, Any] = Field(default_factory=dict)

    def __init__(
        self, page_content: str, metadata: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(page_content=page_content, metadata=dict(metadata or {}), **kwargs)

    def __str__(self) -> str:
        preview = self.page_content
        if len(preview) > _PREVIEW_CHARS:
            preview = preview[:_PREVIEW_CHARS] + "..."
        return f"Document(page_content={preview!r}, metadata={self.metadata!r})"

    def __repr__(self) -> str:
        return f"Document(page_content={self.page_content!r}, metadata={self.metadata!r})"

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form ``{"page_content": ..., "metadata": {...}}``."""
        return {"page_content": self.page_content, "metadata": dict(self.metadata)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Document:
        """The inverse of ``to_dict``; a missing ``page_content`` is an empty text."""
        return cls(str(data.get("page_content", "")), data.get("metadata") or {})


def to_document(item: Any) -> Document:
    """Whatever a caller may save (``Document``, text, mapping, LangChain ``Document``) as a
    fresh ``Document`` the caller's object is not shared with, so stamping metadata on it
    never changes the caller's copy."""
    if isinstance(item, Document):
        return Document(item.page_content, dict(item.metadata))
    if isinstance(item, str):
        return Document(item)
    if isinstance(item, Mapping):
        content = item.get("page_content", item.get("content"))
        if not isinstance(content, str):
            raise ConfigError("a document mapping needs a 'page_content' string")
        metadata = item.get("metadata") or {}
        if not isinstance(metadata, Mapping):
            raise ConfigError("a document's 'metadata' must be a mapping")
        return Document(content, dict(metadata))
    content = getattr(item, "page_content", None)  # LangChain's Document, by duck typing
    if isinstance(content, str):
        return Document(content, dict(getattr(item, "metadata", None) or {}))
    raise ConfigError(f"cannot save a {type(item).__name__} as a memory: use str, dict, Document")
