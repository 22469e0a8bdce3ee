"""``usage`` events (opt-in): one per model call, and the run's total just before the end."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx

from masai import EVENT_TYPES, ScriptedModel
from masai.MultiAgents.MultiAgent import MultiAgentSystem
from masai.streaming import EnhancedStreamHandler
from masai.streaming._drive import agent_runner
from masai.streaming.encoders import (
    AgUiEncoder,
    ChatEncoder,
    Encoder,
    ResponsesEncoder,
    SpecEncoder,
    UIStreamEncoder,
    encode,
)
from tests.support.agui_verify import agui_events, reply_text, verify
from tests.support.aisdk_parts import check_order, text_of
from tests.support.server import LiveServer
from tests.support.sse import chunks, events, frames
from tests.test_agents import TOOL_THEN_ANSWER, make_agent
from tests.test_systems import supervised_mas, three_agents

ANSWER = "AI is growing fast."


def usages(evs: list[dict[str, Any]], scope: str) -> list[dict[str, Any]]:
    return [e for e in evs if e["event_type"] == "usage" and e["metadata"]["scope"] == scope]


def tokens(event: dict[str, Any]) -> dict[str, int]:
    usage: dict[str, int] = event["choices"][0]["delta"]["usage"]
    return usage


def as_state(usage: dict[str, int]) -> dict[str, int]:
    return {"input_tokens": usage["prompt_tokens"], "output_tokens": usage["completion_tokens"]}


def total(evs: list[dict[str, Any]]) -> dict[str, int]:
    calls = [tokens(e) for e in usages(evs, "call")]
    prompt = sum(c["prompt_tokens"] for c in calls)
    completion = sum(c["completion_tokens"] for c in calls)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


async def run_spec(handler: EnhancedStreamHandler, run: Any) -> tuple[str, Any]:
    """The run's SSE text through ``handler``, and what the run returned (its final state)."""
    stream = handler.open_stream(run)
    text = b"".join([c async for c in encode(stream, handler.encoder(stream))]).decode()
    return text, stream.result


def check_run_total(text: str, final: Any) -> dict[str, Any]:
    """The run's ``usage`` event is the last before the ``stop`` chunk and holds the run's
    totals: the sum of its calls' and the final state's ``usage``."""
    every = chunks(text)
    run_event, stop = every[-2], every[-1]
    assert stop["choices"][0]["finish_reason"] == "stop" and "event_type" not in stop
    assert run_event["event_type"] == "usage" and run_event["metadata"]["scope"] == "run"
    assert run_event["choices"][0]["delta"] == {"usage": total(events(text))}
    assert as_state(tokens(run_event)) == final["usage"]
    assert len(usages(events(text), "run")) == 1
    return run_event


async def test_the_default_stream_has_no_usage_events() -> None:
    text, _ = await run_spec(
        EnhancedStreamHandler(enable_token_events=True),
        agent_runner(make_agent(TOOL_THEN_ANSWER), "q"),
    )
    assert "usage" not in {e["event_type"] for e in events(text)}
    assert '"usage"' not in text


async def test_one_usage_event_per_model_call_and_the_runs_total_last() -> None:
    agent = make_agent(TOOL_THEN_ANSWER)
    model = agent.models["router"]
    handler = EnhancedStreamHandler(enable_usage_events=True, enable_token_events=True)
    text, final = await run_spec(handler, agent_runner(agent, "q"))
    evs = events(text)
    calls = usages(evs, "call")
    assert len(calls) == len(model.requests) == 2
    for call, request in zip(calls, model.requests, strict=True):
        usage = tokens(call)
        assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
        assert call["metadata"]["model"] == "scripted"
        assert call["metadata"]["agent"] == "researcher"
        assert call["metadata"]["component"] == request.component
        assert "content" not in call["choices"][0]["delta"]
    run_event = check_run_total(text, final)
    assert run_event["metadata"]["agent"] is None
    # Usage is not reply text: the tokens still add up to the answer.
    reply = "".join(e["choices"][0]["delta"]["content"] for e in evs if e["event_type"] == "token")
    assert reply == ANSWER


async def test_a_multi_agent_runs_total_is_every_agents_calls() -> None:
    mas = MultiAgentSystem(agentManager=three_agents())
    handler = EnhancedStreamHandler(enable_usage_events=True)
    text, final = await run_spec(
        handler, lambda: mas.initiate_decentralized_mas("AI?", "researcher")
    )
    evs = events(text)
    assert [e["event_type"] for e in evs].count("handoff") == 2
    calls = usages(evs, "call")
    assert [c["metadata"]["agent"] for c in calls] == [
        "researcher",
        "researcher",
        "analyst",
        "writer",
    ]
    check_run_total(text, final)


async def test_the_supervisors_calls_count_in_a_hierarchical_run() -> None:
    mas = supervised_mas([])
    supervisor = mas.supervisor
    assert isinstance(supervisor, ScriptedModel)
    handler = EnhancedStreamHandler(enable_usage_events=True)
    text, final = await run_spec(handler, lambda: mas.initiate_hierarchical_mas("topic"))
    calls = usages(events(text), "call")
    by_supervisor = [c for c in calls if c["metadata"]["agent"] == "supervisor"]
    assert len(by_supervisor) == len(supervisor.requests) == 3
    assert {c["metadata"]["agent"] for c in calls} == {"supervisor", "draft", "publish"}
    check_run_total(text, final)


async def test_the_simple_handler_never_sends_usage() -> None:
    from masai.streaming import SimpleStreamHandler

    text, _ = await run_spec(SimpleStreamHandler(), agent_runner(make_agent(TOOL_THEN_ANSWER), "q"))
    assert {e["event_type"] for e in events(text)} == {"reasoning", "answer"}


