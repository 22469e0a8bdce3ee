"""AG-UI at ``POST /ag-ui/{id}``, against real servers on 127.0.0.1: each stream is one
well-formed run (the client's sequence rules), the reply is exactly the final answer, tool call
ids are masai's, shared memory is the state, approvals are interrupts that a resume answers,
failures are ``RUN_ERROR``, threads are their owner's, and bad input is a 422."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from masai.server import ServerSettings, build_demo, create_app
from tests.support.agui_registry import WRITES, agui_registry
from tests.support.agui_verify import agui_events, apply_state, reply_text, verify
from tests.support.server import LiveServer, live_server
from tests.support.sse import events as spec_events

ROOT = Path(__file__).resolve().parents[1]
ALICE, BOB = "alice-key-0123456789", "bob-key-0123456789"
CARD = "4111 1111 1111 1111"


def bearer(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def run_input(
    text: str | None = None, *, thread: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A ``RunAgentInput`` as ``HttpAgent`` sends it."""
    messages = [{"id": "u1", "role": "user", "content": text}] if text is not None else []
    return {
        "threadId": thread or f"thread-{uuid.uuid4()}",
        "runId": str(uuid.uuid4()),
        "protocolVersion": "1.0",
        "state": {},
        "messages": messages,
        "tools": [],
        "context": [],
        "forwardedProps": {},
        **extra,
    }


def post(server: LiveServer, target: str, body: Any, key: str | None = ALICE) -> httpx.Response:
    headers = {"Accept": "text/event-stream", **bearer(key)}
    return httpx.post(f"{server.url}/ag-ui/{target}", json=body, headers=headers, timeout=30)


def run(server: LiveServer, target: str, body: dict[str, Any], key: str | None = ALICE) -> Any:
    """Post, check the response is a well-formed AG-UI run; the verified run."""
    response = post(server, target, body, key)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    done = verify(agui_events(response.text))
    assert done.events[0]["threadId"] == body["threadId"]
    assert done.events[0]["runId"] == body["runId"]
    if done.end["type"] == "RUN_FINISHED":
        assert (done.end["threadId"], done.end["runId"]) == (body["threadId"], body["runId"])
    return done


def record_of(server: LiveServer, done: Any, key: str | None = ALICE) -> Any:
    """The record of the masai run behind an AG-UI run (``GET /runs/{id}``)."""
    run_id = done.events[0]["metadata"]["masai"]["run_id"]
    return httpx.get(f"{server.url}/runs/{run_id}", headers=bearer(key), timeout=10).json()


def masai_run(server: LiveServer, done: Any, key: str | None = ALICE) -> tuple[Any, list[Any]]:
    """The masai run behind a finished AG-UI run: its record and its events (the spec's)."""
    record = record_of(server, done, key)
    run_id = record["run_id"]
    log = httpx.get(f"{server.url}/runs/{run_id}/events", headers=bearer(key), timeout=10)
    return record, spec_events(log.text)


def delta(chunk: dict[str, Any]) -> Any:
    """A spec chunk's payload."""
    return chunk["choices"][0]["delta"]


def of(done: Any, kind: str) -> list[dict[str, Any]]:
    return [e for e in done.events if e["type"] == kind]


def custom(done: Any, name: str) -> list[Any]:
    return [e["value"] for e in of(done, "CUSTOM") if e["name"] == name]


@pytest.fixture(scope="module")
def demo() -> Iterator[LiveServer]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MASAI_DEMO_PACE", "0")
        with live_server(create_app(build_demo())) as server:
            yield server


@pytest.fixture(scope="module")
def local() -> Iterator[LiveServer]:
    settings = ServerSettings(api_keys={"alice": ALICE, "bob": BOB})
    with live_server(create_app(agui_registry(), settings)) as server:
        yield server


# -- a run, told in AG-UI ------------------------------------------------------------------------


