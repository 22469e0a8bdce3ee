"""The one encoder interface: ``EventStream`` as ``async with`` / ``async for`` with one outcome,
``encode(stream, encoder)``, and encoders fed from a run's log (what the server does)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from masai.events import StreamingEvent, emit_custom_event, emit_event
from masai.exceptions import ModelError
from masai.streaming import EnhancedStreamHandler, EventStream, Runs
from masai.streaming.encoders import (
    ChatEncoder,
    Encoder,
    FinalText,
    Outcome,
    SpecEncoder,
    encode,
)


async def _work() -> dict[str, Any]:
    await emit_event("reasoning", {"reasoning": "thinking"})
    await emit_event("token", {"content": "Hel"}, {"intermediate": True})
    await emit_event("answer", {"answer": "Hello", "satisfied": True}, {"intermediate": True})
    for i in range(3):
        await emit_custom_event(f"step {i}", {"progress": i / 2})
    await emit_event("token", {"content": "Fin"})
    await emit_event("token", {"content": "al"})
    await emit_event("answer", {"answer": "Final answer", "satisfied": True})
    return {"answer": "Final answer", "usage": {"input_tokens": 7, "output_tokens": 5}}


async def _failing() -> None:
    await emit_custom_event("before")
    raise ModelError("provider said: secret-key-123 is invalid")


class Recorder(Encoder):
    """An encoder that records what it was given, to test the interface's contract."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[str]] = []
        self.outcomes: list[Outcome] = []

    def start(self) -> bytes:
        return b"<start>"

    def events(self, batch: Sequence[StreamingEvent]) -> bytes:
        self.batches.append([e.event_type for e in batch])
        return b"".join(b"<%s>" % e.event_type.encode() for e in batch)

    def end(self, outcome: Outcome) -> bytes:
        self.outcomes.append(outcome)
        return b"<end:%s>" % outcome.code.encode() if outcome.failed else b"<end>"


async def test_a_stream_is_an_async_context_and_an_async_iterator() -> None:
    stream = EventStream(_work)
    async with stream:
        seen = [event async for event in stream]
    assert [e.seq for e in seen] == list(range(len(seen)))
    assert seen[0].event_type == "reasoning" and seen[-1].event_type == "answer"
    assert stream.finished
    outcome = stream.outcome
    assert not outcome.failed
    assert outcome.usage == {"input_tokens": 7, "output_tokens": 5}


async def test_leaving_the_block_early_cancels_the_run() -> None:
    started, finished = asyncio.Event(), False

    async def slow() -> None:
        nonlocal finished
        started.set()
        await emit_custom_event("first")
        await asyncio.sleep(30)
        finished = True

    stream = EventStream(slow)
    async with stream:
        async for _batch in stream.batches():
            break
    assert started.is_set() and not finished
    assert stream.task is not None and stream.task.done()
    assert stream.cancelled
    assert [e async for e in stream] == []  # a closed stream yields nothing more


async def test_a_failed_run_has_one_outcome_with_a_public_message() -> None:
    stream = EventStream(_failing)
    async with stream:
        kinds = [e.event_type async for e in stream]
    assert kinds == ["custom"]
    outcome = stream.outcome
    assert outcome.failed and outcome.code == "model_error"
    assert outcome.message() == ModelError.public_message
    assert "secret-key-123" not in outcome.message()
    assert "secret-key-123" in outcome.message(debug=True)


async def test_encode_gives_start_each_batch_and_end() -> None:
    recorder = Recorder()
    out = b"".join([chunk async for chunk in encode(EventStream(_work), recorder)])
    assert out.startswith(b"<start>") and out.endswith(b"<end>")
    flat = [kind for batch in recorder.batches for kind in batch]
    assert flat[0] == "reasoning" and flat.count("custom") == 3 and len(flat) == 9
    assert all(recorder.batches)  # no empty batch reaches an encoder
    failed = Recorder()
    tail = [chunk async for chunk in encode(EventStream(_failing), failed)][-1]
    assert tail == b"<end:model_error>"


