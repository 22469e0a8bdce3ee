"""``POST /v1/responses`` through openai-python against a real server: OpenAI's event sequence
(validated with the SDK's own types), the reply is the final answer only, agent events only on
request and in a form the SDK passes over, ``previous_response_id`` (owned, kept past the run,
across processes with Redis), failures, and the page in docs/ that says so."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import httpx
import httpx2
import openai
import pytest
from openai.types.responses import Response, ResponseStreamEvent

from masai.events import StreamingEvent
from masai.server import ServerSettings, create_app
from masai.streaming._encoding import Outcome
from masai.streaming._responses import ResponsesEncoder
from tests.support.cluster import Process
from tests.support.redis import RedisServer
from tests.support.responses_registry import DRAFT, FINAL, SECRET, responses_registry
from tests.support.server import LiveServer, live_server

ROOT = Path(__file__).resolve().parents[1]
CONFIG = "tests.support.responses_registry:responses_registry"
ALICE, BOB = "alice-key-0123456789", "bob-key-0123456789"
#: The SDK's model of each event type (validated strictly: every field as OpenAI sends it).
EVENT_TYPES = {
    get_args(cls.model_fields["type"].annotation)[0]: cls
    for cls in get_args(get_args(ResponseStreamEvent)[0])
}
LIFECYCLE = ("response.created", "response.in_progress")


@pytest.fixture(scope="module")
def agents() -> Iterator[LiveServer]:
    with live_server(create_app(responses_registry())) as server:
        yield server


def client_of(server: LiveServer | str, key: str = "unused") -> openai.OpenAI:
    url = server if isinstance(server, str) else server.url
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=30)


def sse(text: str) -> list[dict[str, Any]]:
    """Every event of a Responses stream; each frame's ``event:`` line names its type."""
    out = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = block.split("\n")
        data = [line[6:] for line in lines if line.startswith("data: ")]
        if data:
            payload = json.loads("\n".join(data))
            assert f"event: {payload['type']}" in lines, block
            out.append(payload)
    return out


