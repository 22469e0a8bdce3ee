"""``/ai-sdk/{id}``: the Vercel AI SDK's UI message stream, against real servers (the demo and
``tests.support.aisdk_registry``). The SDK's own validation runs in js/test/ai-sdk-ui.test.js;
here: the order rules its message builder relies on, what goes where (the reply is the final
answer only), progress ids, approvals, failures, bad requests, sessions and resuming."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from masai.events import StreamingEvent
from masai.exceptions import MasaiError
from masai.server import ServerSettings, create_app
from masai.streaming._encoding import Outcome
from masai.streaming._uistream import UIStreamEncoder
from tests.support.aisdk_parts import (
    Chunk,
    check_order,
    of,
    reasoning_texts,
    step_agents,
    text_of,
)
from tests.support.aisdk_registry import SECRET, registry
from tests.support.server import LiveServer, live_server
from tests.support.sse import chunks

ALICE, BOB = "alice-key-0123456789", "bob-key-0123456789"
CARD = "4111 1111 1111 1111"


@pytest.fixture(scope="module")
def support() -> Iterator[LiveServer]:
    with live_server(create_app(registry())) as server:
        yield server


@pytest.fixture(scope="module")
def keyed() -> Iterator[LiveServer]:
    settings = ServerSettings(api_keys={"alice": ALICE, "bob": BOB})
    with live_server(create_app(registry(), settings)) as server:
        yield server


def user(text: str, message_id: str = "u1") -> dict[str, Any]:
    return {"id": message_id, "role": "user", "parts": [{"type": "text", "text": text}]}


def body(text: str, chat_id: str = "chat-1", **extra: Any) -> dict[str, Any]:
    """What ``DefaultChatTransport`` posts for a first message."""
    messages = [user(text)]
    return {"id": chat_id, "messages": messages, "trigger": "submit-message", **extra}


def post(server: LiveServer, target: str, payload: Any, key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{server.url}/ai-sdk/{target}", json=payload, headers=headers, timeout=30)


def stream(server: LiveServer, target: str, payload: Any, key: str | None = None) -> list[Chunk]:
    response = post(server, target, payload, key)
    assert response.status_code == 200, response.text
    assert response.headers["x-vercel-ai-ui-message-stream"] == "v1"
    assert response.headers["content-type"].startswith("text/event-stream")
    parts = chunks(response.text)  # (ends with exactly one [DONE])
    assert parts[0] == {
        "type": "start",
        "messageId": f"msg-{response.headers['x-masai-run-id']}",
        "messageMetadata": {
            "run_id": response.headers["x-masai-run-id"],
            "session_id": response.headers["x-masai-session-id"],
            "target": target,
        },
    }
    check_order(parts)
    return parts


def run_of(server: LiveServer, run_id: str) -> dict[str, Any]:
    record: dict[str, Any] = httpx.get(f"{server.url}/runs/{run_id}", timeout=10).json()
    return record


# -- the demo: what goes where -------------------------------------------------------------------


def test_a_team_run_as_one_message(demo: LiveServer) -> None:
    parts = stream(demo, "research-team", body("How is solar doing?"))
    run = run_of(demo, parts[0]["messageMetadata"]["run_id"])
    assert run["status"] == "completed"
    # The reply is one text part: the final answer, not the answers handed between agents.
    assert len(of(parts, "text-start")) == 1
    assert text_of(parts) == run["answer"]
    assert run["answer"].startswith("## Report: How is solar doing?")
    intermediate = [
        p
        for p in of(parts, "reasoning-start")
        if p["providerMetadata"]["masai"].get("intermediate")
    ]
    handed = [reasoning_texts(parts)[p["id"]] for p in intermediate]
    assert len(handed) == 2 and handed[0].startswith("Sources found: Global solar capacity")
    assert handed[1] == "The figures show an average change of 41.3%; the trend is up."
    writer_step = max(i for i, p in enumerate(parts) if p["type"] == "start-step")
    assert min(i for i, p in enumerate(parts) if p["type"] == "text-start") > writer_step
    # One step per agent's stretch, in order (parts say which agent they come from).
    assert step_agents(parts) == [{"researcher"}, {"analyst"}, {"writer"}]
    handoffs = [(p["data"]["from_agent"], p["data"]["to_agent"]) for p in of(parts, "data-handoff")]
    assert handoffs == [("researcher", "analyst"), ("analyst", "writer")]
    memory = {p["id"]: p["data"] for p in of(parts, "data-memory")}
    assert set(memory) == {f"memory:answer:{a}" for a in ("researcher", "analyst", "writer")}
    assert memory["memory:answer:writer"]["value"] == run["answer"]
    assert parts[-1]["finishReason"] == "stop"
    assert parts[-1]["messageMetadata"]["usage"]["output_tokens"] > 0


def test_tools_and_progress(demo: LiveServer) -> None:
    parts = stream(demo, "research-team", body("How is the ocean doing?"))
    calls = {p["toolCallId"]: p["toolName"] for p in of(parts, "tool-input-start")}
    assert sorted(calls.values()) == ["analyze_numbers", "web_search", "write_report"]
    inputs = {p["toolCallId"]: p["input"] for p in of(parts, "tool-input-available")}
    for delta in of(parts, "tool-input-delta"):  # the input, as JSON text, once
        assert json.loads(delta["inputTextDelta"]) == inputs[delta["toolCallId"]]
    outputs = {p["toolCallId"]: p["output"] for p in of(parts, "tool-output-available")}
    assert set(outputs) == set(calls)
    search = next(c for c, name in calls.items() if name == "web_search")
    assert "Ocean heat content set a record" in outputs[search]
    # Progress: one part id per tool call, so each tick replaces the last.
    progress = of(parts, "data-progress")
    assert {p["id"] for p in progress} == set(calls)
    for part in progress:
        data = part["data"]
        assert data["tool_call_id"] == part["id"] and data["tool_name"] == calls[part["id"]]
        assert isinstance(data["content"], str) and data["agent"]
    ticks = [p["data"] for p in progress if p["id"] == search]
    assert [t["progress"] for t in ticks] == [0.2, 0.4, 0.6, 0.8, 1.0]
    assert ticks[-1]["stage"] == "done" and ticks[-1]["content"] == "🔍 done"
    # Each call's progress comes between its input and its output.
    order = [(p["type"], p.get("toolCallId") or p.get("id")) for p in parts]
    assert order.index(("tool-input-available", search)) < order.index(("data-progress", search))
    assert order.index(("tool-output-available", search)) > max(
        i for i, o in enumerate(order) if o == ("data-progress", search)
    )


def test_streamed_intermediate_answers_are_reasoning_never_text(demo: LiveServer) -> None:
    parts = stream(demo, "supervised", body("How is solar doing?"))
    run = run_of(demo, parts[0]["messageMetadata"]["run_id"])
    assert text_of(parts) == run["answer"] and len(of(parts, "text-start")) == 1
    boss = {"supervisor"}
    workers = [{"researcher"}, {"analyst"}, {"writer"}]
    assert step_agents(parts) == [boss, *(s for w in workers for s in (w, boss))]
    texts = reasoning_texts(parts)
    streamed = {
        p["id"]: p["providerMetadata"]["masai"]["agent"]
        for p in of(parts, "reasoning-start")
        if p["providerMetadata"]["masai"].get("intermediate")
    }
    assert sorted(streamed.values()) == ["analyst", "researcher", "writer"]
    for part_id in streamed:  # streamed token by token, complete at its end
        assert sum(p["id"] == part_id for p in of(parts, "reasoning-delta")) > 3
    researcher = next(texts[i] for i, agent in streamed.items() if agent == "researcher")
    assert researcher.startswith("Here is what I found: Global solar capacity grew 29%")
    assert "Here is what I found" not in text_of(parts)


def test_a_single_agent(demo: LiveServer) -> None:
    parts = stream(demo, "researcher", body("How is solar doing?"))
    kinds = [p["type"] for p in parts]
    assert kinds[:3] == ["start", "start-step", "reasoning-start"]
    assert kinds[-3:] == ["text-end", "finish-step", "finish"]
    assert kinds.count("start-step") == 1 and "data-handoff" not in kinds
    assert text_of(parts).startswith("Here is what I found: Global solar capacity grew 29%")


# -- endings ---------------------------------------------------------------------------------------


def test_a_failed_run_ends_with_the_public_error(support: LiveServer) -> None:
    response = post(support, "broken", body("go"))
    assert response.status_code == 200
    assert SECRET not in response.text
    parts = chunks(response.text)
    check_order(parts)
    assert parts[-2:] == [
        {"type": "error", "errorText": "The agent run failed."},
        {"type": "finish", "finishReason": "error"},
    ]
    assert run_of(support, response.headers["x-masai-run-id"])["status"] == "failed"


def test_a_failed_tool_is_a_tool_error_and_the_run_goes_on(support: LiveServer) -> None:
    parts = stream(support, "fumbler", body("go"))
    (error,) = of(parts, "tool-output-error")
    assert error["errorText"].startswith("fumble failed (ValueError, error ")
    assert "could not fetch" not in error["errorText"]  # (the exception text stays in the log)
    assert not of(parts, "tool-output-available")
    assert text_of(parts).startswith("done: [fumble error]") and parts[-1]["finishReason"] == "stop"


def test_a_cancelled_run_ends_with_abort(support: LiveServer) -> None:
    url = f"{support.url}/ai-sdk/sleeper"
    payload = body("go", chat_id="to-cancel", on_disconnect="continue")
    with httpx.Client(timeout=30) as client, client.stream("POST", url, json=payload) as response:
        run_id = response.headers["x-masai-run-id"]
        lines, reading = [], response.iter_lines()
        for line in reading:
            lines.append(line)
            if '"data-progress"' in line:
                cancelled = client.post(f"{support.url}/runs/{run_id}/cancel")
                assert cancelled.status_code == 202
                break
        lines += list(reading)
    parts = chunks("\n".join(lines))
    check_order(parts)
    assert parts[-1] == {"type": "abort", "reason": "The run was cancelled."}
    assert not of(parts, "text-start")


def test_retracted_events_are_flagged(support: LiveServer) -> None:
    parts = stream(support, "wobbler", body("go"))
    (retracted,) = of(parts, "data-retracted")
    assert retracted["data"] == {"from_seq": 0, "to_seq": 1}
    (progress,) = {p["id"] for p in of(parts, "data-progress")}
    assert [p["data"]["try"] for p in of(parts, "data-progress")] == [1, 2]
    assert progress == of(parts, "tool-input-start")[0]["toolCallId"]


def answered(parts: list[Chunk], approved: bool, reason: str | None = None) -> dict[str, Any]:
    """The assistant message as the SDK re-sends it after ``addToolApprovalResponse``: the
    tool part in ``approval-responded``, the run's id in the metadata ``start`` gave it."""
    start = parts[0]
    (request,) = of(parts, "tool-approval-request")
    (tool,) = of(parts, "tool-input-available")
    approval: dict[str, Any] = {"id": request["approvalId"], "approved": approved}
    if reason is not None:
        approval["reason"] = reason
    tool_part = {
        "type": "dynamic-tool",
        "toolName": tool["toolName"],
        "toolCallId": tool["toolCallId"],
        "state": "approval-responded",
        "input": tool["input"],
        "approval": approval,
    }
    return {
        "id": start["messageId"],
        "role": "assistant",
        "metadata": start["messageMetadata"],
        "parts": [{"type": "step-start"}, tool_part],
    }


