"""Embedding models: what ``embedding_model`` may be, and two that masai provides.

MASAI accepts three kinds of embedding model: a callable ``texts -> vectors``, an object with
``embed_documents``/``embed_query`` (LangChain's ``Embeddings``), and a SentenceTransformer
(``encode``). ``resolve_embedder`` turns any of them into one async interface, so the memory
code never asks which it has: native async methods (``aembed_documents``) are awaited,
sync ones run in a worker thread so a slow network embedder never blocks the event loop.

``HashEmbedder`` needs nothing (no model, no network) and is deterministic: tests, demos and
offline development. ``OpenAIEmbedder`` calls any OpenAI-compatible ``/embeddings`` endpoint.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from ..exceptions import ConfigError

__all__ = (
    "AsyncEmbedder",
    "EmbeddingFunction",
    "EmbeddingsLike",
    "HashEmbedder",
    "OpenAIEmbedder",
    "resolve_embedder",
)

Vector = list[float]

#: A plain function (sync or async) from a batch of texts to one vector per text.
EmbeddingFunction = Callable[[list[str]], "Sequence[Sequence[float]] | Awaitable[Any]"]


@runtime_checkable
class EmbeddingsLike(Protocol):
    """LangChain's ``Embeddings`` shape: anything with these two methods is accepted."""

    def embed_documents(self, texts: list[str]) -> Any: ...

    def embed_query(self, text: str) -> Any: ...


