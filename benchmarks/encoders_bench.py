"""Encoding cost per event of every wire protocol, against the spec encoder, in one run.

One realistic batch, shaped like a run of the demo's research team: per agent turn, its
reasoning, a tool call in the runtime's tool scope with many progress events and its output,
the answer's tokens, the answer, a shared-memory write and a hand-off to the next agent. It is
emitted through masai's own emit API inside the runtime's scopes, into an ``EventStream`` that
numbers it, so every encoder sees what a route sees. Then, for each encoder of ``ENCODERS``:

- ``events(batch)``: a run this process executes (the handler, the CLI, a local route);
- ``entries(log batch)``: a viewer of the run's log, the server's path: the log holds the spec's
  frames, so every other protocol decodes them back into events first (the spec's encoder
  copies them).

CPU µs per event (process time), medians over repeats; in each repeat every encoder runs
once, on a fresh instance (encoders keep per-response state) and fresh events, so their ratios
to the spec encoder are taken under the same conditions. Also timed: decoding the log's frames
back into events alone, the part of ``entries`` every non-spec protocol shares.
``python -m benchmarks.encoders_bench [--quick]`` prints one JSON line; ``python -m benchmarks``
turns it into its "encoders" section.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import statistics
import time
from collections.abc import Callable
from typing import Any

from masai._context import agent_scope, scoped, tool_scope
from masai._sinks import new_tool_call_id
from masai.events import (
    StreamingEvent,
    emit_custom_event,
    emit_event,
    emit_tool_call,
    emit_tool_output,
)
from masai.streaming._log import LogBatch
from masai.streaming._openai import ChunkEncoder
from masai.streaming._stream import EventStream

from ._run import print_result

MODEL = "mas-ai-general"

#: Builds an encoder (of ``cls``) for one response to the stream that numbered the batch.
Build = Callable[[Any, EventStream], Any]

#: The encoders measured: (name, module, class, how to make one). One line per protocol; a
#: class that does not import (not written yet) is reported missing, not measured.
ENCODERS: tuple[tuple[str, str, str, Build], ...] = (
    ("spec", "masai.streaming._spec", "SpecEncoder", lambda c, s: c.of_stream(s, MODEL)),
    ("chat", "masai.streaming._chat", "ChatEncoder", lambda c, s: c(MODEL, s.chunk_id, s.created)),
    (
        "chat + agent events",
        "masai.streaming._chat",
        "ChatEncoder",
        lambda c, s: c(MODEL, s.chunk_id, s.created, include_agent_events=True),
    ),
    (
        "responses",
        "masai.streaming._responses",
        "ResponsesEncoder",
        lambda c, s: c(f"resp_{s.run_id}", MODEL, s.created),
    ),
    (
        "responses + agent events",
        "masai.streaming._responses",
        "ResponsesEncoder",
        lambda c, s: c(f"resp_{s.run_id}", MODEL, s.created, include_agent_events=True),
    ),
    ("ag-ui", "masai.streaming._agui", "AgUiEncoder", lambda c, s: c(f"t-{s.run_id}", s.run_id)),
    ("ui-stream", "masai.streaming._uistream", "UIStreamEncoder", lambda c, s: c(f"m-{s.run_id}")),
)
SPEC = "spec"

AGENTS = ("researcher", "analyst", "writer")


async def _turn(agent: str, after: str, progress: int, tokens: int) -> None:
    """One agent's turn, with the event shapes and scopes masai's runtime gives them."""
    with agent_scope(agent):
        with scoped(node="router"):
            await emit_event("reasoning", {"reasoning": f"{agent}: I should look this up first."})
        call_id = new_tool_call_id()
        with scoped(node="execute_tool"), tool_scope("web_search", call_id):
            await emit_tool_call("web_search", {"query": "AI trends", "limit": 10}, "execute_tool")
            for i in range(1, progress + 1):
                await emit_custom_event(
                    f"Searching source {i}/{progress}", {"progress": i / progress, "source": i}
                )
            results = {"results": [{"title": f"Result {i}", "score": 0.9} for i in range(3)]}
            await emit_tool_output("web_search", results, "execute_tool")
        with scoped(node="evaluator"):
            for i in range(tokens):
                await emit_event("token", {"content": f"word{i} "})
            answer = {"answer": f"{agent} found 12 documents.", "satisfied": True}
            await emit_event(
                "answer", {**answer, "stop_reason": "completed"}, {"intermediate": True}
            )
        value = {"summary": "12 documents", "sources": 3}
        await emit_event(
            "memory_update", {"key": f"answer:{agent}", "value": value, "agent": agent}
        )
        reason = f"{after} takes it from here"
        await emit_event("handoff", {"from_agent": agent, "to_agent": after, "reason": reason})


async def demo_batch(turns: int, progress: int, tokens: int) -> tuple[EventStream, list[Any]]:
    """The batch, numbered by the stream it was emitted into (returned with it)."""

    async def run() -> None:
        for turn in range(turns):
            agent, after = AGENTS[turn % 3], AGENTS[(turn + 1) % 3]
            await _turn(agent, after, progress, tokens)
        with agent_scope(AGENTS[turns % 3]), scoped(node="evaluator"):
            await emit_event("answer", {"answer": "The report is done.", "satisfied": True})

    stream = EventStream(run)
    batch: list[StreamingEvent] = []
    async with stream:
        async for events in stream.batches():
            batch.extend(events)
    return stream, batch


def available() -> tuple[list[tuple[str, Any, Build]], list[str]]:
    """The encoders that import, and the names of those that do not (yet)."""
    found, missing = [], []
    for name, module, cls_name, build in ENCODERS:
        try:
            cls = getattr(importlib.import_module(module), cls_name)
        except (ImportError, AttributeError):
            missing.append(f"{name} ({module}.{cls_name})")
            continue
        found.append((name, cls, build))
    return found, missing


def _timed(work: Callable[[], object], size: int) -> float:
    """CPU µs per event of one call (the encoder made and started beforehand, untimed)."""
    t0 = time.process_time()
    work()
    return (time.process_time() - t0) / size * 1e6


def _decoded(log: LogBatch) -> list[StreamingEvent | None]:
    """The log's frames back into events, as ``Encoder.entries`` reads them (its share of
    every non-spec viewer's cost)."""
    return [entry.event for entry in log.entries()]