def post(server: LiveServer, body: dict[str, Any], key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{server.url}/v1/responses", json=body, headers=headers, timeout=30)


def summaries(response: Response) -> list[str]:
    return [
        part.text for item in response.output if item.type == "reasoning" for part in item.summary
    ]


# -- the stream, as OpenAI sends it --------------------------------------------------------------


@pytest.mark.parametrize("model", ["researcher", "research-team", "pipeline", "supervised"])
def test_the_stream_is_openais_sequence_and_its_text_the_final_answer(
    demo: LiveServer, model: str
) -> None:
    events = sse(
        post(demo, {"model": model, "input": "How is solar growing?", "stream": True}).text
    )
    kinds = [e["type"] for e in events]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert tuple(kinds[:2]) == LIFECYCLE and kinds[-1] == "response.completed"
    for event in events:  # every field as the SDK's own (strict) types have it
        EVENT_TYPES[event["type"]].model_validate(event, strict=True)
    items = [e["item"] for e in events if e["type"] == "response.output_item.added"]
    done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert [i["id"] for i in items] == [i["id"] for i in done]
    assert {i["type"] for i in done} == {"reasoning", "message"}  # never a function_call
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    final = events[-1]["response"]
    Response.model_validate(final)
    assert final["status"] == "completed" and final["output"] == done
    message = next(i for i in done if i["type"] == "message")
    assert message["content"][0]["text"] == text and text
    assert final["usage"]["total_tokens"] == (
        final["usage"]["input_tokens"] + final["usage"]["output_tokens"]
    )
    assert "keepalive" not in kinds  # no agent events unless asked for
    # An item's events sit between its added and done events, and items do not overlap.
    open_item = None
    for event in events[2:-1]:
        if event["type"] == "response.output_item.added":
            assert open_item is None
            open_item = event["item"]["id"]
        elif event["type"] == "response.output_item.done":
            assert event["item"]["id"] == open_item
            open_item = None
        else:
            assert event["item_id"] == open_item


def test_the_sdk_gets_the_same_reply_streamed_or_not(demo: LiveServer) -> None:
    client = client_of(demo)
    whole = client.responses.create(model="research-team", input="How is solar growing?")
    assert whole.status == "completed" and whole.id.startswith("resp_")
    assert whole.object == "response" and whole.model == "research-team"
    assert whole.usage is not None and whole.usage.output_tokens > 0
    assert whole.output_text and [o.type for o in whole.output] == ["reasoning", "message"]
    streamed, completed = "", None
    for event in client.responses.create(
        model="research-team", input="How is solar growing?", stream=True
    ):
        if event.type == "response.output_text.delta":
            streamed += event.delta
        elif event.type == "response.completed":
            completed = event.response
    assert completed is not None and streamed == completed.output_text == whole.output_text
    with client.responses.stream(model="research-team", input="How is solar growing?") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == whole.output_text


def test_answers_handed_on_are_reasoning_never_the_reply(agents: LiveServer) -> None:
    client = client_of(agents)
    whole = client.responses.create(model="relay", input="go")
    assert whole.output_text == FINAL
    assert DRAFT in summaries(whole)
    with client.responses.stream(model="relay", input="go") as stream:
        events = list(stream)
        final = stream.get_final_response()
    assert final.output_text == FINAL and DRAFT in summaries(final)
    thoughts = "".join(e.delta for e in events if e.type == "response.reasoning_summary_text.delta")
    assert DRAFT in thoughts


def test_retracted_text_leaves_the_reply() -> None:
    """A worker that took a run over retracts what the lost one sent after its last step."""
    encoder = ResponsesEncoder("resp_abc", "m", 0)

    def event(kind: Any, data: dict[str, Any], seq: int) -> StreamingEvent:
        return StreamingEvent(kind, data, {"seq": seq})

    frames = encoder.start() + encoder.events(
        [
            event("token", {"content": "Hel"}, 0),
            event("token", {"content": "lo wor"}, 1),  # (the lost worker's)
            event("retracted", {"from_seq": 1, "to_seq": 1}, 2),
            event("token", {"content": "lo"}, 3),
            event("answer", {"answer": "Hello", "satisfied": True}, 4),
        ]
    )
    events = sse((frames + encoder.end(Outcome())).decode())
    done = next(e for e in events if e["type"] == "response.output_text.done")
    assert done["text"] == encoder.text.text == "Hello"
    assert Response.model_validate(events[-1]["response"]).output_text == "Hello"


# -- agent events ----------------------------------------------------------------------------------


def test_agent_events_come_on_request_and_the_sdk_passes_them_over(agents: LiveServer) -> None:
    client = client_of(agents)
    asked = {"stream_options": {"include_agent_events": True}}
    plain = client.responses.create(model="gauger", input="read it")
    assert plain.output_text == "gauge says 42"
    found = []
    for event in client.responses.create(
        model="gauger", input="read it", stream=True, extra_body=asked
    ):
        if event.type == "keepalive":
            found.append((event.model_extra or {})["masai_event"])
    with client.responses.stream(model="gauger", input="read it", extra_body=asked) as stream:
        seen = [(e.model_extra or {}).get("masai_event") for e in stream if e.type == "keepalive"]
        final = stream.get_final_response()
    assert final.output_text == "gauge says 42"
    for events in (found, seen):
        kinds = [e["event_type"] for e in events]
        assert {"tool_call", "tool_output", "custom", "reasoning", "answer"} <= set(kinds)
        assert [e["metadata"]["seq"] for e in events] == list(range(len(events)))
        progress = next(e for e in events if e["event_type"] == "custom")
        assert progress["data"]["custom_data"] == {"progress": 0.5}
    assert all(o.type in ("reasoning", "message") for o in final.output)
    raw = sse(post(agents, {"model": "gauger", "input": "x", "stream": True, **asked}).text)
    assert [e["sequence_number"] for e in raw] == list(range(len(raw)))
    assert all(
        set(e) == {"type", "sequence_number", "masai_event"}
        for e in raw
        if e["type"] == "keepalive"
    )


def test_the_sdk_would_pass_over_an_unknown_type_too(agents: LiveServer) -> None:
    """What the page's table says of openai-python: frames of a type it does not know are
    handed to the caller, and the helper's final response is unharmed."""
    asked = {"stream_options": {"include_agent_events": True}}
    text = post(agents, {"model": "gauger", "input": "x", "stream": True, **asked}).text
    renamed = text.replace("keepalive", "masai.agent_event").encode()
    assert b"masai.agent_event" in renamed

    def replay(_: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=renamed, headers={"content-type": "text/event-stream"})

    http = httpx2.Client(transport=httpx2.MockTransport(replay))
    client = openai.OpenAI(base_url="http://replay/v1", api_key="x", http_client=http)
    kinds = [e.type for e in client.responses.create(model="gauger", input="x", stream=True)]
    assert "masai.agent_event" in kinds and kinds[-1] == "response.completed"
    with client.responses.stream(model="gauger", input="x") as stream:
        assert stream.get_final_response().output_text == "gauge says 42"


# -- previous_response_id ----------------------------------------------------------------------


def test_previous_response_id_continues_the_conversation(agents: LiveServer) -> None:
    client = client_of(agents)
    first = client.responses.create(model="recall", input="first", instructions="Be brief")
    assert first.output_text == "turn 1 (history: system:Be brief)"
    assert first.instructions == "Be brief" and first.previous_response_id is None
    second = client.responses.create(model="recall", input="second", previous_response_id=first.id)
    assert second.previous_response_id == first.id and second.id not in (first.id, "")
    # Instructions are this request's only (as OpenAI's): the earlier turns are kept.
    assert second.output_text == f"turn 2 (history: user:first | assistant:{first.output_text})"
    with client.responses.stream(
        model="recall", input="third", previous_response_id=second.id
    ) as stream:
        third = stream.get_final_response()
    assert third.output_text.startswith("turn 3 (history: user:first | assistant:turn 1")
    assert "user:second" in third.output_text and third.previous_response_id == second.id
    branch = client.responses.create(model="recall", input="other", previous_response_id=first.id)
    assert branch.output_text.startswith("turn 2") and "second" not in branch.output_text
    # A streamed response can be continued the moment its stream ends.
    previous = third.id
    for n in range(5):
        with client.responses.stream(
            model="recall", input=f"again {n}", previous_response_id=previous
        ) as stream:
            previous = stream.get_final_response().id
        nxt = client.responses.create(model="recall", input="next", previous_response_id=previous)
        assert nxt.output_text.startswith(f"turn {n + 5} ")


def test_input_items_make_the_history(agents: LiveServer) -> None:
    client = client_of(agents)
    first = client.responses.create(model="recall", input="remember 7")
    message = next(o for o in first.output if o.type == "message")
    items: Any = [
        {"role": "developer", "content": "Use digits."},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "a"}]},
        {"role": "assistant", "content": [{"type": "output_text", "text": "b"}]},
        {"type": "reasoning", "id": "rs_x", "summary": []},  # (not conversation: skipped)
        {"type": "item_reference", "id": message.id},
        {"role": "user", "content": [{"type": "input_text", "text": "c"}, {"type": "input_image"}]},
    ]
    reply = client.responses.create(model="recall", input=items)
    told = f"system:Use digits. | user:a | assistant:b | assistant:{first.output_text}"
    assert reply.output_text == f"turn 2 (history: {told})"
    with pytest.raises(openai.NotFoundError) as missing:
        client.responses.create(
            model="recall", input=[{"type": "item_reference", "id": "msg_nothing"}, *items[-1:]]
        )
    assert missing.value.body["param"] == "input"  # type: ignore[index]
    with pytest.raises(openai.UnprocessableEntityError):
        client.responses.create(model="recall", input=items[:3])  # (ends with the assistant)