class AsyncEmbedder:
    """One async interface over any accepted embedding model (see the module docstring).

    ``dimension`` is the vector size when the model reports it (``dimension``/``dim``/
    ``dimensions`` attribute, or SentenceTransformer's ``get_sentence_embedding_dimension``),
    so ``vector_size`` may be left out of the config.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.dimension = _reported_dimension(model)
        self._batch = _batch_function(model)

    async def embed_documents(self, texts: Sequence[str]) -> list[Vector]:
        batch = list(texts)
        if not batch:
            return []
        vectors = _as_vectors(await self._batch(batch))
        if len(vectors) != len(batch):
            raise ConfigError(
                f"the embedding model returned {len(vectors)} vectors for {len(batch)} texts"
            )
        return vectors

    async def embed_query(self, text: str) -> Vector:
        query = getattr(self.model, "aembed_query", None) or getattr(
            self.model, "embed_query", None
        )
        if query is not None and not isinstance(self.model, type):
            return _as_vectors([await _call(query, text)])[0]
        return (await self.embed_documents([text]))[0]


def resolve_embedder(model: Any) -> AsyncEmbedder:
    """``model`` as an ``AsyncEmbedder``; a ``ConfigError`` says what is accepted if it is
    none of the supported kinds."""
    if isinstance(model, AsyncEmbedder):
        return model
    if model is None:
        raise ConfigError(
            "long-term memory needs an embedding_model: a callable texts -> vectors, an object "
            "with embed_documents() (LangChain embeddings), or masai.longterm.HashEmbedder()"
        )
    return AsyncEmbedder(model)


def _batch_function(model: Any) -> Callable[[list[str]], Awaitable[Any]]:
    for name in ("aembed_documents", "embed_documents", "encode"):
        method = getattr(model, name, None)
        if callable(method):
            return lambda texts, method=method: _call(method, texts)  # type: ignore[misc]
    if callable(model):
        return lambda texts: _call(model, texts)
    raise ConfigError(
        f"embedding_model must be callable or have embed_documents(), got {type(model).__name__}"
    )


async def _call(fn: Callable[..., Any], argument: Any) -> Any:
    """Await ``fn(argument)`` whether ``fn`` is async or sync; sync calls run in a thread."""
    if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - an object with an async __call__
    ):
        return await fn(argument)
    if getattr(fn, "masai_inline", False):  # known cheap and pure: no thread hop
        result = fn(argument)
    else:
        result = await asyncio.to_thread(fn, argument)
    if inspect.isawaitable(result):
        result = await result
    return result


def _as_vectors(raw: Any) -> list[Vector]:
    """Model output (lists, tuples, numpy arrays) as ``list[list[float]]``."""
    if hasattr(raw, "tolist"):
        raw = raw.tolist()
    try:
        vectors = [[float(x) for x in (v.tolist() if hasattr(v, "tolist") else v)] for v in raw]
    except TypeError as exc:
        raise ConfigError("the embedding model must return one list of floats per text") from exc
    if vectors and len({len(v) for v in vectors}) != 1:
        raise ConfigError("the embedding model returned vectors of different lengths")
    return vectors


def _reported_dimension(model: Any) -> int | None:
    for name in ("dimension", "dim", "dimensions"):
        value = getattr(model, name, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    probe = getattr(model, "get_sentence_embedding_dimension", None)
    if callable(probe):
        value = probe()
        if isinstance(value, int) and value > 0:
            return value
    return None


_WORD = re.compile(r"\w+", re.UNICODE)


class HashEmbedder:
    """A deterministic, offline embedder: hashed word and character-trigram features, L2
    normalised, so texts that share words score higher under cosine similarity.

    It knows no synonyms (it is not a language model); its use is tests, demos and running
    without a network. ``dim`` is the vector size (reported as ``dimension``).
    """

    def __init__(self, dim: int = 256) -> None:
        if dim < 8:
            raise ConfigError("HashEmbedder needs dim >= 8")
        self.dim = dim

    @property
    def dimension(self) -> int:
        return self.dim

    def embed_documents(self, texts: Sequence[str]) -> list[Vector]:
        return [self._embed(text) for text in texts]

    def embed_query(self, text: str) -> Vector:
        return self._embed(text)

    def __call__(self, texts: Sequence[str]) -> list[Vector]:
        return self.embed_documents(texts)

    # Pure and fast: ``_call`` runs these on the loop instead of in a worker thread.
    embed_documents.masai_inline = True  # type: ignore[attr-defined]
    embed_query.masai_inline = True  # type: ignore[attr-defined]

    def _embed(self, text: str) -> Vector:
        vector = [0.0] * self.dim
        for feature, weight in _features(text):
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            index = int.from_bytes(digest[:4], "little") % self.dim
            sign = 1.0 if digest[4] & 1 else -1.0
            vector[index] += sign * weight
        norm = math.sqrt(sum(x * x for x in vector))
        return [x / norm for x in vector] if norm else vector

    def __repr__(self) -> str:
        return f"HashEmbedder(dim={self.dim})"


#: Words too common to say what a text is about; left out so they do not make unrelated
#: texts look alike.
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "i",
        "in",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "were",
        "what",
        "which",
        "who",
        "with",
        "you",
        "your",
    ]
)


def _features(text: str) -> list[tuple[str, float]]:
    """Whole words weigh most; trigrams let "learning" and "learn" overlap a little."""
    out: list[tuple[str, float]] = []
    for word in _WORD.findall(text.lower()):
        if word in _STOPWORDS:
            continue
        out.append(("w:" + word, 1.0))
        padded = f"#{word}#"
        out.extend(("c:" + padded[i : i + 3], 0.25) for i in range(len(padded) - 2))
    return out


#: Output sizes of OpenAI's embedding models, so ``vector_size`` may be left out for them.
_OPENAI_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible ``/embeddings`` endpoint (OpenAI, Azure, vLLM,
    Ollama, LiteLLM ...) through the official SDK's ``AsyncOpenAI``.

    ``dimensions`` asks the text-embedding-3 models for shorter vectors. ``http_client`` (an
    ``httpx.AsyncClient``) or a ready ``client`` may be passed, e.g. for proxies or tests.
    Texts are sent ``batch_size`` at a time.
    """

    def __init__(
        self,
        model: str = "text-embedding-3-small",
        base_url: str | None = None,
        api_key: str | None = None,
        dimensions: int | None = None,
        *,
        http_client: Any = None,
        client: Any = None,
        batch_size: int = 256,
    ) -> None:
        if batch_size < 1:
            raise ConfigError("batch_size must be at least 1")
        self.model = model
        self.dimensions = dimensions
        self.batch_size = batch_size
        self._client = (
            client if client is not None else _openai_client(base_url, api_key, http_client)
        )

    @property
    def dimension(self) -> int | None:
        return self.dimensions or _OPENAI_DIMENSIONS.get(self.model)

    async def aembed_documents(self, texts: Sequence[str]) -> list[Vector]:
        out: list[Vector] = []
        for start in range(0, len(texts), self.batch_size):
            out.extend(await self._request(list(texts[start : start + self.batch_size])))
        return out

    async def aembed_query(self, text: str) -> Vector:
        return (await self._request([text]))[0]

    async def _request(self, texts: list[str]) -> list[Vector]:
        extra: dict[str, Any] = {}
        if self.dimensions is not None:
            extra["dimensions"] = self.dimensions
        response = await self._client.embeddings.create(
            model=self.model, input=texts, encoding_format="float", **extra
        )
        # The API may answer out of order; ``index`` says which input each vector is for.
        items = sorted(response.data, key=lambda item: item.index)
        return [list(map(float, item.embedding)) for item in items]

    def __repr__(self) -> str:
        return f"OpenAIEmbedder(model={self.model!r}, dimensions={self.dimensions!r})"


def _openai_client(base_url: str | None, api_key: str | None, http_client: Any) -> Any:
    try:
        from openai import AsyncOpenAI
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ConfigError(
            "OpenAIEmbedder needs the OpenAI SDK: pip install 'masai[openai]'"
        ) from exc
    options: dict[str, Any] = {"base_url": base_url, "api_key": api_key}
    if http_client is not None:
        options["http_client"] = http_client
    return AsyncOpenAI(**options)
