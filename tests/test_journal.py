"""Durable runs: a run's step journal, and a re-run that replays it after a crash."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Sequence
from typing import Any

import orjson
import pytest

from masai import AgentDetails, AgentManager, FunctionModel, ModelRequest, ScriptedModel, tool
from masai.agents import Journal, RunContext, ToolInterrupted
from masai.events import StreamingEvent, clear_streaming_callback, set_streaming_callback
from masai.MultiAgents.MultiAgent import MultiAgentSystem, SupervisorConfig
from masai.streaming import decode_chunk, event_delta
from masai.streaming._runs import _outcome
from tests.support.models import wait_until

DETAILS = AgentDetails(capabilities=["research"], description="Finds facts.")


@dataclasses.dataclass(frozen=True)
class Seen:
    kind: str
    data: dict[str, Any]
    call_id: str | None
    replaying: bool


class Attempt:
    """One attempt at a run, as a worker makes it: a journal over the entries the earlier
    attempts saved (its own saved after them, JSON round-tripped as storage would), and the
    run's events, each with whether the journal was replaying when it was emitted."""

    def __init__(self, before: Attempt | None = None) -> None:
        self.entries: list[dict[str, Any]] = list(before.entries) if before else []
        self.recorded = len(self.entries)
        self.events: list[Seen] = []
        self.live_at: list[int] = []
        self.journal = Journal(
            list(self.entries), save=self._save, position=lambda: len(self.events)
        )
        self.journal.on_live = self._on_live
        self._token = set_streaming_callback(self._emit)

    async def _save(self, entry: dict[str, Any]) -> None:
        self.entries.append(json.loads(json.dumps(entry)))

    async def _on_live(self, seq: int) -> None:
        self.live_at.append(seq)

    def _emit(self, event: StreamingEvent) -> None:
        self.events.append(
            Seen(
                event.event_type,
                event.data,
                event.metadata.get("tool_call_id"),
                self.journal.replaying,
            )
        )

    @property
    def saved(self) -> list[dict[str, Any]]:
        """The entries this attempt added."""
        return self.entries[self.recorded :]

    def context(self) -> RunContext:
        return RunContext(journal=self.journal)

    def kinds(self, *, replaying: bool | None = None) -> list[str]:
        return [e.kind for e in self.events if replaying is None or e.replaying is replaying]

    def steps(
        self, start: int = 0, stop: int | None = None, *, replaying: bool | None = None
    ) -> list[tuple[str, str]]:
        """The events' kinds, with each run of ``token`` events as one: a replayed decision
        sends its answer in one piece, not in the pieces the model streamed."""
        out: list[tuple[str, str]] = []
        for e in self.events[start:stop]:
            if replaying is not None and e.replaying is not replaying:
                continue
            if e.kind == "token" and out and out[-1][0] == "token":
                out[-1] = ("token", out[-1][1] + e.data["content"])
            else:
                out.append((e.kind, e.data["content"] if e.kind == "token" else ""))
        return out

    def close(self) -> None:
        clear_streaming_callback(self._token)


def calls_of(attempt: Attempt, tool_name: str) -> list[str | None]:
    return [
        e.call_id
        for e in attempt.events
        if e.kind == "tool_call" and e.data["tool_name"] == tool_name
    ]


class Tools:
    """``lookup`` (quick) and ``slow`` (runs until released), counting their runs."""

    def __init__(self, *, slow_idempotent: bool = True) -> None:
        self.runs: dict[str, int] = {"lookup": 0, "slow": 0}
        self.slow_started = asyncio.Event()
        self.release = asyncio.Event()

        @tool
        async def lookup(q: str) -> str:
            """Look something up."""
            self.runs["lookup"] += 1
            return f"found {q}"

        @tool(idempotent=slow_idempotent)
        async def slow(q: str) -> str:
            """Take a while."""
            self.runs["slow"] += 1
            self.slow_started.set()
            await self.release.wait()
            return f"slow {q}"

        self.all = [lookup, slow]


def make_agent(turns: Sequence[dict[str, Any]], tools: Tools) -> tuple[Any, ScriptedModel]:
    model = ScriptedModel(turns)
    manager = AgentManager(model=model, logging=False)
    agent = manager.create_agent("researcher", tools.all, DETAILS, parallel_tool_calls=True)
    return agent, model