def test_unknown_ids_are_404_in_openais_error_shape(agents: LiveServer) -> None:
    for previous in ("resp_nothing_here", "x"):
        answer = post(agents, {"model": "recall", "input": "hi", "previous_response_id": previous})
        assert answer.status_code == 404
        assert answer.json() == {
            "error": {
                "message": f"Previous response with id '{previous}' not found.",
                "type": "invalid_request_error",
                "param": "previous_response_id",
                "code": "previous_response_not_found",
            }
        }
    with pytest.raises(openai.NotFoundError):
        client_of(agents).responses.create(model="recall", input="hi", previous_response_id="y")
    unknown_model = post(agents, {"model": "nobody", "input": "hi"})
    assert unknown_model.status_code == 404 and unknown_model.json()["error"]["code"] == "not_found"
    blank = post(agents, {"model": "recall", "input": " "})
    assert blank.status_code == 422 and set(blank.json()["error"]) == {"message", "type", "code"}


def test_store_false_cannot_be_continued(agents: LiveServer) -> None:
    client = client_of(agents)
    unkept = client.responses.create(model="recall", input="secret", store=False)
    assert unkept.store is False and unkept.output_text.startswith("turn 1")
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="recall", input="hi", previous_response_id=unkept.id)
    with client.responses.stream(model="recall", input="secret", store=False) as stream:
        streamed = stream.get_final_response()
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="recall", input="hi", previous_response_id=streamed.id)