async def measure(quick: bool) -> dict[str, Any]:
    turns, progress, tokens = (3, 40, 30) if quick else (12, 60, 40)
    repeats = 5 if quick else 21
    stream, batch = await demo_batch(turns, progress, tokens)
    encoders, missing = available()
    if not encoders or encoders[0][0] != SPEC:
        raise RuntimeError("the spec encoder is the baseline: it must be first, and import")
    # The log's view of the same run: its spec frames, minus the head every frame shares, as
    # a ``LoggedStream`` writes them.
    chunks = ChunkEncoder(MODEL, stream.chunk_id, stream.created, sink=stream)
    log = LogBatch(0, chunks.tails(batch), head=chunks.head)
    size = len(batch)
    samples: dict[str, dict[str, list[float]]] = {
        name: {"events": [], "entries": []} for name, _, _ in encoders
    }
    for repeat in range(-1, repeats):  # (round -1 warms up: imports, caches, lazy tables)
        for name, cls, build in encoders:
            # Fresh events for each encoder, as a route gets them: an encoder that reads an
            # event's ``metadata`` builds it on the event, which would send the next encoder
            # of the same events down its general path rather than its splicing one.
            run, events = await demo_batch(turns, progress, tokens)
            live = build(cls, run)
            live.start()
            live_us = _timed(functools.partial(live.events, events), size)
            viewer = build(cls, stream)
            viewer.start()
            log_us = _timed(functools.partial(viewer.entries, log), size)
            if repeat >= 0:
                samples[name]["events"].append(live_us)
                samples[name]["entries"].append(log_us)
    decoding = [_timed(lambda: _decoded(log), size) for _ in range(repeats)]
    spec_live = statistics.median(samples[SPEC]["events"])
    spec_log = statistics.median(samples[SPEC]["entries"])
    result: dict[str, Any] = {}
    for name, per in samples.items():
        live_us, log_us = statistics.median(per["events"]), statistics.median(per["entries"])
        result[name] = {
            "events_us": live_us,
            "entries_us": log_us,
            "events_ratio": live_us / spec_live,
            "entries_ratio": log_us / spec_log,
        }
    kinds: dict[str, int] = {}
    for event in batch:
        kinds[event.event_type] = kinds.get(event.event_type, 0) + 1
    return {
        "decode_us": statistics.median(decoding),
        "events": size,
        "mix": kinds,
        "repeats": repeats,
        "encoders": result,
        "missing": missing,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.encoders_bench")
    parser.add_argument("--quick", action="store_true")
    print_result(measure(parser.parse_args().quick))
