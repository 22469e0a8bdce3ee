"""The in-memory session store: keyed by owner, bounded in bytes, count and time, least
recently used first."""

from __future__ import annotations

import pytest

from masai.memory import InMemorySessionStore
from masai.models import Message


def turn(text: str) -> list[Message]:
    return [Message("user", text), Message("assistant", text)]


async def test_owners_never_see_each_others_sessions() -> None:
    store = InMemorySessionStore()
    await store.append("alice", "s", "agent", turn("secret"), keep=10)
    assert await store.load("bob", "s", "agent") == []
    assert [m.content for m in await store.load("alice", "s", "agent")] == ["secret", "secret"]


async def test_bytes_are_bounded_and_the_least_recently_used_go_first() -> None:
    store = InMemorySessionStore(max_bytes=20_000)  # ~8 sessions of two 1,000-byte messages
    for i in range(8):
        await store.append("o", f"s{i}", "a", turn(str(i) * 1_000), keep=10)
    assert len(store) == 8
    await store.load("o", "s0", "a")  # used again: now the most recent
    for i in range(8, 10):
        await store.append("o", f"s{i}", "a", turn(str(i) * 1_000), keep=10)
    assert store.bytes <= 20_000 == store.stats()["max_bytes"]
    assert await store.load("o", "s0", "a")  # outlived s1 and s2
    assert await store.load("o", "s1", "a") == [] and await store.load("o", "s2", "a") == []
    for i in range(10, 100):
        await store.append("o", f"s{i}", "a", turn(str(i) * 500), keep=10)
    assert store.bytes <= 20_000 and len(store) < 20
    kept = [i for i in range(100) if await store.load("o", f"s{i}", "a")]
    assert kept == list(range(100 - len(kept), 100))  # the newest, contiguously


async def test_count_and_keep_are_bounded() -> None:
    store = InMemorySessionStore(max_sessions=3)
    for i in range(5):
        await store.append("o", f"s{i}", "a", turn("x"), keep=10)
    assert len(store) == 3 and await store.load("o", "s0", "a") == []
    for i in range(10):
        await store.append("o", "s4", "a", turn(str(i)), keep=4)
    assert [m.content for m in await store.load("o", "s4", "a")] == ["8", "8", "9", "9"]
    before = store.bytes
    await store.append("o", "s4", "a", [], keep=2)  # a smaller keep shrinks it (and its bytes)
    assert len(await store.load("o", "s4", "a")) == 2 and store.bytes < before


async def test_unused_sessions_expire() -> None:
    now = [0.0]
    store = InMemorySessionStore(ttl=60, clock=lambda: now[0])
    await store.append("o", "old", "a", turn("x"), keep=10)
    now[0] = 30
    await store.append("o", "new", "a", turn("y"), keep=10)
    now[0] = 61
    assert await store.load("o", "old", "a") == []
    assert await store.load("o", "new", "a")  # used at 30: 31 s ago
    assert len(store) == 1 and store.bytes > 0
    now[0] = 200
    assert await store.load("o", "new", "a") == [] and store.bytes == 0


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        InMemorySessionStore(max_bytes=0)
    with pytest.raises(ValueError, match="ttl"):
        InMemorySessionStore(ttl=0)