def test_a_team_run_is_one_agui_run_with_the_final_answer_as_the_reply(demo: LiveServer) -> None:
    body = run_input("How is solar doing?")
    response = post(demo, "research-team", body, key=None)
    assert response.status_code == 200, response.text
    done = verify(agui_events(response.text))
    assert done.end["type"] == "RUN_FINISHED" and done.end["outcome"] == {"type": "success"}
    assert done.events[0]["metadata"]["masai"]["run_id"] == response.headers["x-masai-run-id"]
    assert response.headers["x-masai-session-id"] == body["threadId"]
    record, log = masai_run(demo, done, key=None)

    ids, reply = reply_text(done.events)
    assert len(ids) == 1 and reply == record["answer"] == done.end["result"]
    handed_on = [delta(e)["content"] for e in log if e["event_type"] == "answer"]
    reasoning = {e["delta"] for e in of(done, "REASONING_MESSAGE_CONTENT")}
    assert handed_on[:2] and set(handed_on[:2]) <= reasoning  # the researcher's and analyst's
    assert not reply.startswith(handed_on[0][:20])

    calls = [e for e in log if e["event_type"] == "tool_call"]
    masai_ids = [e["metadata"]["tool_call_id"] for e in calls]
    assert [e["toolCallId"] for e in of(done, "TOOL_CALL_START")] == masai_ids
    assert [e["toolCallId"] for e in of(done, "TOOL_CALL_RESULT")] == masai_ids
    assert [e["toolCallName"] for e in of(done, "TOOL_CALL_START")] == [
        "web_search",
        "analyze_numbers",
        "write_report",
    ]
    arguments = [json.loads(e["delta"]) for e in of(done, "TOOL_CALL_ARGS")]
    assert arguments == [
        json.loads(delta(e)["tool_calls"][0]["function"]["arguments"]) for e in calls
    ]

    progress = [
        {"content": delta(e)["content"], "custom_data": delta(e)["custom_data"]}
        | {"tool_call_id": e["metadata"]["tool_call_id"]}
        for e in log
        if e["event_type"] == "custom"
    ]
    assert len(progress) >= 5 and custom(done, "masai.progress") == progress
    handoffs = [delta(e)["handoff"] for e in log if e["event_type"] == "handoff"]
    assert custom(done, "masai.handoff") == handoffs and len(handoffs) == 2

    writes = [delta(e)["memory_update"] for e in log if e["event_type"] == "memory_update"]
    memory = {w["key"]: w["value"] for w in writes}
    assert set(memory) == {"answer:researcher", "answer:analyst", "answer:writer"}
    state_events = [e for e in done.events if e["type"].startswith("STATE_")]
    assert state_events[0]["type"] == "STATE_SNAPSHOT"
    assert apply_state(done.events, {"from": "the client"}) == memory


def test_handed_off_agents_are_nested_subagents(demo: LiveServer) -> None:
    done = run(demo, "research-team", run_input("ocean report"), key=None)
    started = of(done, "SUBAGENT_STARTED")
    assert [e["name"] for e in started] == ["analyst", "writer"]
    analyst, writer = (e["subagentRunId"] for e in started)
    assert "parentSubagentRunId" not in started[0]
    assert started[1]["parentSubagentRunId"] == analyst
    finished = of(done, "SUBAGENT_FINISHED")
    assert [e["subagentRunId"] for e in finished] == [writer, analyst]
    assert all(e["outcome"] == {"type": "success"} for e in finished)
    # the entry agent is the parent (untagged); the reply is the run's, so it is untagged too
    root_steps = [e["stepName"] for e in of(done, "STEP_STARTED") if "subagentRunId" not in e]
    assert root_steps[:2] == ["researcher", "router"]
    assert all("subagentRunId" not in e for e in done.events if e["type"].startswith("TEXT_"))
    tools = {e["toolCallName"]: e.get("subagentRunId") for e in of(done, "TOOL_CALL_START")}
    assert tools == {"web_search": None, "analyze_numbers": analyst, "write_report": writer}


def test_a_supervisors_delegates_come_and_go_one_at_a_time(demo: LiveServer) -> None:
    done = run(demo, "supervised", run_input("How is ocean doing?"), key=None)
    lifecycle = [
        (e["type"], e.get("name")) for e in done.events if e["type"].startswith("SUBAGENT_")
    ]
    assert lifecycle == [
        ("SUBAGENT_STARTED", "researcher"),
        ("SUBAGENT_FINISHED", None),
        ("SUBAGENT_STARTED", "analyst"),
        ("SUBAGENT_FINISHED", None),
        ("SUBAGENT_STARTED", "writer"),
        ("SUBAGENT_FINISHED", None),
    ]
    record, _ = masai_run(demo, done, key=None)
    ids, reply = reply_text(done.events)
    assert len(ids) == 1 and reply == record["answer"]
    # the delegates' streamed answers went to reasoning, in their own subagent
    texts: dict[str, str] = {}
    for e in of(done, "REASONING_MESSAGE_CONTENT"):
        if "subagentRunId" in e:
            texts[e["messageId"]] = texts.get(e["messageId"], "") + e["delta"]
    found = [t for t in texts.values() if t.startswith("Here is what I found: Ocean heat")]
    assert len(found) == 1 and found[0] not in reply


