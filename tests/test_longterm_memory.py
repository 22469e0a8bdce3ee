"""Long-term memory on a real qdrant-client (embedded ``:memory:`` and on-disk modes)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from masai import AgentDetails, AgentManager, ScriptedModel, StreamingEvent
from masai.events import clear_streaming_callback, set_streaming_callback
from masai.exceptions import ConfigError
from masai.longterm import (
    Document,
    HashEmbedder,
    LongTermMemory,
    OpenAIEmbedder,
    QdrantConfig,
    RedisConfig,
    get_user_id,
    memory_from_config,
    request_context,
    set_user_id,
)
from masai.streaming import EnhancedStreamHandler
from tests.support.sse import events

FACTS = [
    "User likes Python programming",
    "User works in machine learning research",
    "The cat sleeps on the sofa all afternoon",
]


def memory(**options: Any) -> LongTermMemory:
    options.setdefault("embedding_model", HashEmbedder(dim=128))
    options.setdefault("dedup_mode", "none")
    return LongTermMemory(QdrantConfig(**options))


# -- Document ------------------------------------------------------------------------------


def test_document_shape_matches_masai() -> None:
    doc = Document("This is a long document content...", {"source": "test"})
    assert doc == Document(page_content=doc.page_content, metadata={"source": "test"})
    assert Document("x", None).metadata == {}
    assert doc.to_dict() == {
        "page_content": "This is a long document content...",
        "metadata": {"source": "test"},
    }
    assert Document.from_dict(doc.to_dict()) == doc
    assert (
        str(doc) == "Document(page_content='This is a long docum...', metadata={'source': 'test'})"
    )
    assert repr(doc) == (
        "Document(page_content='This is a long document content...', metadata={'source': 'test'})"
    )


def test_importing_masai_loads_neither_qdrant_nor_longterm() -> None:
    code = (
        "import sys, masai, masai.events\n"
        "assert 'qdrant_client' not in sys.modules and 'masai.longterm' not in sys.modules\n"
        "import masai.context, masai.schema\n"
        "assert 'qdrant_client' not in sys.modules\n"
    )
    import subprocess

    subprocess.run([sys.executable, "-c", code], check=True)


# -- save and search -----------------------------------------------------------------------


async def test_search_ranks_the_relevant_document_first_in_memory_mode() -> None:
    async with memory() as mem:
        await mem.save("alice", FACTS)
        found = await mem.search("alice", "which programming language does she like?", k=3)
        assert found[0].page_content == "User likes Python programming"
        assert len(found) == 3
        scores = [d.metadata["score"] for d in found]
        assert scores == sorted(scores, reverse=True)
        assert found[0].metadata["user_id"] == "alice"
        assert found[0].metadata["doc_id"]
        found = await mem.search("alice", "cat on the sofa", k=1)
        assert [d.page_content for d in found] == ["The cat sleeps on the sofa all afternoon"]


async def test_on_disk_mode_persists_across_instances(tmp_path: Path) -> None:
    store = str(tmp_path / "qdrant")
    async with memory(url=store) as mem:
        await mem.save(7, ["User's dog is called Rex"])
    async with memory(path=store) as again:  # a new client on the same directory
        found = await again.search("7", "dog name", k=5)
    assert [d.page_content for d in found] == ["User's dog is called Rex"]
    assert (tmp_path / "qdrant").is_dir()


async def test_users_never_see_each_others_memories() -> None:
    async with memory() as mem:
        await mem.save("alice", ["Alice's secret project is Falcon"])
        await mem.save("bob", ["Bob likes hiking in the mountains"])
        bob_sees = await mem.search("bob", "secret project Falcon", k=10)
        assert [d.page_content for d in bob_sees] == ["Bob likes hiking in the mountains"]
        alice_doc = (await mem.search("alice", "Falcon", k=1))[0]
        # Bob cannot delete or update Alice's memory even with its id.
        assert await mem.delete("bob", alice_doc.metadata["doc_id"]) is False
        assert await mem.update("bob", alice_doc.metadata["doc_id"], "hacked") is False
        assert [d.page_content for d in await mem.list_documents("alice")] == [
            "Alice's secret project is Falcon"
        ]
        assert await mem.search("carol", "anything", k=5) == []


async def test_accepts_documents_dicts_and_strings_and_categories() -> None:
    async with memory() as mem:
        await mem.save(
            "u",
            [
                Document("User prefers tea over coffee", {"source": "chat", "categories": "food"}),
                {"page_content": "User lives in Lisbon", "metadata": {"categories": ["place"]}},
                "User plays chess on weekends",
            ],
        )
        found = await mem.search("u", "tea coffee", k=1)
        assert found[0].page_content == "User prefers tea over coffee"
        assert found[0].metadata["source"] == "chat"
        assert found[0].metadata["categories"] == ["food"]
        places = await mem.search("u", "tea coffee chess", k=5, categories=["place"])
        assert [d.page_content for d in places] == ["User lives in Lisbon"]
        assert len(await mem.list_documents("u")) == 3
        with pytest.raises(ConfigError):
            await mem.save("u", [{"metadata": {}}])


async def test_categories_resolver_tags_documents_without_categories() -> None:
    mem = LongTermMemory(
        {"embedding_model": HashEmbedder(dim=64), "dedup_mode": "none"},
        categories_resolver=lambda doc: ["long"] if len(doc.page_content) > 20 else ["short"],
    )
    await mem.save("u", ["tiny note", "a considerably longer note about gardening"])
    found = await mem.search("u", "note", k=5, categories=["long"])
    assert [d.page_content for d in found] == ["a considerably longer note about gardening"]
    await mem.close()


# -- dedup ---------------------------------------------------------------------------------


async def test_dedup_none_keeps_every_copy() -> None:
    async with memory(dedup_mode="none") as mem:
        await mem.save("u", ["User likes jazz", "User likes jazz"])
        assert len(await mem.list_documents("u")) == 2


async def test_dedup_hash_merges_same_text_per_user_only() -> None:
    assert QdrantConfig(dedup_mode="exact").dedup_mode == "hash"  # MASAI's other name for it
    with pytest.raises(ValueError):
        QdrantConfig(dedup_mode="fuzzy")
    async with memory(dedup_mode="hash") as mem:
        first = await mem.upsert_documents("u", ["User likes jazz"])
        second = await mem.upsert_documents("u", ["  user LIKES   jazz "])
        assert first == second
        assert [d.page_content for d in await mem.list_documents("u")] == ["  user LIKES   jazz "]
        other = await mem.upsert_documents("v", ["User likes jazz"])
        assert other != first  # the same text of another user is another memory
        assert len(await mem.list_documents("u")) == 1
        assert len(await mem.list_documents("v")) == 1


async def test_dedup_similarity_overwrites_near_duplicates_only() -> None:
    async with memory(dedup_mode="similarity", dedup_similarity_threshold=0.8) as mem:
        ids = await mem.upsert_documents("u", ["User's favourite colour is blue"])
        again = await mem.upsert_documents(
            "u", ["User's favourite colour is blue!", "User owns a red bicycle"]
        )
        assert again[0] == ids[0]
        assert again[1] != ids[0]
        texts = sorted(d.page_content for d in await mem.list_documents("u"))
        assert texts == ["User owns a red bicycle", "User's favourite colour is blue!"]
        # The same text for another user is not a duplicate of this user's memory.
        assert (await mem.upsert_documents("w", ["User's favourite colour is blue"])) != ids


async def test_caller_chosen_doc_id_is_an_upsert_key() -> None:
    async with memory() as mem:
        await mem.save("u", [Document("old profile", {"doc_id": "profile"})])
        await mem.save("u", [Document("new profile text", {"doc_id": "profile"})])
        docs = await mem.list_documents("u")
        assert [(d.page_content, d.metadata["doc_id"]) for d in docs] == [
            ("new profile text", "profile")
        ]


# -- update and delete ---------------------------------------------------------------------


async def test_update_and_delete() -> None:
    async with memory() as mem:
        ids = await mem.upsert_documents("u", ["User drives a Toyota", "User likes opera"])
        assert await mem.update("u", ids[0], Document("User drives a Tesla", {"v": 2}))
        found = await mem.search("u", "Tesla", k=1)
        assert found[0].page_content == "User drives a Tesla"
        assert found[0].metadata["doc_id"] == ids[0] and found[0].metadata["v"] == 2
        assert await mem.update("u", "missing", "x") is False
        assert await mem.delete("u", ids[0]) is True
        assert await mem.delete("u", ids[0]) is False
        assert [d.page_content for d in await mem.list_documents("u")] == ["User likes opera"]
        await mem.save("u", ["one", "two"])
        assert await mem.delete_documents("u", None) == 3
        assert await mem.list_documents("u") == []


async def test_per_user_locks_are_released() -> None:
    async with memory() as mem:
        await asyncio.gather(*(mem.save(f"user{i}", [f"fact {i}"]) for i in range(20)))
        await asyncio.gather(*(mem.save("same", [f"fact {i}"]) for i in range(5)))
        assert len(mem._locks) == 0
        assert len(await mem.list_documents("same")) == 5


# -- embedders and config ------------------------------------------------------------------


async def test_a_plain_callable_and_an_embeddings_object_work() -> None:
    calls: list[list[str]] = []
    hasher = HashEmbedder(dim=32)

    def embed(texts: list[str]) -> list[list[float]]:
        calls.append(list(texts))
        return hasher.embed_documents(texts)

    class LangChainLike:
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            calls.append(["docs", *texts])
            return hasher.embed_documents(texts)

        def embed_query(self, text: str) -> list[float]:
            calls.append(["query", text])
            return hasher.embed_query(text)

    for model in (embed, LangChainLike()):
        mem = LongTermMemory(QdrantConfig(embedding_model=model, vector_size=32))
        await mem.save("u", ["sailing boats at sea", "baking sourdough bread"])
        found = await mem.search("u", "bread baking", k=1)
        assert [d.page_content for d in found] == ["baking sourdough bread"]
        await mem.close()
    assert ["sailing boats at sea", "baking sourdough bread"] in calls
    assert ["query", "bread baking"] in calls


async def test_async_callable_embedder() -> None:
    hasher = HashEmbedder(dim=16)

    async def embed(texts: list[str]) -> list[list[float]]:
        return hasher.embed_documents(texts)

    async with LongTermMemory({"embedding_model": embed, "vector_size": 16}) as mem:
        await mem.save("u", ["alpha beta"])
        assert (await mem.search("u", "alpha", k=1))[0].page_content == "alpha beta"


def test_missing_dimension_and_bad_configs_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="vector_size is required"):
        LongTermMemory(QdrantConfig(embedding_model=lambda texts: [[0.0] * 8 for _ in texts]))
    with pytest.raises(ConfigError, match="embedding_model"):
        LongTermMemory(QdrantConfig(vector_size=8))
    with pytest.raises(ConfigError, match="128-dimensional"):
        LongTermMemory(QdrantConfig(embedding_model=HashEmbedder(dim=128), vector_size=64))
    with pytest.raises(ConfigError, match="unknown distance"):
        LongTermMemory(QdrantConfig(embedding_model=HashEmbedder(), distance="hamming"))


async def test_wrong_vector_length_from_the_model_is_caught() -> None:
    mem = LongTermMemory(
        QdrantConfig(embedding_model=lambda texts: [[1.0, 0.0] for _ in texts], vector_size=3)
    )
    with pytest.raises(ConfigError, match="2-dimensional"):
        await mem.save("u", ["x"])
    await mem.close()


def test_redis_config_is_refused_with_a_clear_error() -> None:
    cfg = RedisConfig(redis_url="redis://:pw@localhost:6379", embedding_model=HashEmbedder())
    assert "pw" not in repr(cfg)
    with pytest.raises(ConfigError, match="QdrantConfig"):
        LongTermMemory(cfg)
    with pytest.raises(ConfigError, match="Redis Stack"):
        memory_from_config({"redis_url": "redis://localhost", "embedding_model": HashEmbedder()})


def test_memory_from_config_accepts_all_forms() -> None:
    mem = memory_from_config({"embedding_model": HashEmbedder(dim=32), "collection_name": "c"})
    assert memory_from_config(mem) is mem
    assert mem.cfg.collection_name == "c" and mem.vector_size == 32
    assert isinstance(
        memory_from_config(QdrantConfig(embedding_model=HashEmbedder())), LongTermMemory
    )
    with pytest.raises(ConfigError):
        memory_from_config({"embedding_model": HashEmbedder(), "bogus": 1})
    with pytest.raises(ConfigError):
        memory_from_config(42)  # type: ignore[arg-type]


async def test_openai_embedder_against_a_fake_embeddings_endpoint() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/embeddings"
        assert request.headers["authorization"] == "Bearer sk-test"
        body = json.loads(request.content)
        seen.append(body)
        data = [
            {"object": "embedding", "index": i, "embedding": [float(len(t)), float(i), 1.0]}
            for i, t in enumerate(body["input"])
        ]
        return httpx.Response(
            200,
            json={
                "object": "list",
                "data": list(reversed(data)),  # out of order: the index decides
                "model": body["model"],
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            },
        )

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    embedder = OpenAIEmbedder(
        "text-embedding-3-small",
        base_url="http://fake.local/v1",
        api_key="sk-test",
        dimensions=3,
        http_client=client,
        batch_size=2,
    )
    assert embedder.dimension == 3
    vectors = await embedder.aembed_documents(["ab", "abcd", "x"])
    assert vectors == [[2.0, 0.0, 1.0], [4.0, 1.0, 1.0], [1.0, 0.0, 1.0]]
    assert [b["input"] for b in seen] == [["ab", "abcd"], ["x"]]
    assert seen[0]["model"] == "text-embedding-3-small"
    assert seen[0]["dimensions"] == 3 and seen[0]["encoding_format"] == "float"
    assert await embedder.aembed_query("hello") == [5.0, 0.0, 1.0]
    # And it plugs into a memory, its dimension standing in for vector_size.
    async with LongTermMemory(QdrantConfig(embedding_model=embedder)) as mem:
        await mem.save("u", ["abc"])
        assert (await mem.search("u", "xyz", k=1))[0].page_content == "abc"
    await client.aclose()


# -- events --------------------------------------------------------------------------------


async def test_operations_emit_one_custom_event_each_without_the_text() -> None:
    got: list[StreamingEvent] = []
    async with memory() as mem:
        await mem.save("u", ["no event outside a run"])  # no listener: nothing happens
        set_streaming_callback(got.append)
        try:
            ids = await mem.upsert_documents("u", ["User's PIN hint is sunflower", "Likes tea"])
            found = await mem.search("u", "tea", k=3)
            await mem.delete("u", ids[0])
        finally:
            clear_streaming_callback()
    assert [e.event_type for e in got] == ["custom", "custom", "custom"]
    assert [e.data["content"] for e in got] == [
        "[Memory: saved 2 documents]",
        "[Memory: recalled 3 documents]",
        "[Memory: deleted 1 document]",
    ]
    save, search, delete = (e.data["custom_data"]["long_term_memory"] for e in got)
    assert save == {"op": "save", "user_id": "u", "count": 2, "doc_ids": ids}
    assert search == {"op": "search", "user_id": "u", "count": len(found), "query": "tea"}
    assert delete["op"] == "delete" and delete["count"] == 1
    assert "sunflower" not in json.dumps([e.data for e in got])


# -- context and the CRUD tool -------------------------------------------------------------


async def test_request_context_sets_and_restores() -> None:
    assert get_user_id() is None
    async with request_context(user_id=5):
        assert get_user_id() == "5"
        with request_context(user_id="inner"):
            assert get_user_id() == "inner"
        assert get_user_id() == "5"
    assert get_user_id() is None


async def test_crud_tool_ainvoke_modes_and_errors() -> None:
    from masai.Tools.tools.LongTermMemoryCRUDTool import create_longterm_memory_tool

    tool = create_longterm_memory_tool(
        QdrantConfig(embedding_model=HashEmbedder(dim=64), dedup_mode="hash")
    )
    created = await tool.ainvoke(
        {
            "mode": "create",
            "user_id": "user_123",
            "documents": ["Machine learning is a subset of AI", Document("Paris is in France")],
            "categories": ["facts"],
        }
    )
    assert created["status"] == "success" and created["count"] == 2
    assert created["backend"] == "qdrant"
    res = await tool.ainvoke(
        {"mode": "search", "user_id": "user_123", "query": "machine learning", "k": 1}
    )
    assert res["count"] == 1
    hit = res["results"][0]
    assert hit["content"] == "Machine learning is a subset of AI"
    assert hit["metadata"]["categories"] == ["facts"]
    assert "_point_id" not in hit["metadata"]
    upd = await tool.ainvoke(
        {
            "mode": "update",
            "user_id": "user_123",
            "doc_id": hit["doc_id"],
            "documents": ["Machine learning is a branch of AI"],
        }
    )
    assert upd["status"] == "success"
    listed = await tool.ainvoke({"mode": "list", "user_id": "user_123"})
    assert sorted(r["content"] for r in listed["results"]) == [
        "Machine learning is a branch of AI",
        "Paris is in France",
    ]
    gone = await tool.ainvoke({"mode": "delete", "user_id": "user_123", "doc_id": hit["doc_id"]})
    assert gone["status"] == "success"
    again = await tool.ainvoke({"mode": "delete", "user_id": "user_123", "doc_id": hit["doc_id"]})
    assert again["status"] == "error"
    assert (await tool.ainvoke({"mode": "create"}))["message"].startswith("Missing required")
    assert "Unknown mode" in (await tool.ainvoke({"mode": "bogus", "user_id": "x"}))["message"]
    assert (await tool.ainvoke({"mode": "search", "user_id": "x"}))["status"] == "error"
    # A user set in the context wins over the argument, and request_id is echoed.
    async with request_context(user_id="other", request_id="req-1"):
        seen = await tool.ainvoke({"mode": "search", "user_id": "user_123", "query": "Paris"})
    assert seen["count"] == 0 and seen["request_id"] == "req-1"
    await tool.memory.close()


async def test_crud_tool_through_an_agent_run_creates_and_finds_a_memory() -> None:
    from masai.longterm import create_longterm_memory_tool

    mem = memory(dedup_mode="similarity")
    tool = create_longterm_memory_tool(mem)
    turns: list[dict[str, Any]] = [
        {
            "reasoning": "Remember this.",
            "tool": "long_term_memory",
            "tool_input": {"mode": "create", "documents": ["User's favourite language is Rust"]},
        },
        {
            "reasoning": "Recall it.",
            "tool": "long_term_memory",
            "tool_input": {"mode": "search", "query": "favourite language", "k": 2},
        },
        {"reasoning": "Done.", "satisfied": True, "answer": "You like Rust."},
    ]
    manager = AgentManager(model=ScriptedModel(turns), logging=False)
    agent = manager.create_agent("assistant", [tool], AgentDetails(capabilities=["memory"]))
    set_user_id("alice")
    try:
        handler = EnhancedStreamHandler()
        text = "".join([c async for c in handler.stream_agent_execution(agent, "Remember me")])
    finally:
        set_user_id(None)
    evs = events(text)
    customs = [e["choices"][0]["delta"] for e in evs if e["event_type"] == "custom"]
    assert [c["content"] for c in customs] == [
        "[Memory: saved 1 document]",
        "[Memory: recalled 1 document]",
    ]
    assert customs[1]["custom_data"]["long_term_memory"]["user_id"] == "alice"
    outputs = [e for e in evs if e["event_type"] == "tool_output"]
    assert "favourite language is Rust" in json.dumps(outputs[1])
    assert evs[-1]["choices"][0]["delta"]["content"] == "You like Rust."
    # Stored under the context's user, not anyone else.
    assert [d.page_content for d in await mem.search("alice", "Rust", k=5)] == [
        "User's favourite language is Rust"
    ]
    assert await mem.search("bob", "Rust", k=5) == []
    await mem.close()


def test_missing_qdrant_client_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "qdrant_client", None)  # as if not installed
    with pytest.raises(ConfigError, match=r"pip install 'masai\[memory\]'"):
        LongTermMemory(QdrantConfig(embedding_model=HashEmbedder()))