def asking(server: LiveServer, chat_id: str, key: str | None = None) -> list[Chunk]:
    """A publisher run up to its approval request: the response ends there."""
    return stream(server, "publisher", body("go", chat_id=chat_id), key)


def answer_body(chat_id: str, message: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": chat_id,
        "messages": [user("go"), message],
        "trigger": "submit-message",
        "messageId": message["id"],
    }


@pytest.mark.parametrize("approved", [True, False])
def test_approvals_end_the_response_and_the_answer_continues_the_run(
    support: LiveServer, approved: bool
) -> None:
    chat_id = f"approve-{approved}"
    first = asking(support, chat_id)
    run_id = first[0]["messageMetadata"]["run_id"]
    (request,) = of(first, "tool-approval-request")
    call = request["approvalId"]
    assert request == {"type": "tool-approval-request", "approvalId": call, "toolCallId": call}
    (pending,) = [p["data"] for p in of(first, "data-approval")]
    assert pending["status"] == "pending" and pending["run_id"] == run_id
    assert pending["arguments"] == {"title": "Q3 report"}
    assert first[-1] == {"type": "finish", "finishReason": "tool-calls"}
    assert not text_of(first)
    record = run_of(support, run_id)  # the response ended; the run did not
    assert record["status"] == "waiting"
    assert [a["tool_call_id"] for a in record["pending_approvals"]] == [call]

    reason = None if approved else "not today"
    message = answered(first, approved, reason)
    response = post(support, "publisher", answer_body(chat_id, message))
    assert response.status_code == 200, response.text
    assert response.headers["x-vercel-ai-ui-message-stream"] == "v1"
    assert response.headers["x-masai-run-id"] == run_id
    rest = chunks(response.text)
    assert rest[0] == first[0]  # the same message goes on
    assert rest[1]["type"] == "start-step" and rest[-1]["type"] == "finish"
    # Nothing the first response told is told again: no new tool part, no earlier reasoning.
    assert not of(rest, "tool-input-start") and not of(rest, "tool-approval-request")
    assert not set(reasoning_texts(rest)) & set(reasoning_texts(first))
    decided = [p["data"] for p in of(rest, "data-approval")]
    assert [d["status"] for d in decided] == ["approved" if approved else "denied"]
    if approved:
        (output,) = of(rest, "tool-output-available")
        assert output["toolCallId"] == call and output["output"] == "published Q3 report"
        assert text_of(rest) == "done: [publish]\npublished Q3 report"
    else:
        assert of(rest, "tool-output-denied") == [
            {"type": "tool-output-denied", "toolCallId": call}
        ]
        assert not of(rest, "tool-output-available") and not of(rest, "tool-output-error")
        assert decided[0]["reason"] == "not today"
        assert "the user denied it" in text_of(rest)
    assert run_of(support, run_id)["status"] == "completed"