LOOKUP_THEN_ANSWER: list[dict[str, Any]] = [
    {"reasoning": "look it up", "tool": "lookup", "tool_input": {"q": "a"}},
    {"reasoning": "enough", "satisfied": True, "answer": "It is a."},
]
# router: lookup a; evaluator: lookup b and slow c together; evaluator: answer.
THREE_DECISIONS: list[dict[str, Any]] = [
    {"reasoning": "look it up", "tool": "lookup", "tool_input": {"q": "a"}},
    {
        "reasoning": "both now",
        "tool_calls": [
            {"tool": "lookup", "tool_input": {"q": "b"}},
            {"tool": "slow", "tool_input": {"q": "c"}},
        ],
    },
    {"reasoning": "enough", "satisfied": True, "answer": "a, b and c."},
]


async def crash_in_slow(turns: Sequence[dict[str, Any]], tools: Tools) -> Attempt:
    """Run until ``slow`` runs (and every other call of its batch finished), then kill it."""
    first = Attempt()
    agent, _ = make_agent(turns, tools)
    task = asyncio.create_task(agent.initiate_agent("What?", context=first.context()))
    await asyncio.wait_for(tools.slow_started.wait(), 5)
    await wait_until(lambda: any(e.get("kind") == "tool" for e in first.saved[3:]))
    task.cancel()  # (a kill -9 saves nothing more; cancelling adds only events)
    with pytest.raises(asyncio.CancelledError):
        await task
    first.close()
    return first


# -- recording ------------------------------------------------------------------------------


async def test_a_run_records_its_steps_call_ids_and_resume_points() -> None:
    attempt = Attempt()
    tools = Tools()
    agent, _ = make_agent(LOOKUP_THEN_ANSWER, tools)
    final = await agent.initiate_agent("What?", context=attempt.context())
    attempt.close()

    assert final["answer"] == "It is a."
    entries = attempt.entries
    assert [e["kind"] for e in entries] == [
        "decision",
        "resume",
        "tool",
        "resume",
        "decision",
        "resume",
    ]
    first, _, result, _, second, _ = entries
    (call_id,) = calls_of(attempt, "lookup")
    assert first["scope"] == "" and first["n"] == 0
    assert first["decision"]["tool"] == "lookup"
    assert first["decision"]["tool_input"] == {"q": "a"}
    assert first["call_ids"] == [call_id]
    assert first["note"] is None
    assert first["usage"][0] > 0 and first["usage"][1] > 0
    assert result == {
        "kind": "tool",
        "id": call_id,
        "output": "found a",
        "shown": "found a",
        "is_error": False,
        "truncated": False,
    }
    assert (second["n"], second["call_ids"], second["decision"]["answer"]) == (1, [], "It is a.")
    # Each resume point is where the stream was after its step: the next event's seq.
    seqs = [e["seq"] for e in entries if e["kind"] == "resume"]
    kinds = attempt.kinds()
    assert kinds[seqs[0] - 1] == "reasoning"  # the router's decision
    assert kinds[seqs[1] - 1] == "tool_output"  # the tool batch
    assert kinds[seqs[2] - 1] in ("token", "reasoning")  # the evaluator's decision
    assert kinds[seqs[2] :] == ["answer", "node_transition"]
    # A first attempt is live from the start, and says so once.
    assert attempt.live_at == [-1]
    assert not any(e.replaying for e in attempt.events)
    assert attempt.journal.last_resume_seq == seqs[-1]


async def test_a_finished_run_replays_without_model_or_tools() -> None:
    tools = Tools()
    first = Attempt()
    agent, _ = make_agent(LOOKUP_THEN_ANSWER, tools)
    await agent.initiate_agent("What?", context=first.context())
    first.close()

    again = Attempt(first)
    assert again.journal.replaying and again.journal.resumed
    agent, model = make_agent([], tools)  # a model asked anything fails the run
    final = await agent.initiate_agent("What?", context=again.context())
    again.close()

    assert final["answer"] == "It is a."
    assert final["tool_calls"][0]["output"] == "found a"
    assert model.requests == []
    assert tools.runs["lookup"] == 1
    assert calls_of(again, "lookup") == calls_of(first, "lookup")
    last = first.entries[-1]["seq"]
    assert again.live_at == [last]
    assert again.steps(replaying=True) == first.steps(0, last)
    assert again.kinds(replaying=False) == first.kinds()[last:] == ["answer", "node_transition"]
    assert [e["kind"] for e in again.saved] == []  # nothing new happened
    assert final["usage"]["input_tokens"] > 0  # the recorded calls' tokens count again


