"""Human approval of tool calls in the agent layer: who asks, what runs, what streams."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar

import pytest

from masai import AgentDetails, AgentManager, ScriptedModel, tool
from masai.agents import (
    ApprovalDecision,
    ApprovalRequest,
    Approvals,
    ApprovalTimeout,
    RunContext,
)
from masai.events import (
    StreamingEvent,
    clear_streaming_callback,
    emit_event,
    set_streaming_callback,
)
from masai.streaming import EnhancedStreamHandler, event_delta
from masai.tooling import LangChainTool, ToolArgumentsError
from tests.support.sse import chunks, events

DETAILS = AgentDetails(capabilities=["publishing"])


class QueueApprovals:
    """A real ``Approvals`` channel: each request waits on a future the test resolves.

    Like a server's, it honours the request's timeout (``ApprovalTimeout``), validates edited
    arguments before accepting a decision, and withdraws a request whose wait is cancelled.
    """

    def __init__(self, default_timeout: float = 5.0) -> None:
        self.default_timeout = default_timeout
        self.pending: asyncio.Queue[tuple[ApprovalRequest, asyncio.Future[ApprovalDecision]]]
        self.pending = asyncio.Queue()
        self.asked: list[ApprovalRequest] = []
        self.withdrawn: list[str] = []

    def ask(self, request: ApprovalRequest) -> asyncio.Future[ApprovalDecision]:
        self.asked.append(request)
        future: asyncio.Future[ApprovalDecision] = asyncio.get_running_loop().create_future()
        self.pending.put_nowait((request, future))
        return asyncio.ensure_future(self._wait(request, future))

    async def _wait(
        self, request: ApprovalRequest, future: asyncio.Future[ApprovalDecision]
    ) -> ApprovalDecision:
        try:
            async with asyncio.timeout(request.timeout or self.default_timeout):
                return await future
        except TimeoutError:
            raise ApprovalTimeout(f"no decision on {request.tool_call_id}") from None
        except asyncio.CancelledError:
            self.withdrawn.append(request.tool_call_id)
            raise

    async def next(self) -> tuple[ApprovalRequest, asyncio.Future[ApprovalDecision]]:
        return await asyncio.wait_for(self.pending.get(), 5)

    async def decide(
        self, approved: bool, *, arguments: Any = None, reason: str | None = None
    ) -> ApprovalRequest:
        """Answer the next request, as a person would (edited arguments validated first)."""
        request, future = await self.next()
        edited = request.validate(arguments) if arguments is not None else None
        future.set_result(
            ApprovalDecision(
                approved=approved,
                reason=reason,
                arguments=edited,
                decided_by="alice",
                decided_at=1234.5,
            )
        )
        return request


class Fixed:
    """An ``Approvals`` channel that answers every request the same way at once."""

    def __init__(self, decision: ApprovalDecision) -> None:
        self.decision = decision

    def ask(self, request: ApprovalRequest) -> asyncio.Future[ApprovalDecision]:
        decided: asyncio.Future[ApprovalDecision] = asyncio.get_running_loop().create_future()
        decided.set_result(self.decision)
        return decided


def test_the_test_channels_are_approvals() -> None:
    channels: list[Approvals] = [QueueApprovals(), Fixed(ApprovalDecision(approved=True))]
    assert all(callable(c.ask) for c in channels)  # (and mypy checks the protocol)


class Published:
    """A ``publish`` tool that needs approval and records every run."""

    def __init__(self, **options: Any) -> None:
        self.runs: list[dict[str, Any]] = []

        @tool(requires_approval=True, **options)
        async def publish(report: str, copies: int = 1) -> str:
            """Publish the report."""
            self.runs.append({"report": report, "copies": copies})
            return f"published {report} x{copies}"

        self.tool = publish


def publish_turns(tool_input: Any = '{"report": "q3"}') -> list[dict[str, Any]]:
    return [
        {"reasoning": "publish it", "tool": "publish", "tool_input": tool_input},
        {"reasoning": "done", "satisfied": True, "answer": "Finished."},
    ]


def make_agent(
    turns: list[dict[str, Any]], tools: list[Any], **options: Any
) -> tuple[Any, ScriptedModel]:
    model = ScriptedModel(turns)
    manager = AgentManager(model=model, logging=False)
    return manager.create_agent("publisher", tools, DETAILS, **options), model


class Recorder:
    def __init__(self) -> None:
        self.events: list[StreamingEvent] = []

    def __call__(self, event: StreamingEvent) -> None:
        self.events.append(event)

    def kinds(self, *only: str) -> list[str]:
        return [e.event_type for e in self.events if not only or e.event_type in only]

    def one(self, kind: str) -> StreamingEvent:
        (event,) = [e for e in self.events if e.event_type == kind]
        return event


@pytest.fixture
def recorder() -> Any:
    rec = Recorder()
    token = set_streaming_callback(rec)
    yield rec
    clear_streaming_callback(token)


TOOL_EVENTS = ("tool_call", "approval_required", "approval", "tool_output")


def last_tool_results(model: ScriptedModel) -> str:
    """What the model was told about the tool results in its latest request."""
    return model.requests[-1].messages[-1].content


class Publishing:
    """An agent calling ``publish`` (which needs approval) in a task, asking ``channel``."""

    def __init__(self, query: str = "Publish Q3", **tool_options: Any) -> None:
        self.published = Published(**tool_options)
        agent, self.model = make_agent(publish_turns(), [self.published.tool])
        self.channel = QueueApprovals()
        self.run = asyncio.create_task(
            agent.initiate_agent(query, context=RunContext(approvals=self.channel))
        )


# -- approved, denied, edited -------------------------------------------------------------------


async def test_approved_call_runs_once_and_streams_the_decision(recorder: Recorder) -> None:
    publishing = Publishing()
    published, channel, run = publishing.published, publishing.channel, publishing.run
    model = publishing.model
    request = await channel.decide(True)
    final = await run

    assert published.runs == [{"report": "q3", "copies": 1}]
    assert final["answer"] == "Finished."
    assert recorder.kinds(*TOOL_EVENTS) == list(TOOL_EVENTS)
    call_id = recorder.one("tool_call").metadata["tool_call_id"]
    assert request.tool_call_id == call_id
    assert request.tool_name == "publish"
    assert request.arguments == {"report": "q3", "copies": 1}
    assert request.timeout is None

    required = recorder.one("approval_required")
    assert required.data == {
        "approval": {
            "tool_call_id": call_id,
            "tool_name": "publish",
            "arguments": {"report": "q3", "copies": 1},
        }
    }
    decided = recorder.one("approval")
    assert decided.data == {
        "approval": {
            "tool_call_id": call_id,
            "tool_name": "publish",
            "approved": True,
            "reason": None,
            "arguments": None,
            "decided_by": "alice",
            "decided_at": 1234.5,
        }
    }
    for event in (required, decided):
        assert event.metadata["tool_call_id"] == call_id
        assert event.metadata["tool_name"] == "publish"
        assert event.metadata["node"] == "execute_tool"
        assert event.metadata["agent"] == "publisher"
    output = recorder.one("tool_output")
    assert output.data["output"] == "published q3 x1"
    assert not output.data.get("is_error")
    assert "published q3 x1" in last_tool_results(model)


async def test_denied_call_never_runs_and_the_model_reads_why(recorder: Recorder) -> None:
    publishing = Publishing()
    published, channel, run = publishing.published, publishing.channel, publishing.run
    model = publishing.model
    await channel.decide(False, reason="not before the board meeting")
    final = await run

    assert published.runs == []
    assert final["answer"] == "Finished."
    denial = "publish was not run: the user denied it. Reason: not before the board meeting"
    assert denial in last_tool_results(model)
    assert "[publish error]" in last_tool_results(model)
    output = recorder.one("tool_output")
    assert output.data == {"tool_name": "publish", "output": denial, "is_error": True}
    assert recorder.kinds(*TOOL_EVENTS) == list(TOOL_EVENTS)
    approval = recorder.one("approval").data["approval"]
    assert approval["approved"] is False
    assert approval["reason"] == "not before the board meeting"
    assert final["tool_calls"][0]["output"] == denial
    assert final["tool_calls"][0]["is_error"] is True


async def test_denied_without_reason() -> None:
    published = Published()
    agent, model = make_agent(publish_turns(), [published.tool])
    context = RunContext(approvals=Fixed(ApprovalDecision(approved=False)))
    await agent.initiate_agent("Publish Q3", context=context)
    assert published.runs == []
    results = last_tool_results(model)
    assert "publish was not run: the user denied it.\n" in results + "\n"
    assert "Reason" not in results


async def test_edited_arguments_are_what_runs(recorder: Recorder) -> None:
    publishing = Publishing()
    published, channel, run = publishing.published, publishing.channel, publishing.run
    model = publishing.model
    await channel.decide(True, arguments={"report": "q3-final", "copies": "2"})
    await run

    assert published.runs == [{"report": "q3-final", "copies": 2}]
    assert recorder.one("approval").data["approval"]["arguments"] == {
        "report": "q3-final",
        "copies": 2,
    }
    assert "published q3-final x2" in last_tool_results(model)


async def test_invalid_edited_arguments_are_refused_and_the_call_keeps_waiting() -> None:
    publishing = Publishing()
    published, channel, run = publishing.published, publishing.channel, publishing.run
    request, future = await channel.next()
    with pytest.raises(ToolArgumentsError, match="copies"):
        request.validate({"report": "q3", "copies": "many"})
    with pytest.raises(ToolArgumentsError, match="unexpected"):
        request.validate({"report": "q3", "unexpected": 1})
    await asyncio.sleep(0.01)
    assert not run.done() and published.runs == []

    future.set_result(ApprovalDecision(approved=True, arguments=request.validate({"report": "b"})))
    await run
    assert published.runs == [{"report": "b", "copies": 1}]


async def test_the_tools_approval_timeout_reaches_the_channel() -> None:
    publishing = Publishing(approval_timeout=600)
    channel, run = publishing.channel, publishing.run
    request = await channel.decide(True)
    await run
    assert request.timeout == 600


# -- who is asked -------------------------------------------------------------------------------


async def test_policy_asks_only_for_matching_calls(recorder: Recorder) -> None:
    deleted: list[str] = []

    @tool
    def delete(path: str) -> str:
        """Delete a file."""
        deleted.append(path)
        return f"deleted {path}"

    seen: list[tuple[str, dict[str, Any]]] = []

    def policy(tool_name: str, arguments: dict[str, Any]) -> bool:
        seen.append((tool_name, arguments))
        return str(arguments["path"]).startswith("/etc")

    turns: list[dict[str, Any]] = [
        {"reasoning": "tmp first", "tool": "delete", "tool_input": {"path": "/tmp/a"}},
        {"reasoning": "now etc", "tool": "delete", "tool_input": '{"path": "/etc/passwd"}'},
        {"reasoning": "done", "satisfied": True, "answer": "Cleaned."},
    ]
    agent, _ = make_agent(turns, [delete], approval_policy=policy)
    assert agent.approval_policy is policy
    channel = QueueApprovals()
    run = asyncio.create_task(agent.initiate_agent("Clean", context=RunContext(approvals=channel)))
    request = await channel.decide(True)
    await run

    assert seen == [("delete", {"path": "/tmp/a"}), ("delete", {"path": "/etc/passwd"})]
    assert [r.tool_call_id for r in channel.asked] == [request.tool_call_id]
    assert request.arguments == {"path": "/etc/passwd"}
    assert deleted == ["/tmp/a", "/etc/passwd"]
    assert recorder.kinds("tool_call", "approval_required", "approval", "tool_output") == [
        "tool_call",
        "tool_output",
        "tool_call",
        "approval_required",
        "approval",
        "tool_output",
    ]


async def test_a_failing_policy_asks_rather_than_run_unapproved(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ran: list[str] = []

    @tool
    def ping(host: str) -> str:
        """Ping a host."""
        ran.append(host)
        return "pong"

    def broken(tool_name: str, arguments: dict[str, Any]) -> bool:
        raise KeyError("oops")

    turns: list[dict[str, Any]] = [
        {"reasoning": "ping", "tool": "ping", "tool_input": {"host": "h"}},
        {"reasoning": "done", "satisfied": True, "answer": "ok"},
    ]
    agent, _ = make_agent(turns, [ping], approval_policy=broken)
    context = RunContext(approvals=Fixed(ApprovalDecision(approved=False, reason="no")))
    with caplog.at_level(logging.ERROR, logger="masai.agents"):
        await agent.initiate_agent("Ping", context=context)
    assert ran == []
    assert "approval policy failed" in caplog.text


async def test_invalid_arguments_fail_without_asking(recorder: Recorder) -> None:
    published = Published()
    agent, model = make_agent(publish_turns({"copies": 2}), [published.tool])
    channel = QueueApprovals()
    await agent.initiate_agent("Publish", context=RunContext(approvals=channel))
    assert channel.asked == [] and published.runs == []
    assert recorder.kinds(*TOOL_EVENTS) == ["tool_call", "tool_output"]
    output = recorder.one("tool_output").data
    assert output["is_error"] is True
    assert "invalid arguments for publish: report" in output["output"]
    assert "invalid arguments for publish" in last_tool_results(model)


async def test_without_a_channel_the_call_is_denied(
    recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    published = Published()
    agent, model = make_agent(publish_turns(), [published.tool])
    with caplog.at_level(logging.WARNING, logger="masai.agents"):
        final = await agent.initiate_agent("Publish Q3")

    assert published.runs == []
    assert recorder.kinds(*TOOL_EVENTS) == list(TOOL_EVENTS)
    approval = recorder.one("approval").data["approval"]
    assert approval["approved"] is False
    assert approval["reason"] == "no one can approve tool calls in this run"
    assert approval["decided_by"] is None
    assert isinstance(approval["decided_at"], float)
    denial = recorder.one("tool_output").data
    assert denial["is_error"] is True
    assert "publish was not run" in denial["output"]
    assert "no one can approve tool calls in this run" in denial["output"]
    assert denial["output"] in last_tool_results(model)
    assert final["answer"] == "Finished."
    warnings = [r for r in caplog.records if "no one can approve" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING


async def test_tools_without_approval_never_touch_the_channel(recorder: Recorder) -> None:
    @tool
    def lookup(key: str) -> str:
        """Look a key up."""
        return key.upper()

    turns: list[dict[str, Any]] = [
        {"reasoning": "look", "tool": "lookup", "tool_input": {"key": "k"}},
        {"reasoning": "done", "satisfied": True, "answer": "K"},
    ]
    agent, _ = make_agent(turns, [lookup])
    channel = QueueApprovals()
    await agent.initiate_agent("Look", context=RunContext(approvals=channel))
    assert channel.asked == []
    assert recorder.kinds(*TOOL_EVENTS) == ["tool_call", "tool_output"]


async def test_an_agent_used_as_a_tool_asks_through_the_callers_channel() -> None:
    published = Published()
    inner, _ = make_agent(publish_turns(), [published.tool])
    outer_turns: list[dict[str, Any]] = [
        {"reasoning": "ask", "tool": "publisher", "tool_input": {"task": "publish q3"}},
        {"reasoning": "done", "satisfied": True, "answer": "Done."},
    ]
    manager = AgentManager(model=ScriptedModel(outer_turns), logging=False)
    outer = manager.create_agent("boss", [inner.as_tool()], DETAILS)
    channel = QueueApprovals()
    run = asyncio.create_task(outer.initiate_agent("Go", context=RunContext(approvals=channel)))
    request = await channel.decide(True)
    await run
    assert request.tool_name == "publish"
    assert published.runs == [{"report": "q3", "copies": 1}]


# -- the run ends: timeout, cancellation ----------------------------------------------------


async def test_approval_timeout_ends_the_run_and_the_tool_never_runs(
    recorder: Recorder,
) -> None:
    published = Published(approval_timeout=0.05)
    agent, _ = make_agent(publish_turns(), [published.tool])
    channel = QueueApprovals()
    with pytest.raises(ApprovalTimeout):
        await agent.initiate_agent("Publish", context=RunContext(approvals=channel))
    assert published.runs == []
    assert len(channel.asked) == 1 and channel.asked[0].timeout == 0.05
    assert recorder.kinds(*TOOL_EVENTS) == ["tool_call", "approval_required", "tool_output"]
    closed = recorder.one("tool_output")
    assert closed.data["is_error"] is True
    assert "publish was not run" in closed.data["output"]
    assert closed.metadata["tool_call_id"] == recorder.one("tool_call").metadata["tool_call_id"]


async def test_approval_timeout_streams_an_approval_timeout_error() -> None:
    published = Published(approval_timeout=0.05)
    agent, _ = make_agent(publish_turns(), [published.tool])
    handler = EnhancedStreamHandler()
    context = RunContext(approvals=QueueApprovals())
    text = "".join(
        [c async for c in handler.stream_agent_execution(agent, "Publish", context=context)]
    )
    evs = events(text)
    assert [e["event_type"] for e in evs] == [
        "reasoning",
        "tool_call",
        "approval_required",
        "tool_output",
        "error",
    ]
    assert evs[-1]["metadata"]["error_code"] == "approval_timeout"
    assert published.runs == []


async def test_approval_timeout_cancels_the_other_parallel_calls(recorder: Recorder) -> None:
    published = Published(approval_timeout=0.05)
    started, cancelled = asyncio.Event(), asyncio.Event()

    @tool
    async def slow(seconds: float) -> str:
        """Take a while."""
        started.set()
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "slept"

    turns: list[dict[str, Any]] = [
        {
            "reasoning": "both",
            "tool_calls": [
                {"tool": "publish", "tool_input": {"report": "q3"}},
                {"tool": "slow", "tool_input": {"seconds": 30}},
            ],
        },
    ]
    agent, _ = make_agent(turns, [published.tool, slow], parallel_tool_calls=True)
    with pytest.raises(ApprovalTimeout):
        await agent.initiate_agent("Both", context=RunContext(approvals=QueueApprovals()))
    assert started.is_set() and cancelled.is_set()
    outputs = {
        e.data["tool_name"]: e.data for e in recorder.events if e.event_type == "tool_output"
    }
    assert outputs["slow"] == {"tool_name": "slow", "output": "Cancelled.", "is_error": True}
    assert outputs["publish"]["is_error"] is True


async def test_cancelling_while_waiting_withdraws_the_request(recorder: Recorder) -> None:
    publishing = Publishing("Publish")
    published, channel, run = publishing.published, publishing.channel, publishing.run
    request, future = await channel.next()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert channel.withdrawn == [request.tool_call_id]
    assert future.cancelled() or not future.done()
    assert published.runs == []
    assert recorder.kinds(*TOOL_EVENTS) == ["tool_call", "approval_required", "tool_output"]
    assert recorder.one("tool_output").data["output"] == "Cancelled."


# -- the wire -----------------------------------------------------------------------------------


async def stream_with(
    agent: Any, decision: ApprovalDecision, **handler_options: Any
) -> list[dict[str, Any]]:
    handler = EnhancedStreamHandler(**handler_options)
    context = RunContext(approvals=Fixed(decision))
    text = "".join(
        [c async for c in handler.stream_agent_execution(agent, "Publish", context=context)]
    )
    assert chunks(text)[-1]["choices"][0]["finish_reason"] == "stop"
    return events(text)


async def test_chunks_carry_the_approval_in_the_delta() -> None:
    published = Published()
    agent, _ = make_agent(publish_turns(), [published.tool])
    evs = await stream_with(
        agent, ApprovalDecision(approved=True, decided_by="bob", decided_at=10.0)
    )
    kinds = [e["event_type"] for e in evs]
    assert kinds[1:5] == list(TOOL_EVENTS)
    call_id = evs[1]["metadata"]["tool_call_id"]
    required, approval = evs[2], evs[3]
    assert required["choices"][0]["delta"] == {
        "content": "\n[Approval required: publish]\n",
        "approval": {
            "tool_call_id": call_id,
            "tool_name": "publish",
            "arguments": {"report": "q3", "copies": 1},
        },
    }
    assert approval["choices"][0]["delta"] == {
        "content": "\n[Approved: publish]\n",
        "approval": {
            "tool_call_id": call_id,
            "tool_name": "publish",
            "approved": True,
            "reason": None,
            "arguments": None,
            "decided_by": "bob",
            "decided_at": 10.0,
        },
    }
    for chunk in (required, approval):
        assert chunk["metadata"]["tool_call_id"] == call_id
        assert chunk["metadata"]["tool_name"] == "publish"
        assert chunk["choices"][0]["finish_reason"] is None
    assert [e["metadata"]["seq"] for e in evs] == list(range(len(evs)))
    assert published.runs == [{"report": "q3", "copies": 1}]


async def test_denied_chunk_and_event_filter() -> None:
    published = Published()
    agent, _ = make_agent(publish_turns(), [published.tool])
    evs = await stream_with(
        agent, ApprovalDecision(approved=False, reason="no"), event_filter={"approval"}
    )
    assert [e["event_type"] for e in evs] == ["approval"]
    delta = evs[0]["choices"][0]["delta"]
    assert delta["content"] == "\n[Denied: publish]\n"
    assert delta["approval"]["approved"] is False
    assert delta["approval"]["reason"] == "no"


def test_event_delta_mapping() -> None:
    required = StreamingEvent(
        "approval_required",
        {"approval": {"tool_call_id": "call_1", "tool_name": "rm", "arguments": {"p": "/"}}},
    )
    assert event_delta(required) == (
        {
            "content": "\n[Approval required: rm]\n",
            "approval": {"tool_call_id": "call_1", "tool_name": "rm", "arguments": {"p": "/"}},
        },
        None,
    )
    for approved, word in ((True, "Approved"), (False, "Denied")):
        record = {"tool_call_id": "call_1", "tool_name": "rm", "approved": approved}
        delta, finish = event_delta(StreamingEvent("approval", {"approval": record}))
        assert delta == {"content": f"\n[{word}: rm]\n", "approval": record}
        assert finish is None


async def test_hand_emitted_approval_events_reach_the_stream(recorder: Recorder) -> None:
    await emit_event("approval", {"approval": {"tool_name": "x", "approved": True}})
    assert recorder.kinds() == ["approval"]


# -- declaring tools ----------------------------------------------------------------------------


def test_tool_options() -> None:
    @tool(requires_approval=True, approval_timeout=600)
    async def publish(report: str) -> str:
        """Publish the report."""
        return report

    assert publish.requires_approval is True
    assert publish.approval_timeout == 600

    @tool
    def plain(x: int) -> int:
        """Plain."""
        return x

    assert plain.requires_approval is False and plain.approval_timeout is None
    with pytest.raises(ValueError, match="approval_timeout"):
        tool(approval_timeout=0)(plain.fn)


def test_langchain_tools_take_the_options() -> None:
    class FakeLangChain:
        name = "lc"
        description = "A LangChain tool."
        args: ClassVar[dict[str, Any]] = {"q": {"type": "string"}}

        async def ainvoke(self, arguments: dict[str, Any]) -> str:
            return "ok"

    wrapped = LangChainTool(FakeLangChain(), requires_approval=True, approval_timeout=5)
    assert wrapped.requires_approval is True and wrapped.approval_timeout == 5
    assert LangChainTool(FakeLangChain()).requires_approval is False


def test_child_contexts_share_the_channel() -> None:
    channel = Fixed(ApprovalDecision(approved=True))
    assert RunContext(approvals=channel).child(session_id="s").approvals is channel
    assert RunContext().approvals is None