async def test_the_handler_streams_through_the_spec_encoder() -> None:
    """The handler's SSE is ``encode`` with the spec encoder: same frames, numbered error."""
    handler = EnhancedStreamHandler(enable_token_events=True)
    text = "".join([c async for c in handler.stream_run(_failing)])
    frames = [f for f in text.split("\n\n") if f]
    assert frames[-1] == "data: [DONE]"
    error = json.loads(frames[-2][6:])
    assert error["event_type"] == "error"
    assert error["metadata"]["seq"] == 1 and error["metadata"]["error_code"] == "model_error"
    assert error["choices"][0]["finish_reason"] == "stop"
    assert "secret-key-123" not in text

    stream = handler.open_stream(_work)
    direct = b"".join([c async for c in encode(stream, handler.encoder(stream))])
    via_handler = "".join([c async for c in handler.stream_run(_work)])
    assert len(direct.decode().split("\n\n")) == len(via_handler.split("\n\n"))


def test_final_text_is_the_final_answer_only() -> None:
    def ev(kind: str, data: dict[str, Any], **md: Any) -> StreamingEvent:
        return StreamingEvent(kind, data, md)  # type: ignore[arg-type]

    text = FinalText()
    pieces = [
        text.feed(ev("token", {"content": "Hand"}, intermediate=True)),
        text.feed(ev("answer", {"answer": "Handed on"}, intermediate=True)),
        text.feed(ev("reasoning", {"reasoning": "hmm"})),
        text.feed(ev("token", {"content": "Fi"})),
        text.feed(ev("token", {"content": "nal"})),
        text.feed(ev("answer", {"answer": "Final. (limit reached)"})),
    ]
    assert pieces == ["", "", "", "Fi", "nal", ". (limit reached)"]
    assert text.text == "Final. (limit reached)"


async def test_chat_encoder_content_is_the_final_answer_and_usage_is_the_runs() -> None:
    encoder = ChatEncoder("m", "chatcmpl-x", 1, include_usage=True)
    out = b"".join([c async for c in encode(EventStream(_work), encoder)]).decode()
    frames = [json.loads(f[6:]) for f in out.split("\n\n") if f and f != "data: [DONE]"]
    content = "".join(c["delta"].get("content") or "" for f in frames for c in f["choices"])
    assert content == "Final answer"
    assert frames[-1]["usage"] == {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}
    failed = b"".join([c async for c in encode(EventStream(_failing), ChatEncoder("m", "c", 1))])
    last = [f for f in failed.decode().split("\n\n") if f][-2]
    assert json.loads(last[6:])["error"]["code"] == "model_error"


async def test_an_encoder_reads_a_runs_log_and_its_terminal_entry() -> None:
    """What the server does for every protocol: entries decoded from the log, then the end
    from the terminal entry (a run executed in another process has no stream here)."""
    runs = Runs()
    try:
        for work, failed in ((_work, False), (_failing, True)):

            def run(_ctx: Any, work: Callable[[], Awaitable[Any]] = work) -> Awaitable[Any]:
                return work()

            handle = await runs.start(run, handler=EnhancedStreamHandler(enable_token_events=True))
            await handle.wait()
            recorder = Recorder()
            async for batch in runs.follow(handle.record.owner, handle.run_id):
                recorder.entries(batch)
            assert recorder.outcome.failed is failed
            flat = [kind for batch in recorder.batches for kind in batch]
            assert "error" not in flat  # the end is the encoder's, not an event
            assert recorder.finish() == (b"<end:model_error>" if failed else b"<end>")
            spec = SpecEncoder.of_record(handle.record, ids=True)
            replay = b""
            async for batch in runs.follow(handle.record.owner, handle.run_id):
                replay += spec.entries(batch)
            ids = [int(line[4:]) for line in replay.decode().splitlines() if line.startswith("id:")]
            assert ids == list(range(len(ids))) and len(ids) == len(flat) + 1
            interrupted = spec.interrupted(ModelError("x")).decode()
            assert '"seq":null' in interrupted and "[DONE]" not in interrupted
    finally:
        await runs.aclose()