# -- crash and resume -----------------------------------------------------------------------


async def test_a_crashed_run_resumes_where_it_stopped() -> None:
    tools = Tools()
    first = await crash_in_slow(THREE_DECISIONS, tools)
    assert tools.runs == {"lookup": 2, "slow": 1}
    assert [e["kind"] for e in first.entries] == [
        "decision",
        "resume",
        "tool",
        "resume",
        "decision",
        "resume",
        "tool",  # lookup b finished; slow c did not
    ]
    resume = first.entries[5]["seq"]

    tools.release.set()
    again = Attempt(first)
    agent, model = make_agent(THREE_DECISIONS[2:], tools)
    final = await agent.initiate_agent("What?", context=again.context())
    again.close()

    assert final["answer"] == "a, b and c."
    # Only the step that had not finished ran again; the model was asked only the last turn.
    assert tools.runs == {"lookup": 2, "slow": 2}
    assert len(model.requests) == 1
    told = model.requests[0].messages[-1].content
    assert "found b" in told and "slow c" in told
    # The same calls, by id.
    assert calls_of(again, "lookup") == calls_of(first, "lookup")
    assert calls_of(again, "slow") == calls_of(first, "slow")
    # Replayed: exactly what the first attempt sent before its last resume point.
    assert again.live_at == [resume]
    assert again.steps(replaying=True) == first.steps(0, resume)
    live = [e for e in again.events if not e.replaying]
    assert live[0].kind == "node_transition"
    assert live[0].data == {"from_node": "evaluator", "to_node": "execute_tool"}
    # The recorded result of the interrupted batch comes back live, not run again.
    outputs = {e.data["output"]: e.call_id for e in live if e.kind == "tool_output"}
    (lookup_b,) = [i for i in calls_of(first, "lookup")[1:]]
    (slow_c,) = calls_of(first, "slow")
    assert outputs == {"found b": lookup_b, "slow c": slow_c}
    assert [e["kind"] for e in again.saved] == ["tool", "resume", "decision", "resume"]
    assert again.saved[0]["id"] == slow_c
    assert again.saved[2]["n"] == 2


async def test_an_interrupted_tool_that_is_not_idempotent_is_not_run_again() -> None:
    tools = Tools(slow_idempotent=False)
    first = await crash_in_slow(THREE_DECISIONS, tools)
    (slow_c,) = calls_of(first, "slow")
    assert {"kind": "started", "id": slow_c} in first.entries
    assert not any(e["kind"] == "tool" and e["id"] == slow_c for e in first.entries)

    tools.release.set()
    again = Attempt(first)
    agent, model = make_agent(THREE_DECISIONS[2:], tools)
    with pytest.raises(ToolInterrupted) as caught:
        await agent.initiate_agent("What?", context=again.context())
    again.close()

    assert tools.runs["slow"] == 1
    assert model.requests == []
    assert caught.value.code == "tool_interrupted"
    assert _outcome(caught.value, None) == ("failed", "tool_interrupted")
    closing = [e for e in again.events if e.kind == "tool_output" and e.call_id == slow_c]
    assert len(closing) == 1 and closing[0].data["is_error"] is True
    assert "not run again" in closing[0].data["output"]


async def test_a_finished_call_of_a_tool_that_is_not_idempotent_replays_its_result() -> None:
    sent: list[str] = []

    @tool(idempotent=False)
    async def pay(amount: int) -> str:
        """Send a payment."""
        sent.append(str(amount))
        return f"paid {amount}"

    turns: list[dict[str, Any]] = [
        {"reasoning": "pay", "tool": "pay", "tool_input": {"amount": 5}},
        {"reasoning": "paid", "satisfied": True, "answer": "Paid 5."},
    ]
    first = Attempt()
    agent = AgentManager(model=ScriptedModel(turns), logging=False).create_agent(
        "payer", [pay], DETAILS
    )
    await agent.initiate_agent("Pay", context=first.context())
    first.close()
    assert [e["kind"] for e in first.entries][2:4] == ["started", "tool"]

    again = Attempt(first)
    agent = AgentManager(model=ScriptedModel([]), logging=False).create_agent(
        "payer", [pay], DETAILS
    )
    final = await agent.initiate_agent("Pay", context=again.context())
    again.close()
    assert final["answer"] == "Paid 5."
    assert sent == ["5"]