def test_shared_memory_is_a_snapshot_then_json_patch_deltas(local: LiveServer) -> None:
    done = run(local, "memo", run_input("take notes"))
    states = [e for e in done.events if e["type"].startswith("STATE_")]
    assert [e["type"] for e in states] == ["STATE_SNAPSHOT", "STATE_DELTA", "STATE_DELTA"]
    assert states[0]["snapshot"] == {"plan": "draft"}
    assert states[1]["delta"] == [{"op": "add", "path": "/a~1b~0c", "value": WRITES[1][1]}]
    assert states[2]["delta"] == [{"op": "replace", "path": "/plan", "value": "final"}]
    assert apply_state(done.events, {"old": True}) == {"plan": "final", "a/b~c": WRITES[1][1]}


def test_a_failed_run_ends_with_run_error_and_its_public_message(local: LiveServer) -> None:
    done = run(local, "broken", run_input("fail please"))
    assert done.end["type"] == "RUN_ERROR"
    assert done.end["code"] and done.end["message"]
    assert "secret internals" not in json.dumps(done.events)
    assert "RUN_FINISHED" not in done.types and "TOOL_CALL_RESULT" in done.types


def test_a_run_cancelled_from_outside_finishes_as_cancelled(local: LiveServer) -> None:
    body = run_input("nap")
    headers = {"Accept": "text/event-stream", **bearer(ALICE)}
    url = f"{local.url}/ag-ui/sleeper"
    with httpx.stream("POST", url, json=body, headers=headers, timeout=30) as response:
        lines = response.iter_lines()
        text = ""
        for line in lines:
            text += line + "\n"
            if "TOOL_CALL_END" in line:
                break
        run_id = response.headers["x-masai-run-id"]
        cancel = httpx.post(f"{local.url}/runs/{run_id}/cancel", headers=bearer(ALICE))
        assert cancel.status_code == 202
        text += "\n".join(lines)
    done = verify(agui_events(text))
    assert done.end["type"] == "RUN_FINISHED" and done.end["outcome"] == {"type": "cancelled"}


# -- approvals: interrupts and resumes -----------------------------------------------------------


def untimed(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != "timestamp"}


def resume(thread: str, interrupt: str, **answer: Any) -> dict[str, Any]:
    status = answer.pop("status", "resolved")
    entry: dict[str, Any] = {"interruptId": interrupt, "status": status}
    if status == "resolved":
        entry["payload"] = answer
    body = run_input(thread=thread, resume=[entry])
    body["messages"] = [{"id": "u1", "role": "user", "content": "Sign the lease"}]
    return body


def interrupted(server: LiveServer, text: str) -> tuple[dict[str, Any], Any, dict[str, Any]]:
    body = run_input(text)
    done = run(server, "signer", body)
    assert done.end["type"] == "RUN_FINISHED", done.end
    assert done.end["outcome"]["type"] == "interrupt"
    (interrupt,) = done.end["outcome"]["interrupts"]
    return body, done, interrupt


