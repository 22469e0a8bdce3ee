"""One scripted multi-agent run through every wire protocol (issue 13): the same reply, tool
calls, tool results and progress values come out of each. The Python counterpart of
``js/test/protocols.test.js``: openai-python for ``/v1/chat/completions`` and ``/v1/responses``,
raw httpx for the spec's chunks, AG-UI and the AI SDK's UI message stream.

Each protocol starts a run of its own with the same query; the demo is deterministic. Tool call
ids are made per run, so calls compare by (name, arguments) in order, and results and progress
by the position of the call their id names (which checks that the ids tie them together).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest

from masai.streaming import SSEDecoder, decode_chunk
from tests.support.server import LiveServer

QUERY = "How is solar doing?"
AGENT_EVENTS = {"stream_options": {"include_agent_events": True}}

#: What one protocol tells: {run_id, reply, calls: [{id, name, args}], results: [{id, output}],
#: progress: [{id, progress}]}, ids as the protocol has them.
Told = dict[str, Any]


def client_of(server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=30)


def sse_json(text: str) -> list[dict[str, Any]]:
    """Every JSON ``data`` payload of an SSE body (``[DONE]`` left out)."""
    return [json.loads(p) for p in SSEDecoder().feed(text + "\n\n") if p != "[DONE]"]


def from_masai_events(events: list[dict[str, Any]]) -> Told:
    """Tool calls, results and progress from masai events as ``to_dict()`` has them."""

    def of(kind: str) -> list[dict[str, Any]]:
        return [e for e in events if e["event_type"] == kind]

    def call_id(e: dict[str, Any]) -> Any:
        return e["metadata"].get("tool_call_id")

    return {
        "calls": [
            {"id": call_id(e), "name": e["data"]["tool_name"], "args": e["data"]["tool_input"]}
            for e in of("tool_call")
        ],
        "results": [{"id": call_id(e), "output": e["data"]["output"]} for e in of("tool_output")],
        "progress": [
            {"id": call_id(e), "progress": e["data"]["custom_data"].get("progress")}
            for e in of("custom")
        ],
    }


# -- one extractor per protocol ------------------------------------------------------------------


def via_spec(server: LiveServer, system: str) -> Told:
    """``POST /mas/stream``, decoded by masai's own decoder; the reply is the one answer that
    is not intermediate."""
    body = {"query": QUERY, "system": system, "token_events": True}
    response = httpx.post(f"{server.url}/mas/stream", json=body, timeout=30)
    assert response.status_code == 200
    events = [e.to_dict() for c in sse_json(response.text) if (e := decode_chunk(c)) is not None]
    assert "error" not in {e["event_type"] for e in events}
    answers = [e for e in events if e["event_type"] == "answer"]
    finals = [e["data"]["answer"] for e in answers if not e["metadata"].get("intermediate")]
    assert len(finals) == 1, "spec: one answer is the user's"
    return {
        "run_id": response.headers["x-masai-run-id"],
        "reply": finals[0],
        "intermediate": [e["data"]["answer"] for e in answers if e["metadata"].get("intermediate")],
        **from_masai_events(events),
    }


def via_chat(server: LiveServer, system: str) -> Told:
    """openai-python's ``chat.completions.create(stream=True)``: the reply is the
    ``delta.content``s."""
    raw = client_of(server).chat.completions.with_raw_response.create(
        model=system,
        messages=[{"role": "user", "content": QUERY}],
        stream=True,
        extra_body=AGENT_EVENTS,
    )
    reply, events = "", []
    for chunk in raw.parse():
        reply += "".join(choice.delta.content or "" for choice in chunk.choices)
        if event := (chunk.model_extra or {}).get("masai_event"):
            events.append(event)
    return {"run_id": raw.headers["x-masai-run-id"], "reply": reply, **from_masai_events(events)}


def via_responses(server: LiveServer, system: str) -> Told:
    """openai-python's ``responses.create(stream=True)``: the reply is the completed
    response's ``output_text``."""
    raw = client_of(server).responses.with_raw_response.create(
        model=system, input=QUERY, stream=True, extra_body=AGENT_EVENTS
    )
    events: list[dict[str, Any]] = []
    deltas, completed = "", None
    for event in raw.parse():
        kind: str = event.type  # ("keepalive" is not among the SDK's known types)
        if kind == "keepalive" and (step := (event.model_extra or {}).get("masai_event")):
            events.append(step)
        elif event.type == "response.output_text.delta":
            deltas += event.delta
        elif event.type == "response.completed":
            completed = event.response
    assert completed is not None and completed.status == "completed"
    assert deltas == completed.output_text, "responses: the deltas add up to the message"
    return {
        "run_id": raw.headers["x-masai-run-id"],
        "reply": completed.output_text,
        **from_masai_events(events),
    }