# -- multi-agent runs -----------------------------------------------------------------------


def team(writer: Any, noted: list[str]) -> MultiAgentSystem:
    @tool
    async def note(text: str) -> str:
        """Take a note."""
        noted.append(text)
        return "noted"

    researcher = ScriptedModel(
        [
            {"reasoning": "note it", "tool": "note", "tool_input": {"text": "AI grows"}},
            {
                "reasoning": "the analyst should interpret this",
                "satisfied": True,
                "delegate_to_agent": "analyst",
                "answer": "AI grows 30%/yr",
            },
        ]
    )
    analyst = ScriptedModel(
        [
            {
                "reasoning": "the writer should phrase it",
                "satisfied": True,
                "delegate_to_agent": "writer",
                "answer": "Strong growth",
            }
        ]
    )
    manager = AgentManager(logging=False)
    manager.create_agent("researcher", [note], AgentDetails(["research"]), model=researcher)
    manager.create_agent("analyst", [], AgentDetails(["analysis"]), model=analyst)
    manager.create_agent("writer", [], AgentDetails(["writing"]), model=writer)
    return MultiAgentSystem(agentManager=manager)


async def test_a_decentralized_run_resumes_in_the_agent_it_crashed_in() -> None:
    noted: list[str] = []
    writing = asyncio.Event()

    async def stuck(request: ModelRequest) -> dict[str, Any]:
        writing.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    first = Attempt()
    mas = team(FunctionModel(stuck), noted)
    task = asyncio.create_task(
        mas.initiate_decentralized_mas("AI?", "researcher", context=first.context())
    )
    await asyncio.wait_for(writing.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    first.close()
    decisions = [(e["scope"], e["n"]) for e in first.entries if e["kind"] == "decision"]
    assert decisions == [("", 0), ("", 1), ("", 2)]  # researcher ×2, analyst; the writer's not

    answered: list[str] = []

    def writer(request: ModelRequest) -> dict[str, Any]:
        answered.append(request.messages[-1].content)
        return {"reasoning": "write it", "satisfied": True, "answer": "AI is growing."}

    again = Attempt(first)
    mas = team(FunctionModel(writer), noted)  # (researcher and analyst: asked again, they fail)
    final = await mas.initiate_decentralized_mas("AI?", "researcher", context=again.context())
    again.close()

    assert final["answer"] == "AI is growing."
    assert final["chain"] == ["researcher", "analyst", "writer"]
    assert [a["agent"] for a in final["answers"]] == ["researcher", "analyst", "writer"]
    assert noted == ["AI grows"]
    assert len(answered) == 1 and "Strong growth" in answered[0]  # the hand-off context
    last = [e["seq"] for e in first.entries if e["kind"] == "resume"][-1]
    assert again.live_at == [last]
    assert again.steps(replaying=True) == first.steps(0, last)
    handoffs = [(e.data["from_agent"], e.replaying) for e in again.events if e.kind == "handoff"]
    assert handoffs == [("researcher", True), ("analyst", False)]


# -- without a journal, and the retracted event -----------------------------------------------


async def test_without_a_journal_nothing_is_recorded_and_ids_are_fresh() -> None:
    tools = Tools()
    agent, _ = make_agent(LOOKUP_THEN_ANSWER, tools)
    one = await agent.initiate_agent("What?")
    agent, _ = make_agent(LOOKUP_THEN_ANSWER, tools)
    two = await agent.initiate_agent("What?")
    assert one["answer"] == two["answer"] == "It is a."
    assert tools.runs["lookup"] == 2
    assert one["tool_calls"][0]["id"] != two["tool_calls"][0]["id"]
    assert RunContext().journal is None


def test_journal_ignores_unknown_entries_and_starts_live_without_resume_points() -> None:
    journal = Journal([{"kind": "from_the_future"}, {"kind": "tool", "id": "c", "output": ""}])
    assert journal.resumed and not journal.replaying
    assert journal.last_resume_seq == -1
    assert Journal([{"kind": "resume", "seq": 7}]).replaying


async def test_on_live_is_called_once() -> None:
    seen: list[int] = []

    async def on_live(seq: int) -> None:
        seen.append(seq)

    journal = Journal(on_live=on_live)
    await journal.begin()
    await journal.begin()
    await journal.boundary()
    assert seen == [-1]
    resumed = Journal([{"kind": "resume", "seq": 3}, {"kind": "resume", "seq": 9}])
    resumed.on_live = on_live
    await resumed.begin()
    await resumed.boundary()
    assert (seen, resumed.replaying) == ([-1], True)
    await resumed.boundary()
    assert (seen, resumed.replaying) == ([-1, 9], False)
    await resumed.begin()
    assert seen == [-1, 9]


def test_retracted_event_round_trips_through_a_chunk() -> None:
    event = StreamingEvent("retracted", {"from_seq": 4, "to_seq": 11}, {"seq": 12})
    assert event_delta(event) == ({"retracted": {"from_seq": 4, "to_seq": 11}}, None)
    frame = event.to_openai_sse()
    chunk = orjson.loads(frame.removeprefix("data: ").strip())
    assert chunk["choices"][0]["delta"] == {"retracted": {"from_seq": 4, "to_seq": 11}}
    assert chunk["event_type"] == "retracted" and chunk["metadata"]["seq"] == 12
    decoded = decode_chunk(chunk)
    assert decoded is not None
    assert decoded.event_type == "retracted"
    assert decoded.data == {"from_seq": 4, "to_seq": 11}


async def test_a_nested_agent_records_under_its_tool_call_and_adds_no_resume_points() -> None:
    def manager_for(outer: list[dict[str, Any]], inner: list[dict[str, Any]]) -> Any:
        manager = AgentManager(logging=False)
        helper = manager.create_agent(
            "helper", [], AgentDetails(["helping"]), model=ScriptedModel(inner)
        )
        return manager.create_agent("lead", [helper.as_tool()], DETAILS, model=ScriptedModel(outer))

    outer: list[dict[str, Any]] = [
        {"reasoning": "ask", "tool": "helper", "tool_input": {"task": "help"}},
        {"reasoning": "ok", "satisfied": True, "answer": "Helped."},
    ]
    inner: list[dict[str, Any]] = [{"reasoning": "sure", "satisfied": True, "answer": "Here."}]
    first = Attempt()
    final = await manager_for(outer, inner).initiate_agent("Go", context=first.context())
    first.close()
    assert final["answer"] == "Helped."
    (call_id,) = calls_of(first, "helper")
    keys = [(e["scope"], e["n"]) for e in first.entries if e["kind"] == "decision"]
    assert keys == [("", 0), (call_id, 0), ("", 1)]
    assert [e["kind"] for e in first.entries].count("resume") == 3  # the lead's steps only

    again = Attempt(first)
    final = await manager_for([], []).initiate_agent("Go", context=again.context())
    again.close()
    assert final["answer"] == "Helped."
    assert again.saved == []


async def test_a_hierarchical_run_replays_its_supervisors_decisions() -> None:
    asked: list[str] = []

    def supervisor(request: ModelRequest) -> dict[str, Any]:
        asked.append(request.messages[-1].content)
        if len(asked) == 1:
            return {"reasoning": "the writer first", "delegate_to_agent": "writer"}
        return {"reasoning": "done", "satisfied": True, "answer": "Final: AI is growing."}

    def writer(request: ModelRequest) -> dict[str, Any]:
        return {"reasoning": "write it", "satisfied": True, "answer": "AI is growing."}

    def system() -> MultiAgentSystem:
        manager = AgentManager(logging=False)
        manager.create_agent("writer", [], AgentDetails(["writing"]), model=FunctionModel(writer))
        config = SupervisorConfig(model=FunctionModel(supervisor))
        return MultiAgentSystem(agentManager=manager, supervisor_config=config)

    first = Attempt()
    done = await system().initiate_hierarchical_mas("AI?", context=first.context())
    first.close()
    decisions = [e for e in first.entries if e["kind"] == "decision"]
    assert len(asked) == 2 and len(decisions) == 3  # supervisor, writer, supervisor

    again = Attempt(first)
    replayed = await system().initiate_hierarchical_mas("AI?", context=again.context())
    again.close()
    assert len(asked) == 2  # the supervisor was not asked again
    assert replayed["answer"] == done["answer"]
    assert again.saved == []  # (nothing new: every step was recorded)
    last = [e["seq"] for e in first.entries if e["kind"] == "resume"][-1]
    assert again.steps(replaying=True) == first.steps(0, last)