def test_a_response_belongs_to_its_owner() -> None:
    settings = ServerSettings(api_keys={"alice": ALICE, "bob": BOB})
    with live_server(create_app(responses_registry(), settings)) as server:
        alice, bob = client_of(server, ALICE), client_of(server, BOB)
        first = alice.responses.create(model="recall", input="mine")
        with pytest.raises(openai.NotFoundError) as refused:
            bob.responses.create(model="recall", input="yours?", previous_response_id=first.id)
        assert refused.value.body == {  # the same answer as for an id that never existed
            "message": f"Previous response with id '{first.id}' not found.",
            "type": "invalid_request_error",
            "param": "previous_response_id",
            "code": "previous_response_not_found",
        }
        reference = [
            {"type": "item_reference", "id": first.output[-1].id},
            {"role": "user", "content": "x"},
        ]
        with pytest.raises(openai.NotFoundError):
            bob.responses.create(model="recall", input=reference)  # type: ignore[arg-type]
        again = alice.responses.create(model="recall", input="again", previous_response_id=first.id)
        assert again.output_text.startswith("turn 2 (history: user:mine")


def test_the_conversation_outlives_the_run() -> None:
    with live_server(create_app(responses_registry(), run_retention=0)) as server:
        client = client_of(server)
        first = client.responses.create(model="recall", input="long ago")
        deadline = time.monotonic() + 10
        while httpx.get(f"{server.url}/runs/{first.id}").status_code == 200:
            assert time.monotonic() < deadline, "the run was never forgotten"
            time.sleep(0.05)
        later = client.responses.create(model="recall", input="now", previous_response_id=first.id)
        assert later.output_text.startswith("turn 2 (history: user:long ago")


def _leave_early(server: LiveServer, metadata: dict[str, str]) -> str:
    """Start a streamed ``slowpoke`` response and drop the connection after its first event."""
    body = {"model": "slowpoke", "input": "take your time", "stream": True, "metadata": metadata}
    with httpx.stream("POST", f"{server.url}/v1/responses", json=body, timeout=30) as answer:
        for line in answer.iter_lines():
            if line.startswith("data: "):
                return str(json.loads(line[6:])["response"]["id"])
    raise AssertionError("no event")


def test_a_client_that_leaves_early() -> None:
    with live_server(create_app(responses_registry())) as server:
        client = client_of(server)
        kept = _leave_early(server, {"on_disconnect": "continue"})  # the run goes on: kept
        deadline = time.monotonic() + 15
        while True:
            try:
                later = client.responses.create(
                    model="recall", input="hi", previous_response_id=kept
                )
                break
            except openai.NotFoundError:
                assert time.monotonic() < deadline, "the finished run's conversation was never kept"
                time.sleep(0.1)
        assert (
            later.output_text == "turn 2 (history: user:take your time | assistant:slow: finally)"
        )
        dropped = _leave_early(server, {})  # cancelled with its client: nothing to continue
        while httpx.get(f"{server.url}/runs/{dropped}").json()["status"] != "cancelled":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with pytest.raises(openai.NotFoundError):
            client.responses.create(model="recall", input="hi", previous_response_id=dropped)


# -- failures ------------------------------------------------------------------------------------