def test_answering_what_no_run_waits_for_is_an_error(support: LiveServer) -> None:
    chat_id = "approve-errors"
    first = asking(support, chat_id)
    message = answered(first, True)
    run_id = message["metadata"]["run_id"]

    def answer(changed: dict[str, Any], target: str = "publisher") -> httpx.Response:
        return post(support, target, answer_body(chat_id, changed))

    def error(response: httpx.Response, status: int, code: str) -> str:
        assert response.status_code == status, response.text
        found = response.json()["error"]
        assert found["code"] == code
        return str(found["message"])

    ghost = {**message, "metadata": {**message["metadata"], "run_id": "run-ghost"}}
    error(answer(ghost), 404, "not_found")
    assert run_id in error(answer(message, "echo"), 404, "not_found")  # not echo's run
    other_call = {**message["parts"][1], "approval": {"id": "call-ghost", "approved": True}}
    wrong = {**message, "parts": [message["parts"][0], other_call]}
    assert "call-ghost" in error(answer(wrong), 409, "conflict")
    unnamed = {**message, "metadata": None}
    error(answer(unnamed), 422, "invalid_request")
    assert run_of(support, run_id)["status"] == "waiting"  # none of that decided anything

    assert answer(message).status_code == 200
    assert run_of(support, run_id)["status"] == "completed"
    again = error(answer(message), 409, "conflict")  # (the same answer, sent twice)
    assert run_id in again and "finished" in again