def via_agui(server: LiveServer, system: str) -> Told:
    """``POST /ag-ui/{id}`` as ``HttpAgent`` sends it; the reply is the one assistant text
    message."""
    body = {
        "threadId": f"thread-{uuid.uuid4()}",
        "runId": str(uuid.uuid4()),
        "state": {},
        "messages": [{"id": "u1", "role": "user", "content": QUERY}],
        "tools": [],
        "context": [],
        "forwardedProps": {},
    }
    response = httpx.post(f"{server.url}/ag-ui/{system}", json=body, timeout=30)
    assert response.status_code == 200
    events = sse_json(response.text)
    assert events[-1]["type"] == "RUN_FINISHED" and events[-1]["outcome"] == {"type": "success"}

    def of(kind: str) -> list[dict[str, Any]]:
        return [e for e in events if e["type"] == kind]

    assert len(of("TEXT_MESSAGE_START")) == 1, "ag-ui: one assistant text message"
    args: dict[str, str] = {}
    for e in of("TOOL_CALL_ARGS"):
        args[e["toolCallId"]] = args.get(e["toolCallId"], "") + e["delta"]
    ticks = [e["value"] for e in of("CUSTOM") if e["name"] == "masai.progress"]
    return {
        "run_id": events[0]["metadata"]["masai"]["run_id"],
        "reply": "".join(e["delta"] for e in of("TEXT_MESSAGE_CONTENT")),
        "calls": [
            {
                "id": e["toolCallId"],
                "name": e["toolCallName"],
                "args": json.loads(args[e["toolCallId"]]),
            }
            for e in of("TOOL_CALL_START")
        ],
        "results": [
            {"id": e["toolCallId"], "output": e["content"]} for e in of("TOOL_CALL_RESULT")
        ],
        "progress": [
            {"id": v.get("tool_call_id"), "progress": v["custom_data"].get("progress")}
            for v in ticks
        ],
    }


def via_ui_stream(server: LiveServer, system: str) -> Told:
    """``POST /ai-sdk/{id}`` as ``DefaultChatTransport`` sends it; the reply is the one text
    part."""
    body = {
        "id": f"chat-{uuid.uuid4()}",
        "messages": [{"id": "u1", "role": "user", "parts": [{"type": "text", "text": QUERY}]}],
        "trigger": "submit-message",
    }
    response = httpx.post(f"{server.url}/ai-sdk/{system}", json=body, timeout=30)
    assert response.status_code == 200
    chunks = sse_json(response.text)
    assert (chunks[-1]["type"], chunks[-1].get("finishReason")) == ("finish", "stop")

    def of(kind: str) -> list[dict[str, Any]]:
        return [c for c in chunks if c["type"] == kind]

    assert len(of("text-start")) == 1, "ai-sdk: one text part"
    return {
        "run_id": chunks[0]["messageMetadata"]["run_id"],
        "reply": "".join(c["delta"] for c in of("text-delta")),
        "calls": [
            {"id": c["toolCallId"], "name": c["toolName"], "args": c["input"]}
            for c in of("tool-input-available")
        ],
        "results": [
            {"id": c["toolCallId"], "output": c["output"]} for c in of("tool-output-available")
        ],
        "progress": [
            {"id": c["data"]["tool_call_id"], "progress": c["data"]["progress"]}
            for c in of("data-progress")
        ],
    }


PROTOCOLS: dict[str, Callable[[LiveServer, str], Told]] = {
    "spec": via_spec,
    "chat": via_chat,
    "responses": via_responses,
    "ag-ui": via_agui,
    "ai-sdk": via_ui_stream,
}


def story(name: str, told: Told) -> dict[str, Any]:
    """What must agree across protocols: ids replaced by the position of the call they name."""
    ids = [c["id"] for c in told["calls"]]
    assert len(set(ids)) == len(ids), f"{name}: tool call ids are unique"

    def call(call_id: Any) -> int:
        assert call_id in ids, f"{name}: {call_id} names none of the tool calls {ids}"
        return ids.index(call_id)

    return {
        "reply": told["reply"],
        "calls": [{"name": c["name"], "args": c["args"]} for c in told["calls"]],
        "results": [{"call": call(r["id"]), "output": r["output"]} for r in told["results"]],
        "progress": [{"call": call(p["id"]), "progress": p["progress"]} for p in told["progress"]],
    }


@pytest.mark.parametrize("system", ["research-team", "supervised"])
def test_every_protocol_tells_the_same_run(demo: LiveServer, system: str) -> None:
    seen = {name: extract(demo, system) for name, extract in PROTOCOLS.items()}

    expected = story("spec", seen["spec"])
    assert len(expected["calls"]) >= 3 and len(expected["progress"]) >= 3
    assert len(expected["results"]) == len(expected["calls"]), "every call has its result"
    for name, told in seen.items():
        assert story(name, told) == expected, f"{name} tells the run as the spec does"

    # The reply is each run's final answer, as masai recorded it, and no handed-on answer (in
    # "supervised" the supervisor repeats the writer's answer word for word; its leaking would
    # double the text, which the equality with the record catches).
    handed_on = [a for a in seen["spec"]["intermediate"] if a != seen["spec"]["reply"]]
    assert len(handed_on) >= 2, "answers were handed on, differing from the final one"
    for name, told in seen.items():
        record = httpx.get(f"{demo.url}/runs/{told['run_id']}", timeout=10).json()
        assert record["status"] == "completed", name
        assert told["reply"] == record["answer"], f"{name}: the reply is the run's final answer"
        assert told["reply"] not in handed_on, f"{name}: an intermediate answer"
    assert len({told["run_id"] for told in seen.values()}) == 5, "five runs"
