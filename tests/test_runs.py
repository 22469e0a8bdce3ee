"""Runs as resources, in process: the event log's cursor (replay, then live, without a gap or a
duplicate from any point), retention, owners, cancel, and approvals through ``Runs``."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

import pytest

from masai.memory import LOCAL_OWNER as LOCAL
from masai.streaming import (
    ApprovalConflict,
    ApprovalNotFound,
    InMemoryEventLog,
    LogBatch,
    LogEntry,
    LogGone,
    RunExists,
    RunFinished,
    RunGone,
    RunHandle,
    RunNotFound,
    Runs,
)
from masai.tooling import ToolArgumentsError
from tests.support.models import wait_until
from tests.support.registries import approval_registry, ticker_registry


def ticker(count: int = 200, interval: float = 0.001) -> Any:
    """An agent whose tool emits ``count`` progress events ``interval`` apart."""
    return ticker_registry(count, interval).get("ticker").agent


def publisher(published: list[dict[str, Any]], approval_timeout: float | None = None) -> Any:
    """An agent whose ``publish(text=<query>)`` needs approval; it answers with the tool's
    result or the denial. ``published`` gets each real execution."""
    return approval_registry(approval_timeout, published).get("publisher").agent


def ticks(entries: list[LogEntry]) -> list[int]:
    return [
        e.event.data["custom_data"]["i"]
        for e in entries
        if e.event is not None and e.event.event_type == "custom"
    ]


async def read_all(handle: RunHandle, after: int = -1) -> list[LogEntry]:
    return [entry async for entry in handle.entries(after)]


#: Makes a ``Runs`` (keyword options as ``Runs``), over one kind of log or the other.
NewRuns = Callable[..., Runs]


class BatchedLog(InMemoryEventLog):
    """The same log without a synchronous writer: a run's events then reach it in batches,
    from a task of their own, as they will reach a log in another process."""

    def writer(self, key: str) -> None:
        return None


@pytest.fixture(params=["inline", "batched"])
def new_runs(request: pytest.FixtureRequest) -> NewRuns:
    """``Runs(**options)`` over a log the run writes into itself, and over one it cannot."""

    def make(**options: Any) -> Runs:
        if request.param == "batched":
            options.setdefault("log", BatchedLog())
        return Runs(**options)

    return make


# -- the log ---------------------------------------------------------------------------------


async def test_a_reader_resumed_at_every_position_gets_every_entry_once(
    new_runs: Callable[..., Runs],
) -> None:
    """200 readers, one per drop position, each dropping and coming back while the run emits
    one event per ms: each one's entries, put together, are exactly the run's."""
    runs = new_runs()
    handle = await runs.start(ticker(200), "go")
    rng = random.Random(7)

    async def reader(drop_at: int) -> list[int]:
        seen: list[LogEntry] = []
        async for entry in handle.entries():
            seen.append(entry)
            if len(seen) > drop_at:
                break  # the connection drops here
        await asyncio.sleep(rng.random() * 0.02)
        seen += await read_all(handle, after=seen[-1].seq)
        return [e.seq for e in seen]

    results = await asyncio.gather(*(reader(k) for k in range(200)))
    record = await handle.wait()
    everything = [e.seq for e in await read_all(handle)]
    assert everything == list(range(record.event_count + 1))  # + the terminal entry
    assert all(seqs == everything for seqs in results)
    assert ticks(await read_all(handle)) == list(range(200))


async def test_the_log_keeps_a_window_and_says_when_a_cursor_is_before_it() -> None:
    log = InMemoryEventLog()
    await log.open("k", head=b"H", max_entries=10)
    for seq in range(25):
        await log.append("k", LogBatch(seq, [b"x%d" % seq]))
    with pytest.raises(LogGone):
        await log.read("k", -1)
    with pytest.raises(LogGone):
        await log.read("k", 13)  # entry 14 is gone: the first kept is 15
    kept = await log.read("k", 14)
    assert kept is not None and kept.first == 15
    assert kept.tails == [b"x%d" % seq for seq in range(15, 25)] and not kept.terminal
    assert next(kept.entries()).frame == b"Hx15"
    assert kept.data == b"".join(b"Hx%d" % s for s in range(15, 25))
    quiet = await log.read("k", 24, idle=0.01)  # nothing yet: a quiet spell
    assert quiet is not None and len(quiet) == 0
    with pytest.raises(ValueError):
        await log.append("k", LogBatch(27, [b"gap"]))  # seq must follow on
    await log.append("k", LogBatch(25, [b"end"], terminal=True))
    last = await log.read("k", 20)
    assert last is not None and last.terminal and last.last == 25
    assert await log.read("k", 25) is None  # closed, nothing after
    await log.drop("k")
    with pytest.raises(LogGone):
        await log.read("k", 20)


async def test_a_waiting_reader_is_woken_by_an_append_not_by_polling() -> None:
    log = InMemoryEventLog()
    await log.open("k", head=b"H", max_entries=100)
    reader = asyncio.create_task(log.read("k", -1))
    await asyncio.sleep(0.05)
    assert not reader.done()
    await log.append("k", LogBatch(0, [b"a", b"b"]))
    got = await asyncio.wait_for(reader, 1)
    assert got is not None and got.tails == [b"a", b"b"] and got.data == b"HaHb"
    assert got.live_since is not None  # it waited for them: live, not replayed
    replayed = await log.read("k", -1)
    assert replayed is not None and replayed.live_since is None


async def test_a_slow_viewer_slows_neither_the_run_nor_a_fast_viewer(
    new_runs: Callable[..., Runs],
) -> None:
    runs = new_runs()
    handle = await runs.start(ticker(100), "go")
    slow_seen: list[int] = []

    async def slow() -> None:
        async for entry in handle.entries():
            slow_seen.append(entry.seq)
            await asyncio.sleep(0.01)  # 100 events: a second at least

    slow_task = asyncio.create_task(slow())
    fast = await read_all(handle)
    assert fast[-1].terminal
    assert handle.record.status == "completed"
    assert len(slow_seen) < len(fast)  # the run and the fast viewer did not wait for it
    await slow_task
    assert slow_seen == [e.seq for e in fast]


async def test_a_viewer_that_joins_after_the_end_gets_the_whole_run(
    new_runs: Callable[..., Runs],
) -> None:
    runs = new_runs()
    handle = await runs.start(ticker(20), "go")
    record = await handle.wait()
    late = await read_all(handle)
    assert ticks(late) == list(range(20))
    assert late[-1].terminal and late[-1].event is None  # the stop chunk
    assert b'"finish_reason":"stop"' in late[-1].frame
    assert record.status == "completed" and record.answer == "ticked"
    assert record.stop_reason == "completed" and record.event_count == len(late) - 1


# -- retention and owners --------------------------------------------------------------------


async def test_a_finished_run_is_gone_after_its_retention(new_runs: NewRuns) -> None:
    runs = new_runs(retention=0.1)
    handle = await runs.start(ticker(5), "go", owner="alice")
    await handle.wait()
    assert (await runs.get("alice", handle.run_id)).status == "completed"
    await asyncio.sleep(0.3)
    with pytest.raises(RunGone):
        await runs.get("alice", handle.run_id)
    with pytest.raises(RunGone):
        await anext(aiter(runs.follow("alice", handle.run_id)))


async def test_a_long_run_keeps_its_last_events_only(new_runs: NewRuns) -> None:
    runs = new_runs(max_events=50)
    handle = await runs.start(ticker(200), "go")
    record = await handle.wait()
    with pytest.raises(LogGone):
        await read_all(handle)
    tail = await read_all(handle, after=record.event_count - 10)
    assert [e.seq for e in tail] == list(range(record.event_count - 9, record.event_count + 1))


async def test_runs_are_their_owners_and_ids_may_be_chosen(new_runs: NewRuns) -> None:
    runs = new_runs()
    mine = await runs.start(ticker(3), "go", owner="alice", run_id="report-1")
    with pytest.raises(RunExists):
        await runs.start(ticker(3), "go", owner="alice", run_id="report-1")
    theirs = await runs.start(ticker(3), "go", owner="bob", run_id="report-1")
    await mine.wait()
    await theirs.wait()
    assert (await runs.get("alice", "report-1")).key != (await runs.get("bob", "report-1")).key
    with pytest.raises(RunNotFound):
        await runs.get("carol", "report-1")
    with pytest.raises(RunNotFound):
        await runs.cancel("carol", "report-1")
    assert [r.run_id for r in await runs.list_runs("alice")] == ["report-1"]


# -- cancel ------------------------------------------------------------------------------------


async def test_cancel_ends_the_run_with_a_cancelled_error_for_every_viewer(
    new_runs: Callable[..., Runs],
) -> None:
    runs = new_runs()
    handle = await runs.start(ticker(10_000), "go")
    viewers = [asyncio.create_task(read_all(handle)) for _ in range(2)]

    async def logged() -> int:
        return (await runs.get(handle.record.owner, handle.run_id)).event_count

    for _ in range(500):
        if await logged() > 20:
            break
        await asyncio.sleep(0.01)
    record = await handle.cancel(wait=True)
    assert record.status == "cancelled" and record.stop_reason == "cancelled"
    for seen in await asyncio.gather(*viewers):
        last = seen[-1]
        assert last.terminal and last.event is not None
        assert last.event.metadata["error_code"] == "cancelled"
        assert len(ticks(seen)) >= 20  # what was streamed before the cancel stays
    with pytest.raises(RunFinished):
        await handle.cancel()


# -- approvals ---------------------------------------------------------------------------------


async def waiting_call(handle: RunHandle) -> str:
    async for event in handle.events():
        if event.event_type == "approval_required":
            call_id: str = event.metadata["tool_call_id"]
            await wait_until(lambda: handle.record.status == "waiting")
            return call_id
    raise AssertionError("no approval was asked for")


async def test_an_approved_call_runs_once_and_the_decision_is_recorded(
    new_runs: Callable[..., Runs],
) -> None:
    published: list[dict[str, Any]] = []
    runs = new_runs()
    handle = await runs.start(publisher(published), "the report", owner="alice")
    call_id = await waiting_call(handle)
    assert published == []  # nothing runs before a decision
    assert handle.record.pending_approvals[call_id]["tool_name"] == "publish"
    await handle.approve(call_id, approved=True, by="alice")
    record = await handle.wait()
    assert published == [{"text": "the report", "copies": 1}]
    assert record.status == "completed" and "published 'the report' x1" in (record.answer or "")
    decisions = [e async for e in handle.events() if e.event_type == "approval"]
    (decision,) = [e.data["approval"] for e in decisions]
    assert decision["approved"] is True and decision["decided_by"] == "alice"
    with pytest.raises(ApprovalConflict):
        await handle.approve(call_id, approved=False)


async def test_a_denial_reaches_the_model_with_its_reason(new_runs: NewRuns) -> None:
    published: list[dict[str, Any]] = []
    runs = new_runs()
    handle = await runs.start(publisher(published), "go")
    call_id = await waiting_call(handle)
    await handle.approve(call_id, approved=False, reason="not before Monday")
    record = await handle.wait()
    assert published == []
    assert "not before Monday" in (record.answer or "")


async def test_edited_arguments_are_checked_before_they_are_accepted(
    new_runs: Callable[..., Runs],
) -> None:
    published: list[dict[str, Any]] = []
    runs = new_runs()
    handle = await runs.start(publisher(published), "go")
    call_id = await waiting_call(handle)
    with pytest.raises(ToolArgumentsError):
        await handle.approve(call_id, arguments={"text": "x", "copies": "many"})
    assert handle.record.status == "waiting"  # refused; the call still waits
    with pytest.raises(ApprovalNotFound):
        await handle.approve("call_unknown")
    await handle.approve(call_id, arguments={"text": "edited", "copies": 3})
    await handle.wait()
    assert published == [{"text": "edited", "copies": 3}]


async def test_a_call_nobody_decides_on_ends_the_run_when_its_time_is_up(
    new_runs: Callable[..., Runs],
) -> None:
    published: list[dict[str, Any]] = []
    runs = new_runs()
    handle = await runs.start(publisher(published, approval_timeout=0.2), "go")
    record = await handle.wait()  # nobody watches, nobody decides
    assert published == []
    assert record.status == "failed" and record.stop_reason == "approval_timeout"
    (last,) = [e async for e in handle.entries() if e.terminal]
    assert last.event is not None and last.event.metadata["error_code"] == "approval_timeout"


async def test_the_manager_default_approval_timeout_applies(new_runs: NewRuns) -> None:
    runs = new_runs(approval_timeout=0.2)
    record = await (await runs.start(publisher([]), "go")).wait()
    assert record.stop_reason == "approval_timeout"


@pytest.mark.parametrize("pause", [None, 0.0])
async def test_a_cancel_right_after_the_start_is_never_lost(
    pause: float | None, new_runs: Callable[..., Runs]
) -> None:
    """Cancelled before the run's task ever ran (``pause=0``: one loop turn), or before its
    pump started it (``None``): it still ends, cancelled, for every viewer."""
    runs = new_runs()
    handle = await runs.start(ticker(1000), "go")
    if pause is not None:
        await asyncio.sleep(pause)
    await runs.cancel(handle.record.owner, handle.run_id)
    record = await asyncio.wait_for(handle.wait(), 5)
    assert record.status == "cancelled"
    last = (await read_all(handle))[-1]
    assert last.event is not None and last.event.metadata["error_code"] == "cancelled"


async def test_finished_runs_hold_a_bounded_number_of_bytes_oldest_forgotten_first(
    new_runs: Callable[..., Runs],
) -> None:
    runs = new_runs(max_kept_bytes=60_000)  # a 100-tick run's log holds about 60 KB
    first = await runs.start(ticker(100, 0), "go", run_id="first")
    await first.wait()
    assert (await runs.get(LOCAL, "first")).status == "completed"
    for n in range(3):
        await (await runs.start(ticker(100, 0), "go", run_id=f"later-{n}")).wait()
    with pytest.raises(RunGone):
        await runs.get(LOCAL, "first")
    assert (await runs.get(LOCAL, "later-2")).status == "completed"  # the newest is kept
    await runs.aclose()


def test_run_retention_comes_from_the_environment_and_is_checked() -> None:
    from masai.exceptions import ConfigError
    from masai.server import ServerSettings

    env = ServerSettings.from_environment({"MASAI_RUN_RETENTION": "5"})
    assert ServerSettings.build(env).run_retention == 5.0
    assert ServerSettings.build(ServerSettings.from_environment({})).run_retention == 600.0
    with pytest.raises(ConfigError, match="run_retention"):
        ServerSettings.build(ServerSettings.from_environment({"MASAI_RUN_RETENTION": "-1"}))


async def test_a_decision_sent_the_moment_the_question_shows_is_taken(
    new_runs: Callable[..., Runs],
) -> None:
    """The call is registered before ``approval_required`` is emitted: a viewer that
    answers at once (in the same loop turn it sees the event) never gets 'no such call'."""
    published: list[dict[str, Any]] = []
    runs = new_runs()
    for _ in range(20):
        handle = await runs.start(publisher(published), "go")
        async for event in handle.events():
            if event.event_type == "approval_required":
                await handle.approve(event.metadata["tool_call_id"], approved=True)
        assert (await handle.wait()).status == "completed"
    assert len(published) == 20


@pytest.mark.parametrize("max_entries", [100_000, 700, 37])
async def test_every_cursor_reads_the_same_entries_across_chunks_and_trims(
    max_entries: int,
) -> None:
    """The log keeps older entries in chunks (see ``_log.CHUNK``): whatever the batch sizes,
    the window and the cursor, a read gives exactly the kept entries after the cursor."""
    rng = random.Random(max_entries)
    log = InMemoryEventLog()
    await log.open("k", head=b"H", max_entries=max_entries)
    written: list[bytes] = []
    while len(written) < 2_500:
        batch = [b"e%d" % (len(written) + i) for i in range(rng.choice([1, 3, 200, 511, 700]))]
        await log.append("k", LogBatch(len(written), batch))
        written += batch
    await log.append("k", LogBatch(len(written), [b"end"], terminal=True))
    written.append(b"end")
    first_kept = max(len(written) - max_entries, 0)
    for cursor in [*rng.sample(range(-1, len(written)), 60), first_kept - 1, len(written) - 1]:
        if cursor + 1 < first_kept:
            with pytest.raises(LogGone):
                await log.read("k", cursor)
            continue
        got: list[bytes] = []
        after = cursor
        while (batch := await log.read("k", after)) is not None:
            assert batch.first == after + 1
            got += batch.tails
            after = batch.last
        assert got == written[cursor + 1 :], cursor
