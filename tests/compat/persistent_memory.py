"""Persistent memory as MASAI's README and memory guide write it: a QdrantConfig with its own
embedding model on the AgentManager, persist_memory=True, saving and searching Documents.
The embedded Qdrant (":memory:") stands in for a server URL; the embedder is a plain callable,
one of the three kinds MASAI accepts."""

import asyncio
import hashlib
import math

from masai.AgentManager import AgentDetails, AgentManager
from masai.Memory.LongTermMemory import QdrantConfig
from masai.schema import Document


def embed(texts):
    vectors = []
    for text in texts:
        vector = [0.0] * 64
        for word in text.lower().split():
            word = word.strip(".,?!:")
            vector[int(hashlib.sha1(word.encode()).hexdigest(), 16) % 64] += 1.0
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        vectors.append([v / norm for v in vector])
    return vectors


qdrant_config = QdrantConfig(
    url=":memory:",
    collection_name="masai_memories",
    vector_size=64,
    embedding_model=embed,
    distance="cosine",
    dedup_mode="similarity",
    dedup_similarity_threshold=0.9,
)

manager = AgentManager(
    user_id="user_123",
    model_config_path="model_config.json",
    memory_config=qdrant_config,
)
agent = manager.create_agent(
    agent_name="assistant",
    tools=[],
    agent_details=AgentDetails(capabilities=["memory"], description="Remembers users"),
    persist_memory=True,
    long_context=True,
)


async def main():
    await manager.long_term_memory.save(
        user_id="user_123",
        documents=[
            Document(
                page_content="User prefers Python for data work", metadata={"source": "onboarding"}
            ),
            "User lives in Lisbon",
        ],
    )
    result = await agent.initiate_agent("Which language do I prefer for data work?", "user")
    print("answer:", result["answer"])

    memories = await agent.long_term_memory.search(user_id="user_123", query="language prefer", k=5)
    print("recalled:", any("prefers Python" in m.page_content for m in memories))
    print("turn saved:", any("Which language" in m.page_content for m in memories))
    others = await manager.long_term_memory.search(user_id="someone_else", query="Python", k=5)
    print("other user sees:", len(others))


asyncio.run(main())
