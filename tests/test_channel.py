"""EventChannel: the bounded FIFO between a run and its writer."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

import pytest

from masai.exceptions import RunCancelled, StreamClosed
from masai.streaming._channel import EventChannel


async def test_fifo_batches_and_bound() -> None:
    ch: EventChannel[int] = EventChannel(3)
    assert [ch.put_nowait(i) for i in range(4)] == [True, True, True, False]
    assert await ch.get_batch() == [0, 1, 2]
    # Items handed to the consumer still count until it asks again.
    assert ch.put_nowait(3) is False
    assert await asyncio.wait_for(asyncio.shield(_get_after_put(ch, 3)), 1) == [3]
    assert ch.peak == 3


async def _get_after_put(ch: EventChannel[int], item: int) -> list[int] | None:
    putter = asyncio.ensure_future(ch.put(item))
    await asyncio.sleep(0)
    assert not putter.done()
    batch = await ch.get_batch()  # releases the previous batch, admits the waiting putter
    await putter
    return batch


async def test_room_is_tracked_through_forced_items_waiting_producers_and_close() -> None:
    ch: EventChannel[int] = EventChannel(3)
    for i in range(5):  # a sync emit on the loop thread may pass the bound...
        ch.force_put(i)
    assert ch.offer(5) is False  # ...and then nobody else gets in
    putter = asyncio.ensure_future(ch.put(5))
    await asyncio.sleep(0)
    assert await ch.get_batch() == [0, 1, 2, 3, 4]
    assert ch.peak == 5
    assert ch.offer(6) is False  # the batch being written still counts
    batch = await ch.get_batch()  # released: the waiting producer goes first
    await putter
    assert batch == [5]
    assert [ch.offer(i) for i in (6, 7, 8)] == [True, True, False]  # 1 in flight + 2
    assert await ch.get_batch() == [6, 7]
    ch.close()
    assert ch.offer(9) is False
    with pytest.raises(StreamClosed):
        ch.put_nowait(9)
    assert await ch.get_batch() is None


async def test_waiting_producers_are_admitted_in_order() -> None:
    ch: EventChannel[str] = EventChannel(1)
    ch.put_nowait("a")
    putters = [asyncio.ensure_future(ch.put(x)) for x in "bcd"]
    await asyncio.sleep(0)
    seen = []
    while len(seen) < 4:
        batch = await ch.get_batch()
        assert batch is not None
        seen += batch
        await asyncio.sleep(0)
    assert seen == list("abcd")
    await asyncio.gather(*putters)


async def test_cancelled_putter_leaves_no_item() -> None:
    ch: EventChannel[str] = EventChannel(1)
    ch.put_nowait("a")
    putter = asyncio.ensure_future(ch.put("lost"))
    await asyncio.sleep(0)
    putter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await putter
    ch.close()
    assert await ch.get_batch() == ["a"]
    assert await ch.get_batch() is None


async def test_consumer_parks_until_an_item_or_close() -> None:
    ch: EventChannel[int] = EventChannel(2)
    getter = asyncio.ensure_future(ch.get_batch())
    await asyncio.sleep(0.01)
    assert not getter.done()
    ch.put_nowait(1)
    assert await getter == [1]
    getter = asyncio.ensure_future(ch.get_batch())
    await asyncio.sleep(0)
    ch.close()
    assert await getter is None


async def test_close_fails_waiting_producers_and_later_puts() -> None:
    ch: EventChannel[int] = EventChannel(1)
    ch.put_nowait(0)
    putter = asyncio.ensure_future(ch.put(1))
    await asyncio.sleep(0)
    ch.close(RunCancelled("gone"))
    with pytest.raises(RunCancelled):
        await putter
    with pytest.raises(StreamClosed):
        ch.put_nowait(2)
    with pytest.raises(StreamClosed):
        ch.force_put(2)


async def test_thread_producer_blocks_until_accepted() -> None:
    ch: EventChannel[int] = EventChannel(2)
    loop = asyncio.get_running_loop()
    accepted: list[int] = []

    def produce() -> None:
        for i in range(10):
            waiter: concurrent.futures.Future[None] = concurrent.futures.Future()
            loop.call_soon_threadsafe(ch.put_waiting, i, waiter)
            waiter.result(timeout=5)
            accepted.append(i)

    thread = threading.Thread(target=produce)
    thread.start()
    got: list[int] = []
    while len(got) < 10:
        batch = await ch.get_batch()
        assert batch is not None
        assert len(accepted) <= len(got) + len(batch) + 2  # never more than the bound ahead
        got += batch
    await asyncio.to_thread(thread.join)
    assert got == list(range(10)) and ch.peak <= 2


def test_bound_must_be_positive() -> None:
    with pytest.raises(ValueError, match="maxsize"):
        EventChannel(0)
