"""The Redis storage parts against a real ``redis-server``: the same semantics as the in-process
ones through their interfaces, what several processes sharing one Redis need on top (atomic
create, fenced appends, control across connections, stored cancels and decisions), and an
outage answered with ``BackendUnavailable`` within seconds, never a hang."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from masai.exceptions import MasaiError
from masai.memory import SessionStore, SharedStore
from masai.models import Message
from masai.streaming import ControlMessage, LogBatch, RunRecord, Runs
from masai.streaming._handle import ApprovalConflict
from masai.streaming._log import LogGone
from masai.streaming._redis import BackendUnavailable, RedisBackend, connect, redact
from masai.streaming._redis_control import RedisControl
from masai.streaming._redis_log import LogConflict, RedisEventLog
from masai.streaming._redis_memory import RedisSessionStore, RedisSharedStore
from masai.streaming._redis_store import RedisRunStore, TooManyRuns
from masai.streaming._runstore import RunExists, RunGone, RunNotFound
from masai.tooling import ToolArgumentsError
from tests.support.redis import RedisServer, redis_server, redis_url  # noqa: F401
from tests.support.registries import ticker_registry


@pytest.fixture
async def backend(redis_url: str) -> AsyncIterator[RedisBackend]:  # noqa: F811
    """A client of the test server, with a prefix of its own (tests share the server)."""
    client = connect(redis_url, prefix=f"t{uuid.uuid4().hex[:8]}:")
    yield client
    await client.aclose()


@pytest.fixture
async def other(backend: RedisBackend, redis_url: str) -> AsyncIterator[RedisBackend]:  # noqa: F811
    """A second client (another process, as far as Redis can tell), same prefix."""
    client = connect(redis_url, prefix=backend.prefix)
    yield client
    await client.aclose()


def record(run_id: str, owner: str = "alice", created_at: float = 1.0, **kw: Any) -> RunRecord:
    return RunRecord(run_id=run_id, owner=owner, target="agent", created_at=created_at, **kw)


# -- run store -------------------------------------------------------------------------------


async def test_run_store_keeps_records_per_owner(backend: RedisBackend) -> None:
    store = RedisRunStore(backend, retention=60)
    first = record("r1", pending_approvals={"c1": {"tool_name": "t", "arguments": {}}})
    first.decided_approvals.add("c0")
    await store.create(first)
    await store.create(record("r2", created_at=2.0))
    await store.create(record("r1", owner="bob"))
    with pytest.raises(RunExists):
        await store.create(record("r1"))
    got = await store.get("alice", "r1")
    assert got == first and isinstance(got.decided_approvals, set)
    with pytest.raises(RunNotFound):
        await store.get("carol", "r1")
    with pytest.raises(RunNotFound):
        await store.get("alice:r1", "")  # (escaped key parts: no aliasing)

    got.status, got.answer = "running", "so far"
    await store.update(got)
    assert (await store.get("alice", "r1")).status == "running"
    assert [r.run_id for r in await store.list("alice")] == ["r2", "r1"]
    assert [r.run_id for r in await store.list("alice", "running")] == ["r1"]
    assert [r.run_id for r in await store.list("alice", limit=1)] == ["r2"]

    got.status = "completed"
    await store.update(got)
    ttl = await backend.client.pttl(backend.key("run", "alice", "r1"))
    assert 0 < ttl <= (60 + store.tombstone) * 1000  # (the safety net)

    await store.expire("alice", "r1")
    with pytest.raises(RunGone):
        await store.get("alice", "r1")
    with pytest.raises(RunExists):
        await store.create(record("r1"))  # (a tombstone holds the id)
    await store.update(got)  # (no revival)
    with pytest.raises(RunGone):
        await store.get("alice", "r1")
    assert [r.run_id for r in await store.list("alice")] == ["r2"]
    assert (await store.get("bob", "r1")).owner == "bob"


async def test_concurrent_creates_of_one_id_let_exactly_one_win(
    backend: RedisBackend, other: RedisBackend
) -> None:
    stores = [RedisRunStore(backend, retention=60), RedisRunStore(other, retention=60)]
    results = await asyncio.gather(
        *(stores[i % 2].create(record("same")) for i in range(20)), return_exceptions=True
    )
    assert sum(r is None for r in results) == 1
    assert all(isinstance(r, RunExists) for r in results if r is not None)


# -- event log -------------------------------------------------------------------------------


async def test_caps_on_runs_in_flight_hold_across_stores_and_free_as_runs_finish(
    backend: RedisBackend, other: RedisBackend
) -> None:
    """Two API servers (two stores, one Redis) share the caps: per owner, and in all."""
    a = RedisRunStore(backend, retention=60, max_active=3, max_active_per_owner=2)
    b = RedisRunStore(other, retention=60, max_active=3, max_active_per_owner=2)
    first, second = record("r1"), record("r2")
    await a.create(first)
    await b.create(second)
    with pytest.raises(TooManyRuns, match="2 runs in flight"):
        await b.create(record("r3"))
    await a.create(record("r1", owner="bob"))  # (another owner's place)
    with pytest.raises(TooManyRuns, match="as many runs"):
        await a.create(record("r2", owner="carol"))
    second.status = "completed"  # a finished record frees its place
    await b.update(second)
    await a.create(record("r3"))
    await a.expire("alice", "r1")  # and so does an expired one
    await b.create(record("r4"))
    # A place held by a record that lapsed unnoticed is pruned when the cap is reached.
    await backend.client.delete(backend.key("run", "alice", "r3"))
    await a.create(record("r5"))


async def test_log_reads_appends_and_closes_like_the_in_memory_one(backend: RedisBackend) -> None:
    log = RedisEventLog(backend, retention=60)
    await log.open("k", head=b"H", max_entries=1000)
    assert await log.next_seq("k") == 0 and not await log.closed("k")
    await log.append("k", LogBatch(0, [b"a", b"b"]))
    await log.append("k", LogBatch(2, [b"c"]))
    got = await log.read("k", -1)
    assert got is not None and got.first == 0 and got.tails == [b"a", b"b", b"c"]
    assert got.data == b"HaHbHc" and not got.terminal and got.live_since is None
    quiet = await log.read("k", 2, idle=0.05)
    assert quiet is not None and len(quiet) == 0 and quiet.first == 3 and quiet.head == b"H"
    assert await log.size("k") == 0  # (still open)

    with pytest.raises(LogConflict):
        await log.append("k", LogBatch(1, [b"stale"]))  # a stale writer: refused whole
    with pytest.raises(LogConflict):
        await log.append("k", LogBatch(5, [b"gap"]))
    assert await log.next_seq("k") == 3

    await log.append("k", LogBatch(3, [b"d", b"end"], terminal=True))
    last = await log.read("k", 1)
    assert last is not None and last.terminal and last.first == 2 and last.last == 4
    assert await log.read("k", 4) is None
    assert await log.closed("k") and await log.next_seq("k") == 5
    assert await log.size("k") > 0
    stream = backend.key("log", "{k}")
    assert 0 < await backend.client.pttl(stream) <= 60_000
    with pytest.raises(LogConflict):
        await log.append("k", LogBatch(5, [b"after"]))

    await log.drop("k")
    for call in (log.read("k", -1), log.append("k", LogBatch(5, [b"x"])), log.next_seq("k")):
        with pytest.raises(LogGone):
            await call
    with pytest.raises(LogGone):
        await log.read("nothing", -1)
    assert await log.size("nothing") == 0 and log.writer("k") is None


async def test_log_keeps_a_window_and_says_when_a_cursor_is_before_it(
    backend: RedisBackend,
) -> None:
    log = RedisEventLog(backend, retention=60)
    await log.open("k", head=b"H", max_entries=10)
    for first in range(0, 1000, 50):
        await log.append("k", LogBatch(first, [b"x%d" % s for s in range(first, first + 50)]))
    with pytest.raises(LogGone):
        await log.read("k", -1)
    kept = await log.read("k", 989)
    assert kept is not None and kept.first == 990 and kept.tails[-1] == b"x999"
    assert await backend.client.xlen(backend.key("log", "{k}")) < 1000


async def test_a_reader_gets_replay_then_live_without_gap_or_duplicate(
    backend: RedisBackend, other: RedisBackend
) -> None:
    """A writer on one connection appends 600 entries in batches; readers on another join at
    random moments and drop and resume: each gets every seq once, in order."""
    writer_log, reader_log = (
        RedisEventLog(backend, retention=60),
        RedisEventLog(other, retention=60),
    )
    await writer_log.open("run", head=b"H", max_entries=10_000)
    rng = random.Random(3)

    async def write() -> None:
        seq = 0
        while seq < 600:
            size = rng.randint(1, 20)
            await writer_log.append(
                "run", LogBatch(seq, [b"%d" % s for s in range(seq, seq + size)])
            )
            seq += size
            await asyncio.sleep(0.002)
        await writer_log.append("run", LogBatch(seq, [b"end"], terminal=True))

    async def read(delay: float) -> tuple[list[int], bool]:
        await asyncio.sleep(delay)
        seqs: list[int] = []
        after, live = -1, False
        while (batch := await reader_log.read("run", after, idle=1.0)) is not None:
            seqs += range(batch.first, batch.last + 1)
            live = live or batch.live_since is not None
            after = batch.last
            if rng.random() < 0.1:
                await asyncio.sleep(0.01)  # (a slow reader, or a dropped connection)
        return seqs, live

    results = await asyncio.gather(write(), *(read(d * 0.01) for d in range(20)))
    total = await reader_log.next_seq("run")
    for seqs, _ in results[1:]:  # type: ignore[misc]
        assert seqs == list(range(total))
    assert any(live for _, live in results[1:])  # type: ignore[misc]


async def test_a_waiting_reader_is_woken_by_an_append(
    backend: RedisBackend, other: RedisBackend
) -> None:
    log, writer = RedisEventLog(backend, retention=60), RedisEventLog(other, retention=60)
    await log.open("k", head=b"H", max_entries=100)
    reader = asyncio.create_task(log.read("k", -1))
    await asyncio.sleep(0.1)
    assert not reader.done()
    started = time.monotonic()
    await writer.append("k", LogBatch(0, [b"now"]))
    got = await asyncio.wait_for(reader, 2)
    assert time.monotonic() - started < 0.5
    assert got is not None and got.tails == [b"now"] and got.live_since is not None


async def test_runs_over_redis_storage_give_every_event_once(backend: RedisBackend) -> None:
    """The run manager itself, over the Redis store, log and control."""
    runs = Runs(
        store=RedisRunStore(backend, retention=60),
        log=RedisEventLog(backend, retention=60),
        control=RedisControl(backend),
    )
    handle = await runs.start(ticker_registry(50, 0.001).get("ticker").agent, "go")
    seen = [entry.seq async for entry in handle.entries()]
    done = await handle.wait()
    assert done.status == "completed"
    assert seen == list(range(done.event_count + 1))
    kept = await runs.store.get(done.owner, done.run_id)
    assert kept.status == "completed" and kept.event_count == done.event_count
    await runs.aclose()
    await runs.control.aclose()  # type: ignore[attr-defined]


# -- control ---------------------------------------------------------------------------------


async def test_control_replies_and_errors_cross_connections(
    backend: RedisBackend, other: RedisBackend
) -> None:
    worker, server = RedisControl(backend), RedisControl(other)
    run = record("r1")
    got: list[ControlMessage] = []

    async def listener(message: ControlMessage) -> Any:
        got.append(message)
        body = message.body
        if body.get("arguments") == "bad":
            raise ToolArgumentsError("arguments do not fit")
        if body.get("tool_call_id") == "done":
            raise ApprovalConflict("decided already")
        if body.get("tool_call_id") == "boom":
            raise RuntimeError("a bug")
        run.decided_approvals.add(str(body.get("tool_call_id")))
        return run

    stop = worker.listen("k", listener)
    assert await worker.ready("k")
    try:
        body = {"tool_call_id": "c1", "approved": True, "reason": None, "arguments": None}
        reply = await server.send("k", ControlMessage(kind="approval", sender="bob", body=body))
        assert isinstance(reply, RunRecord) and reply.decided_approvals == {"c1"}
        assert got[-1].sender == "bob" and got[-1].body == body
        assert await server.decision("k", "c1") == {**body, "sender": "bob"}

        bad = {"tool_call_id": "c2", "approved": True, "arguments": "bad"}
        with pytest.raises(ToolArgumentsError, match="do not fit"):
            await server.send("k", ControlMessage(kind="approval", body=bad))
        assert await server.decision("k", "c2") is None  # (refused: not kept)
        with pytest.raises(ApprovalConflict):
            await server.send("k", ControlMessage(kind="approval", body={"tool_call_id": "done"}))
        with pytest.raises(MasaiError):
            await server.send("k", ControlMessage(kind="approval", body={"tool_call_id": "boom"}))

        assert isinstance(await server.send("k", ControlMessage(kind="cancel")), RunRecord)
        assert await worker.cancelled("k")
    finally:
        stop()
        await worker.aclose()
        await server.aclose()


async def test_control_stores_messages_nobody_listens_to(backend: RedisBackend) -> None:
    control = RedisControl(backend)
    assert not await control.cancelled("k")
    assert await control.send("k", ControlMessage(kind="cancel", sender="alice")) is None
    assert await control.cancelled("k")
    body = {"tool_call_id": "c1", "approved": False, "reason": "no"}
    assert await control.send("k", ControlMessage(kind="approval", body=body)) is None
    assert await control.decision("k", "c1") == {**body, "sender": None}
    with pytest.raises(ApprovalConflict):  # (the first decision kept wins)
        await control.send("k", ControlMessage(kind="approval", body={**body, "approved": True}))
    assert await control.decision("k", "c1") == {**body, "sender": None}
    assert await control.decision("k", "c2") is None
    await control.forget("k")
    assert not await control.cancelled("k") and await control.decision("k", "c1") is None

    # A listener that stopped: its channel is unsubscribed, sends are stored again.
    stop = control.listen("k2", lambda message: asyncio.sleep(0, result="ok"))
    assert await control.ready("k2")
    assert await control.send("k2", ControlMessage(kind="cancel")) == "ok"
    stop()
    channel = backend.key("ctl", "{k2}")

    async def subscribers() -> int:
        counts = await backend.client.pubsub_numsub(channel)
        return int(counts[0][1])

    for _ in range(150):  # (the unsubscribe is on its way: 3 s at most)
        if not await subscribers():
            break
        await asyncio.sleep(0.02)
    assert await control.send("k2", ControlMessage(kind="cancel")) is None
    await control.aclose()


# -- memory ----------------------------------------------------------------------------------


async def test_session_store_keeps_the_last_messages_per_owner(backend: RedisBackend) -> None:
    store: SessionStore = RedisSessionStore(backend, ttl=60)
    say = [Message("user", f"m{i}") for i in range(5)]
    await store.append("alice", "s", "agent", say[:3], keep=4)
    await store.append("alice", "s", "agent", say[3:], keep=4)
    assert await store.load("alice", "s", "agent") == say[1:]
    assert await store.load("bob", "s", "agent") == []
    assert await store.load("alice", "s", "other") == []
    await store.append("alice", "s", "agent", [], keep=2)  # (a smaller keep trims)
    assert await store.load("alice", "s", "agent") == say[3:]
    assert 0 < await backend.client.pttl(backend.key("session", "alice", "s", "agent")) <= 60_000
    await store.append("alice", "s", "agent", say, keep=0)
    assert await store.load("alice", "s", "agent") == []


async def test_shared_store_keeps_json_values_per_namespace(backend: RedisBackend) -> None:
    store: SharedStore = RedisSharedStore(backend)
    await store.set("run1", "plan", {"steps": [1, 2], "done": False})
    await store.set("run1", "n", 3)
    await store.set("run2", "n", 4)
    assert await store.get("run1", "plan") == {"steps": [1, 2], "done": False}
    assert await store.get("run1", "missing") is None
    assert await store.items("run1") == {"plan": {"steps": [1, 2], "done": False}, "n": 3}
    await store.clear("run1")
    assert await store.items("run1") == {} and await store.get("run2", "n") == 4


# -- outage ----------------------------------------------------------------------------------


def test_a_url_is_logged_without_its_password() -> None:
    backend = connect("redis://user:s3cret@127.0.0.1:1/0")
    assert "s3cret" not in repr(backend) and "user:***@127.0.0.1:1" in backend.url
    assert redact("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


async def test_an_outage_is_backend_unavailable_within_seconds_then_recovers(
    backend: RedisBackend,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    store, log = RedisRunStore(backend, retention=60), RedisEventLog(backend, retention=60)
    control, sessions = RedisControl(backend), RedisSessionStore(backend)
    shared = RedisSharedStore(backend)
    await log.open("k", head=b"H", max_entries=100)
    heard: list[ControlMessage] = []

    async def listener(message: ControlMessage) -> str:
        heard.append(message)
        return "heard"

    stop = control.listen("k", listener)
    assert await control.ready("k")
    waiting = asyncio.create_task(log.read("k", -1))  # blocked in XREAD when Redis goes
    await asyncio.sleep(0.1)

    redis_server.stop()
    calls = [
        lambda: waiting,
        lambda: store.create(record("r")),
        lambda: store.get("alice", "r"),
        lambda: store.list("alice"),
        lambda: log.read("k", -1),
        lambda: log.append("k", LogBatch(0, [b"x"])),
        lambda: control.send("k", ControlMessage(kind="cancel")),
        lambda: control.cancelled("k"),
        lambda: sessions.load("alice", "s", "a"),
        lambda: shared.get("n", "k"),
        backend.ping,
    ]
    for call in calls:
        started = time.monotonic()
        with pytest.raises(BackendUnavailable) as caught:
            await asyncio.wait_for(call(), 8)
        assert time.monotonic() - started < 5
        assert caught.value.code == "backend_unavailable"

    redis_server.start()
    assert await backend.ping()
    await store.create(record("r"))
    assert (await store.get("alice", "r")).run_id == "r"
    await log.open("k", head=b"H", max_entries=100)
    await log.append("k", LogBatch(0, [b"x"]))
    assert (await log.read("k", -1)) is not None
    # The listener's pub/sub connection comes back, subscribed again.
    assert await control.ready("k", within=5)
    assert await control.send("k", ControlMessage(kind="cancel")) == "heard"
    stop()
    await control.aclose()