# -- every protocol ---------------------------------------------------------------------------


async def opted_in(encoder: Encoder) -> str:
    handler = EnhancedStreamHandler(enable_usage_events=True, enable_token_events=True)
    stream = handler.open_stream(agent_runner(make_agent(TOOL_THEN_ANSWER), "q"))
    return b"".join([c async for c in encode(stream, encoder)]).decode()


async def test_every_protocol_keeps_usage_out_of_the_reply() -> None:
    chat = ChatEncoder("m", "chatcmpl-x", 1, include_usage=True)
    text = await opted_in(chat)
    payloads = [json.loads(p) for p in frames(text) if p != "[DONE]"]
    content = "".join(p["choices"][0]["delta"].get("content", "") for p in payloads if p["choices"])
    assert content == ANSWER and chat.text.text == ANSWER
    assert payloads[-1]["usage"]["total_tokens"] > 0  # (the run's, in OpenAI's own place)

    responses = ResponsesEncoder("r1", "m", 1)
    text = await opted_in(responses)
    done = json.loads(frames(text)[-1])
    assert done["type"] == "response.completed"
    message = [i for i in done["response"]["output"] if i["type"] == "message"]
    assert [c["text"] for c in message[0]["content"]] == [ANSWER]
    assert done["response"]["usage"]["total_tokens"] > 0

    agui = verify(agui_events(await opted_in(AgUiEncoder("t1", "r1"))))
    assert reply_text(agui.events)[1] == ANSWER
    assert not [e for e in agui.events if e.get("name") == "masai.usage"]
    assert agui.end["usage"][0]["totalTokens"] > 0

    ui = UIStreamEncoder("msg-1")
    parts = [json.loads(p) for p in frames(await opted_in(ui)) if p != "[DONE]"]
    check_order(parts)
    assert text_of(parts) == ANSWER
    assert parts[-1]["messageMetadata"]["usage"]["output_tokens"] > 0

    handler = EnhancedStreamHandler(enable_usage_events=True)
    stream = handler.open_stream(agent_runner(make_agent(TOOL_THEN_ANSWER), "q"))
    spec = SpecEncoder.of_stream(stream, "m")
    evs = events(b"".join([c async for c in encode(stream, spec)]).decode())
    assert len(usages(evs, "call")) == 2 and len(usages(evs, "run")) == 1


def test_a_usage_frame_decodes_back_to_its_event() -> None:
    from masai.streaming._decode import decode_chunk

    frame = {
        "choices": [
            {
                "index": 0,
                "delta": {"usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}},
            }
        ],
        "event_type": "usage",
        "metadata": {"scope": "call", "model": "m"},
    }
    event = decode_chunk(frame)
    assert event is not None and event.event_type == "usage"
    assert event.data == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


# -- over HTTP ------------------------------------------------------------------------------


def test_the_request_flag_turns_usage_events_on(demo: LiveServer) -> None:
    body = {"query": "How is solar doing?", "agent": "researcher"}
    with httpx.Client(base_url=demo.url, timeout=20) as client:
        plain = client.post("/agent/stream", json=body)
        opted = client.post("/agent/stream", json={**body, "usage_events": True})
        query_form = client.post(
            "/agent/stream", params={"query": "How is solar doing?", "usage_events": "true"}
        )
        record = client.get(f"/runs/{opted.headers['x-masai-run-id']}").json()
        team = client.post(
            "/mas/stream",
            json={"query": "ocean heat?", "system": "research-team", "usage_events": True},
        )
        wrong = client.post("/agent/stream", json={**body, "usage_events": "yes"})
    assert "usage" not in {e["event_type"] for e in events(plain.text)}
    evs = events(opted.text)
    assert usages(evs, "call") and all(e["metadata"]["model"] for e in usages(evs, "call"))
    every = chunks(opted.text)
    assert (
        every[-2]["metadata"]["scope"] == "run"
        and every[-1]["choices"][0]["finish_reason"] == "stop"
    )
    assert tokens(every[-2]) == total(evs)
    assert as_state(tokens(every[-2])) == record["usage"]
    assert usages(events(query_form.text), "run")
    team_events = events(team.text)
    assert len({e["metadata"]["agent"] for e in usages(team_events, "call")}) >= 1
    assert tokens(usages(team_events, "run")[0]) == total(team_events)
    assert wrong.status_code == 422


def test_the_server_contract_lists_every_event_type() -> None:
    contract = Path(__file__).resolve().parents[1] / "docs" / "server-contract.md"
    rows = set(re.findall(r"^\| ([a-z_]+) \| `", contract.read_text(), re.M))
    assert rows >= EVENT_TYPES, sorted(EVENT_TYPES - rows)


async def test_a_callback_with_no_type_filter_gets_no_usage_events() -> None:
    """Usage events are asked for: code that takes every event type keeps seeing what it did."""
    from masai import clear_streaming_callback, set_streaming_callback

    seen: list[str] = []
    token = set_streaming_callback(lambda e: seen.append(e.event_type))
    try:
        await make_agent(TOOL_THEN_ANSWER).initiate_agent("q")
    finally:
        clear_streaming_callback(token)
    assert "answer" in seen and "usage" not in seen


async def test_a_failed_run_still_reports_what_it_spent() -> None:
    handler = EnhancedStreamHandler(enable_usage_events=True)
    agent = make_agent(TOOL_THEN_ANSWER[:1])  # (the second model call finds no turn: fails)
    text, _ = await run_spec(handler, agent_runner(agent, "q"))
    every = chunks(text)
    assert every[-1]["event_type"] == "error"
    assert every[-2]["event_type"] == "usage" and every[-2]["metadata"]["scope"] == "run"
    assert len(usages(events(text), "call")) == 1
    assert tokens(every[-2]) == total(events(text))