def test_a_failed_run_is_response_failed_with_the_public_message(agents: LiveServer) -> None:
    events = sse(post(agents, {"model": "crashy", "input": "hi", "stream": True}).text)
    assert [e["type"] for e in events] == [*LIFECYCLE, "response.failed"]
    failed = events[-1]["response"]
    assert failed["status"] == "failed" and failed["id"] == events[0]["response"]["id"]
    assert failed["error"] == {"code": "internal_error", "message": "The agent run failed."}
    client = client_of(agents)
    with client.responses.stream(model="crashy", input="hi") as stream:
        kinds = [e.type for e in stream]
        with pytest.raises(RuntimeError):
            stream.get_final_response()  # (no response.completed, as for OpenAI's failures)
    assert kinds[-1] == "response.failed"
    with pytest.raises(openai.InternalServerError) as whole:
        client.responses.create(model="crashy", input="hi")
    assert set(whole.value.body) == {"message", "type", "param", "code"}  # type: ignore[arg-type]
    for text in (json.dumps(events), str(whole.value)):
        assert SECRET not in text
    with pytest.raises(openai.NotFoundError):  # a failed response is not kept
        client.responses.create(model="recall", input="hi", previous_response_id=failed["id"])


# -- across processes (Redis): the API servers never execute runs, a worker does ---------------


def test_previous_response_id_across_api_servers_and_a_worker(tmp_path: Path) -> None:
    redis = RedisServer()
    redis.start()
    # (Retention 0: with a shared backend a finished run is still kept 5 s, so the API
    # server that answers reads its end; then it is forgotten, and its conversation is not.)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MASAI_RUN_RETENTION": "0"}
    common = ["--backend", redis.url, "--config", CONFIG]
    processes: list[Process] = []
    try:
        for _ in range(2):
            processes.append(Process(["serve", "--port", "0", *common], env, "masai serving on"))
        processes.append(Process(["worker", *common], env, "masai worker"))
        urls = [p.ready.rsplit(" ", 1)[-1] for p in processes[:2]]
        one, two = client_of(urls[0]), client_of(urls[1])
        first = one.responses.create(model="recall", input="on server one")
        deadline = time.monotonic() + 20
        while httpx.get(f"{urls[1]}/runs/{first.id}").status_code == 200:  # (kept 5 s)
            assert time.monotonic() < deadline, "the run was never forgotten"
            time.sleep(0.05)
        with two.responses.stream(
            model="recall", input="on server two", previous_response_id=first.id
        ) as stream:
            second = stream.get_final_response()
        assert second.output_text.startswith("turn 2 (history: user:on server one | assistant:")
        third = one.responses.create(model="recall", input="back", previous_response_id=second.id)
        assert third.output_text.startswith("turn 3 ") and "user:on server two" in third.output_text
        with pytest.raises(openai.NotFoundError):
            two.responses.create(model="recall", input="x", previous_response_id="resp_unknown")
    finally:
        for process in processes:
            process.stop()
        redis.stop()


# -- the page -----------------------------------------------------------------------------------

PAGE = ROOT / "docs" / "openai-responses.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.M | re.S)


def test_the_pages_python_examples_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """As tests/test_docs.py runs the docs' Python: each block on its own."""
    monkeypatch.setenv("MASAI_DEMO_PACE", "0")
    blocks = [m.group(2) for m in FENCE.finditer(PAGE.read_text()) if m.group(1) == "python"]
    assert blocks
    for i, code in enumerate(blocks):
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
        )
        assert done.returncode == 0, (i, done.stderr[-3000:])
        assert done.stdout.strip(), f"block {i} printed nothing"


def test_the_pages_sample_stream_is_what_the_server_sends(demo: LiveServer) -> None:
    sample = next(m.group(2) for m in FENCE.finditer(PAGE.read_text()) if m.group(1) == "text")
    shown = [line.split(": ", 1)[1] for line in sample.splitlines() if line.startswith("event: ")]
    body = {"model": "researcher", "input": "How is solar growing?", "stream": True}
    sent = [e["type"] for e in sse(post(demo, body).text)]
    squeeze = lambda kinds: [k for i, k in enumerate(kinds) if i == 0 or kinds[i - 1] != k]  # noqa: E731
    assert squeeze(shown) == squeeze(sent)