def test_another_owners_run_cannot_be_answered(keyed: LiveServer) -> None:
    first = asking(keyed, "approve-owned", ALICE)
    message = answered(first, True)
    payload = answer_body("approve-owned", message)
    bob = post(keyed, "publisher", payload, BOB)
    assert bob.status_code == 404 and bob.json()["error"]["code"] == "not_found"
    alice = post(keyed, "publisher", payload, ALICE)
    assert alice.status_code == 200 and "published Q3 report" in alice.text


# -- requests --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        {"id": "c"},
        {"id": "c", "messages": []},
        {"id": "c", "messages": [{"role": "assistant", "parts": [{"type": "text", "text": "hi"}]}]},
        {"id": "c", "messages": [{"role": "user", "parts": [{"type": "file", "url": "x"}]}]},
        {"id": "c", "messages": [{"role": "user", "parts": [{"type": "text", "text": "  "}]}]},
        {"id": "c", "messages": [{"role": "user", "parts": [{"type": "text", "text": 42}]}]},
        {"id": "c", "messages": [{"role": "user", "content": "the OpenAI shape"}]},
        {"id": "c", "messages": [{"role": "robot", "parts": [{"type": "text", "text": "hi"}]}]},
        {"id": "has a space", "messages": [user("hi")]},
        {"id": 7, "messages": [user("hi")]},
        {"id": "c", "messages": [user("hi")], "trigger": "resume-stream"},
        {"id": "c", "messages": [user("hi")], "on_disconnect": "later"},
        ["not", "an", "object"],
    ],
)
def test_bad_bodies_are_422_in_the_servers_error_shape(
    support: LiveServer, payload: dict[str, Any]
) -> None:
    response = post(support, "echo", payload)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and error["type"] == "invalid_request_error"
    assert error["message"]