def test_an_approval_is_an_interrupt_and_a_resume_continues_the_run(local: LiveServer) -> None:
    signed: list[dict[str, Any]] = local.app.state.runtime.registry.signed
    before = len(signed)
    body, done, interrupt = interrupted(local, "Sign the lease")
    run_id = done.events[0]["metadata"]["masai"]["run_id"]
    (call,) = [e["toolCallId"] for e in of(done, "TOOL_CALL_START")]
    assert interrupt["id"] == f"{run_id}/{call}" and interrupt["toolCallId"] == call
    assert interrupt["reason"] == "tool_call" and "sign" in interrupt["message"]
    assert interrupt["responseSchema"]["required"] == ["approved"]
    expires = dt.datetime.fromisoformat(interrupt["expiresAt"].replace("Z", "+00:00"))
    assert 3500 < expires.timestamp() - time.time() <= 3600
    record = record_of(local, done)
    assert record["status"] == "waiting" and len(signed) == before  # it waits; nothing ran

    blocked = run(local, "signer", run_input("Sign another", thread=body["threadId"]))
    assert (blocked.end["type"], blocked.end["code"]) == ("RUN_ERROR", "interrupt_pending")
    assert interrupt["id"] in blocked.end["message"]
    bad = run(local, "signer", resume(body["threadId"], interrupt["id"], approved="yes"))
    assert (bad.end["type"], bad.end["code"]) == ("RUN_ERROR", "invalid_resume")

    answer = {"approved": True, "editedArgs": {"text": "the lease, v2", "copies": 2}}
    again = resume(body["threadId"], interrupt["id"], **answer)
    resumed = run(local, "signer", again)
    assert resumed.end["outcome"] == {"type": "success"}
    assert "TOOL_CALL_START" not in resumed.types  # the call was told in the first run
    (result,) = of(resumed, "TOOL_CALL_RESULT")
    assert result["toolCallId"] == call and result["content"] == "signed 'the lease, v2' x2"
    (decision,) = custom(resumed, "masai.approval")
    assert decision["approved"] is True and decision["tool_call_id"] == call
    record, _ = masai_run(local, done)
    assert reply_text(resumed.events)[1] == record["answer"] == resumed.end["result"]
    assert record["answer"].endswith("signed 'the lease, v2' x2")
    assert signed[before:] == [{"text": "the lease, v2", "copies": 2}]

    replay = run(local, "signer", {**again, "runId": str(uuid.uuid4())})  # sent again: same end
    assert [untimed(e) for e in of(replay, "TOOL_CALL_RESULT")] == [untimed(result)]
    assert reply_text(replay.events) == reply_text(resumed.events)
    assert len(signed) == before + 1  # and the tool ran once


def test_a_cancelled_interrupt_denies_the_call(local: LiveServer) -> None:
    signed: list[dict[str, Any]] = local.app.state.runtime.registry.signed
    before = len(signed)
    body, _, interrupt = interrupted(local, "Sign the deed")
    resumed = run(local, "signer", resume(body["threadId"], interrupt["id"], status="cancelled"))
    (decision,) = custom(resumed, "masai.approval")
    assert decision["approved"] is False
    assert "denied" in reply_text(resumed.events)[1] and len(signed) == before


def test_resumes_that_cannot_be_answered_are_run_errors(local: LiveServer) -> None:
    body, done, interrupt = interrupted(local, "Sign the will")
    thread = body["threadId"]
    cases = {
        "no-slash": "invalid_resume",
        "run_unknown/call_x": "not_found",
        f"{interrupt['id'].split('/')[0]}/call_other": "not_found",
    }
    for interrupt_id, code in cases.items():
        failed = run(local, "signer", resume(thread, interrupt_id, approved=True))
        assert (failed.end["type"], failed.end["code"]) == ("RUN_ERROR", code), interrupt_id
    elsewhere = run(local, "signer", resume("another-thread", interrupt["id"], approved=True))
    assert elsewhere.end["code"] == "invalid_resume"
    bobs = run(local, "signer", resume(thread, interrupt["id"], approved=True), key=BOB)
    assert bobs.end["code"] == "not_found"  # Alice's run is nobody else's
    record = record_of(local, done)
    assert record["status"] == "waiting"  # none of those decided anything
    edited = run(local, "signer", resume(thread, interrupt["id"], approved=True, editedArgs={}))
    assert edited.end["code"] == "invalid_resume"  # (the tool's schema wants a text)
    assert run(local, "signer", resume(thread, interrupt["id"], approved=False)).end["type"] == (
        "RUN_FINISHED"
    )