def test_unknown_targets_and_malformed_json(support: LiveServer) -> None:
    missing = post(support, "ghost", body("hi"))
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found" and "ghost" in missing.text
    malformed = httpx.post(
        f"{support.url}/ai-sdk/echo",
        content=b"{not json",
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "invalid_json"
    resume = httpx.get(f"{support.url}/ai-sdk/ghost/chat-1/stream", timeout=10)
    assert resume.status_code == 404 and resume.json()["error"]["code"] == "not_found"


def test_the_earlier_messages_text_is_the_history(support: LiveServer) -> None:
    assistant = {
        "id": "a1",
        "role": "assistant",
        "parts": [
            {"type": "step-start"},
            {"type": "reasoning", "text": "PRIVATE THOUGHT"},
            {
                "type": "dynamic-tool",
                "toolName": "t",
                "toolCallId": "c1",
                "state": "output-available",
            },
            {"type": "text", "text": "ok, 42"},
        ],
    }
    payload = {
        "id": "history-chat",
        "messages": [user("remember 42"), assistant, user("what number?", "u2")],
        "trigger": "submit-message",
        "messageId": None,
        "app_field": {"anything": True},  # (an app's own body fields are ignored)
    }
    reply = text_of(stream(support, "echo", payload))
    assert reply == "I saw: remember 42 | ok, 42 | what number?"
    # The chat's session keeps the turns the server ran; a client that sends only the new
    # message gets them as the history.
    alone = text_of(stream(support, "echo", body("and now?", chat_id="history-chat")))
    assert alone == f"I saw: what number? | {reply} | and now?"
    # Regenerating the first answer: the conversation is exactly what the client sent.
    again = {**body("first", chat_id="history-chat"), "trigger": "regenerate-message"}
    assert text_of(stream(support, "echo", again)) == "I saw: first"


def test_a_chat_id_is_a_session_of_its_owner_only(keyed: LiveServer) -> None:
    assert post(keyed, "echo", body("hi", chat_id="shared")).status_code == 401
    told = stream(keyed, "echo", body(f"my card is {CARD}", chat_id="shared"), ALICE)
    assert told[0]["messageMetadata"]["session_id"] == "shared"
    alice = text_of(stream(keyed, "echo", body("the card?", chat_id="shared"), ALICE))
    assert CARD in alice
    bob_parts = stream(keyed, "echo", body("the card?", chat_id="shared"), BOB)
    assert CARD not in text_of(bob_parts)
    assert bob_parts[0]["messageMetadata"]["session_id"] == "shared"  # (his own, of that name)
    # Nor is her run his to see.
    her_run = f"{keyed.url}/runs/{told[0]['messageMetadata']['run_id']}"
    assert httpx.get(her_run, headers={"Authorization": f"Bearer {BOB}"}).status_code == 404


# -- resuming --------------------------------------------------------------------------------------


def test_resume_replays_a_running_chat_then_goes_live(support: LiveServer) -> None:
    url = f"{support.url}/ai-sdk/sleeper"
    payload = body("go", chat_id="resumable", on_disconnect="continue")
    with httpx.Client(timeout=30) as client:
        with client.stream("POST", url, json=payload) as response:
            run_id = response.headers["x-masai-run-id"]
            for line in response.iter_lines():
                if '"data-progress"' in line:
                    break  # the client leaves (a reload); the run goes on
        assert client.get(f"{support.url}/ai-sdk/sleeper/another-chat/stream").status_code == 204
        resumed = client.get(f"{url}/resumable/stream")
        assert resumed.status_code == 200, resumed.text
        assert resumed.headers["x-vercel-ai-ui-message-stream"] == "v1"
        assert resumed.headers["x-masai-run-id"] == run_id
        parts = chunks(resumed.text)
        check_order(parts)
        assert parts[0]["messageId"] == f"msg-{run_id}"  # the same message, rebuilt whole
        ticks = [p["data"]["page"] for p in of(parts, "data-progress")]
        assert ticks == list(range(1, 21))
        assert text_of(parts) == "done: [crawl]\ncrawled 20 pages"
        assert parts[-1]["type"] == "finish"
        # Over: nothing to resume.
        assert client.get(f"{url}/resumable/stream").status_code == 204


# -- the encoder alone -----------------------------------------------------------------------------


def event(kind: str, data: dict[str, Any], seq: int, **metadata: Any) -> StreamingEvent:
    return StreamingEvent(kind, data, {"agent": "a", "seq": seq, **metadata})  # type: ignore[arg-type]


def encoded(
    encoder: UIStreamEncoder, events: list[StreamingEvent], outcome: Outcome
) -> list[Chunk]:
    text = (encoder.start() + encoder.events(events) + encoder.end(outcome)).decode()
    parts = chunks(text)
    check_order(parts)
    return parts


def test_a_step_never_splits_the_reply_and_unannounced_calls_get_a_part() -> None:
    events = [
        event("token", {"content": "Hel"}, 0),
        event("reasoning", {"reasoning": "meanwhile"}, 1, agent="b"),  # (another agent, mid-reply)
        event("token", {"content": "lo"}, 2),
        event("answer", {"answer": "Hello!", "satisfied": True}, 3),
        event("tool_output", {"tool_name": "t", "output": "late"}, 4, agent="b", tool_call_id="c9"),
        event("custom", {"content": "tick", "custom_data": {"progress": 0.5}}, 5, agent="b"),
        event("state", {"answer": "x"}, 6),
    ]
    parts = encoded(UIStreamEncoder("m1"), events, Outcome())
    assert text_of(parts) == "Hello!" and len(of(parts, "text-start")) == 1
    assert [p["type"] for p in parts].count("start-step") == 2  # (b's step once the reply closed)
    assert of(parts, "tool-input-available")[0]["toolCallId"] == "c9"
    (progress,) = of(parts, "data-progress")
    assert progress["id"] == "agent:b" and progress["data"]["tool_call_id"] is None
    assert parts[-1] == {"type": "finish", "finishReason": "stop"}  # (no usage known here)


def test_interrupted_is_an_error_without_an_end() -> None:
    encoder = UIStreamEncoder("m1")
    encoder.start()
    encoder.events([event("token", {"content": "par"}, 0)])
    out = encoder.interrupted(MasaiError("backend down")).decode()
    assert "[DONE]" not in out and '"finish"' not in out
    assert [json.loads(line[6:])["type"] for line in out.split("\n\n") if line] == [
        "text-end",
        "finish-step",
        "error",
    ]


def test_progress_data_is_the_events_own_custom_data_first() -> None:
    """Custom data reaches the part as the other protocols carry it: its own keys win, a
    non-numeric ``progress`` stays what it was, and a run-level tick has a real id."""
    custom = {"progress": "50%", "agent": "x", "rows": 3}
    events = [
        event("custom", {"content": "half", "custom_data": custom}, 0, tool_call_id="c1"),
        StreamingEvent("custom", {"content": "run", "custom_data": {"progress": 1}}, {"seq": 1}),
    ]
    parts = encoded(UIStreamEncoder("m1"), events, Outcome())
    tool_tick, run_tick = of(parts, "data-progress")
    assert tool_tick["id"] == "c1"
    assert tool_tick["data"] == {
        "tool_call_id": "c1",
        "tool_name": None,
        "agent": "x",
        "content": "half",
        "progress": "50%",
        "rows": 3,
    }
    assert run_tick["id"] == "run" and run_tick["data"]["progress"] == 1


def test_a_waiting_call_ends_the_response_and_its_answer_tells_only_the_rest() -> None:
    asked = {"approval": {"tool_call_id": "c1", "tool_name": "publish", "arguments": {}}}
    log = [
        event("reasoning", {"reasoning": "I will publish."}, 0),
        event("approval_required", asked, 1),
        event("approval", {"approval": {"tool_call_id": "c1", "approved": True}}, 2),
        event("tool_output", {"tool_name": "publish", "output": "ok"}, 3, tool_call_id="c1"),
        event("answer", {"answer": "done"}, 4),
    ]
    first = UIStreamEncoder("m")
    text = (first.start() + first.events(log[:2]) + first.events(log[2:])).decode()
    assert first.done and text.endswith("data: [DONE]\n\n") and text.count("[DONE]") == 1
    told = chunks(text)
    assert [p["type"] for p in told][-3:] == ["data-approval", "finish-step", "finish"]
    assert told[-1] == {"type": "finish", "finishReason": "tool-calls"}  # (nothing after)

    rest = UIStreamEncoder("m", resume=["c1"])
    parts = chunks((rest.start() + rest.events(log) + rest.end(Outcome())).decode())
    assert [p["type"] for p in parts] == [
        "start",
        "start-step",
        "data-approval",
        "tool-output-available",
        "text-start",
        "text-delta",
        "text-end",
        "finish-step",
        "finish",
    ]
    assert not rest.done and parts[5]["delta"] == "done"


def test_another_key_cannot_resume_a_chat(keyed: LiveServer) -> None:
    """The resume route looks only at the caller's own runs: another principal naming a chat
    that is running gets what a chat with nothing running gets (204), never its events."""
    url = f"{keyed.url}/ai-sdk/sleeper"
    payload = body("go", chat_id="private-chat", on_disconnect="continue")
    alice = {"Authorization": f"Bearer {ALICE}"}
    bob = {"Authorization": f"Bearer {BOB}"}
    with httpx.Client(timeout=30) as client:
        with client.stream("POST", url, json=payload, headers=alice) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if '"data-progress"' in line:
                    break  # (she leaves; the run goes on)
        assert client.get(f"{url}/private-chat/stream").status_code == 401
        assert client.get(f"{url}/private-chat/stream", headers=bob).status_code == 204
        mine = client.get(f"{url}/private-chat/stream", headers=alice)
        assert mine.status_code == 200 and "done: [crawl]" in text_of(chunks(mine.text))