def test_an_expired_interrupt_cannot_be_answered() -> None:
    settings = ServerSettings(approval_timeout=0.3)
    with live_server(create_app(agui_registry(), settings)) as server:
        body = run_input("Sign quickly")
        done = run(server, "signer", body, key=None)
        (interrupt,) = done.end["outcome"]["interrupts"]
        expires = dt.datetime.fromisoformat(interrupt["expiresAt"].replace("Z", "+00:00"))
        assert expires.timestamp() - time.time() < 1
        for _ in range(100):
            record = record_of(server, done, key=None)
            if record["status"] == "failed":
                break
            time.sleep(0.05)
        assert record["stop_reason"] == "approval_timeout"
        late = run(server, "signer", resume(body["threadId"], interrupt["id"], approved=True), None)
        assert late.end["type"] == "RUN_ERROR"


# -- threads are sessions, and their owner's -------------------------------------------------------


def answer_of(done: Any) -> str:
    return reply_text(done.events)[1]


def test_a_thread_is_its_owners_session(local: LiveServer) -> None:
    thread = f"shared-{uuid.uuid4().hex[:8]}"
    told = post(local, "echo", run_input(f"my card is {CARD}", thread=thread))
    assert told.headers["x-masai-session-id"] == thread
    # a client that sends only its new message gets the thread's stored history: its owner's
    assert CARD in answer_of(run(local, "echo", run_input("the card?", thread=thread)))
    assert CARD not in answer_of(run(local, "echo", run_input("the card?", thread=thread), BOB))
    spec = httpx.post(
        f"{local.url}/agent/stream",
        json={"query": "the card?", "agent": "echo", "session_id": thread},
        headers=bearer(BOB),
        timeout=10,
    )
    assert CARD not in spec.text
    assert post(local, "echo", run_input("hi"), key=None).status_code == 401


def test_earlier_messages_and_context_are_the_history(local: LiveServer) -> None:
    body = run_input("what number?")
    body["messages"] = [
        {"id": "s", "role": "system", "content": "be brief"},
        {"id": "a", "role": "user", "content": [{"type": "text", "text": "remember 42"}]},
        {"id": "b", "role": "assistant", "content": "ok, 42", "toolCalls": []},
        {"id": "c", "role": "tool", "content": "tool output", "toolCallId": "x"},
        {"id": "d", "role": "reasoning", "content": "thinking"},
        {"id": "e", "role": "user", "content": "what number?"},
    ]
    body["context"] = [{"description": "locale", "value": "en-GB"}]
    body["tools"] = [{"name": "confirm", "description": "Ask the user", "parameters": {}}]
    done = run(local, "echo", body)
    seen = answer_of(done)
    for text in ("be brief", "remember 42", "ok, 42", "locale: en-GB", "what number?"):
        assert text in seen
    assert "tool output" not in seen and "thinking" not in seen
    assert "TOOL_CALL_START" not in done.types  # the client's tools are never called


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"threadId": "has spaces"}, "threadId"),
        ({"threadId": None}, "threadId"),
        ({"runId": ""}, "runId"),
        ({"messages": []}, "messages"),
        ({"messages": [{"id": "x", "role": "assistant", "content": "hi"}]}, "messages"),
        ({"messages": [{"id": "x", "role": "wizard", "content": "hi"}]}, "messages.0.role"),
        ({"resume": [{"interruptId": "r/c", "status": "maybe"}]}, "resume.0.status"),
    ],
)
def test_bad_input_is_a_422_in_the_servers_error_shape(
    local: LiveServer, change: dict[str, Any], where: str
) -> None:
    body = {**run_input("hello"), **change}
    response = post(local, "echo", body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and error["type"] == "invalid_request_error"
    assert error["message"].startswith(where)


def test_an_unknown_agent_is_a_404_and_malformed_json_a_400(local: LiveServer) -> None:
    response = post(local, "nobody", run_input("hello"))
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    broken = httpx.post(
        f"{local.url}/ag-ui/echo",
        content=b"{not json",
        headers={"Content-Type": "application/json", **bearer(ALICE)},
    )
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "invalid_json"


# -- the docs --------------------------------------------------------------------------------------

FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.M | re.S)


def test_the_pages_python_examples_run(monkeypatch: pytest.MonkeyPatch) -> None:
    page = (ROOT / "docs" / "ag-ui.md").read_text(encoding="utf-8")
    blocks = [code for lang, code in FENCE.findall(page) if lang == "python"]
    assert blocks
    monkeypatch.setenv("MASAI_DEMO_PACE", "0")
    for code in blocks:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, "docs/ag-ui.md", "exec"), {"__name__": "__main__"})
        assert out.getvalue()
