"""OpenAIModel against a local server speaking Chat Completions, through the real SDK."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import openai
import pytest

from masai.exceptions import ConfigError, ModelError, ModelOutputError
from masai.models import (
    Decision,
    OpenAIModel,
    ToolCallRequest,
)
from masai.models._retry import RetryPolicy, redact
from tests.support.fake_openai import (
    FakeOpenAI,
    error_reply,
    running_fake_openai,
    split,
    stream_error_reply,
    text_reply,
    tool_reply,
)
from tests.support.models import (
    ANSWER,
    CLOCK,
    FAST,
    SEARCH,
    Recorder,
    decision_json,
    make_request,
    wait_until,
)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    with running_fake_openai() as running:
        yield running


@pytest.fixture
def fake(server: FakeOpenAI) -> FakeOpenAI:
    server.reset()
    return server


@pytest.fixture
async def make_model(fake: FakeOpenAI) -> AsyncIterator[Callable[..., OpenAIModel]]:
    """Models pointed at the fake server, fast backoff, closed after the test."""
    made: list[OpenAIModel] = []

    def make(name: str = "gpt-test", **kwargs: Any) -> OpenAIModel:
        if "azure_endpoint" not in kwargs:
            kwargs.setdefault("base_url", fake.base_url)
        kwargs.setdefault("api_key", "sk-test-key-0123456789")
        model = OpenAIModel(name, **kwargs)
        model.retry = RetryPolicy(model.retry.max_retries, FAST.base_delay, FAST.max_delay)
        made.append(model)
        return model

    yield make
    for model in made:
        await model.aclose()


# -- json_schema mode ------------------------------------------------------------------------


async def test_answer_streams_live_in_pieces_split_inside_escapes(fake, make_model):
    text = decision_json(reasoning="Simple greeting.", satisfied=True, answer=ANSWER)
    assert "\\ud83d\\ude00" in text and '\\"hi\\"' in text  # the escapes are really there
    pieces = split(text, 3)
    gate = threading.Event()
    # Hold the stream about 15 characters into the answer's value.
    reply = text_reply(pieces, gate=gate, gate_at=1 + (text.index('"answer"') + 25) // 3)
    fake.script(reply)
    emit = Recorder()
    request = make_request(emit=emit)

    task = asyncio.create_task(make_model().decide(request))
    try:
        await wait_until(lambda: len(emit.pieces) >= 2)
        assert not task.done()  # tokens arrived while the model was still "generating"
        streamed_early = "".join(emit.pieces)
        assert ANSWER.startswith(streamed_early)
    finally:
        gate.set()
    decision = await task

    assert decision == Decision(reasoning="Simple greeting.", satisfied=True, answer=ANSWER)
    assert len(emit.pieces) >= 5
    assert "".join(emit.pieces) == ANSWER
    assert request.answer.text == ANSWER


async def test_request_carries_strict_schema_messages_and_options(fake, make_model):
    fake.script(text_reply([decision_json(satisfied=True, answer="ok")]))
    request = make_request(tools=[SEARCH], delegates=["researcher"])
    model = make_model(temperature=0.2, max_tokens=300, seed=7)

    await model.decide(request)

    [body] = fake.bodies
    assert body["model"] == "gpt-test"
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "decision", "strict": True, "schema": request.output_schema},
    }
    schema = body["response_format"]["json_schema"]["schema"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["tool"]["enum"] == ["search", None]
    assert body["messages"] == [
        {"role": "system", "content": "You are a test."},
        {"role": "user", "content": "Hi"},
    ]
    assert body["temperature"] == 0.2
    assert body["max_tokens"] == 300  # a compatible server: the widely supported name
    assert body["seed"] == 7
    assert "tools" not in body
    assert fake.requests[0].headers["authorization"] == "Bearer sk-test-key-0123456789"


def test_max_tokens_uses_the_new_name_on_openais_own_api():
    model = OpenAIModel("gpt-test", api_key="sk-test-key", max_tokens=50)
    options = model._options(make_request())
    assert options["max_completion_tokens"] == 50 and "max_tokens" not in options


async def test_non_final_decision_streams_no_tokens(fake, make_model):
    text = decision_json(
        reasoning="Need data.",
        tool="search",
        tool_input='{"q": "weather"}',
        answer="Let me look that up first, one moment.",
    )
    fake.script(text_reply(split(text, 4)))
    emit = Recorder()

    decision = await make_model().decide(make_request(emit=emit, tools=[SEARCH]))

    assert decision.tool == "search" and decision.tool_input == {"q": "weather"}
    assert decision.satisfied is False
    assert emit.pieces == []


async def test_usage_chunk_is_recorded(fake, make_model):
    fake.script(text_reply([decision_json(satisfied=True, answer="hi")], usage=(123, 45)))
    request = make_request()

    await make_model().decide(request)

    assert (request.usage.input_tokens, request.usage.output_tokens) == (123, 45)


async def test_json_object_mode_describes_the_schema_in_a_system_message(fake, make_model):
    fake.script(text_reply(split(decision_json(satisfied=True, answer="fine"), 5)))
    request = make_request()

    decision = await make_model(mode="json_object").decide(request)

    assert decision.answer == "fine"
    [body] = fake.bodies
    assert body["response_format"] == {"type": "json_object"}
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["system", "system", "user"]
    note = body["messages"][1]["content"]
    assert json.dumps(request.output_schema, ensure_ascii=False) in note


async def test_malformed_json_is_a_model_output_error_and_not_retried(fake, make_model):
    fake.script(text_reply(['{"reasoning": "x", "satisfied": tru']))

    with pytest.raises(ModelOutputError):
        await make_model().decide(make_request())

    assert len(fake.requests) == 1


async def test_output_cut_off_by_length_says_so(fake, make_model):
    fake.script(text_reply(['{"reasoning": "a very long'], finish_reason="length"))

    with pytest.raises(ModelOutputError, match="max_tokens"):
        await make_model().decide(make_request())


# -- tools mode ------------------------------------------------------------------------------


async def test_tool_call_with_arguments_split_across_chunks(fake, make_model):
    fake.script(tool_reply([("search", ['{"', 'q": "wea', "ther in ", 'Paris"', "}"])]))
    request = make_request(tools=[SEARCH, CLOCK])

    decision = await make_model(mode="tools").decide(request)

    assert decision == Decision(tool="search", tool_input={"q": "weather in Paris"})
    [body] = fake.bodies
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "search",
                "description": "Search the web.",
                "parameters": dict(SEARCH.parameters),
            },
        },
        {
            "type": "function",
            "function": {
                "name": "clock",
                "description": "The time now.",
                "parameters": dict(CLOCK.parameters),
            },
        },
    ]
    assert body["parallel_tool_calls"] is False
    assert "response_format" not in body


async def test_two_parallel_tool_calls(fake, make_model):
    fake.script(
        tool_reply(
            [("search", ['{"q": ', '"news"}']), ("clock", ["", "{}"])],
            content=["Checking ", "both."],
        )
    )
    request = make_request(tools=[SEARCH, CLOCK], parallel=True)

    decision = await make_model(mode="tools").decide(request)

    assert decision.tool_calls == (
        ToolCallRequest(tool="search", tool_input={"q": "news"}),
        ToolCallRequest(tool="clock", tool_input={}),
    )
    assert decision.reasoning == "Checking both."
    assert decision.satisfied is False
    assert fake.bodies[0]["parallel_tool_calls"] is True


async def test_delegate_function_becomes_a_hand_off(fake, make_model):
    args = ['{"agent": "resea', 'rcher", "reason": "needs sources"}']
    fake.script(tool_reply([("delegate_to_agent", args)]))
    request = make_request(tools=[SEARCH], delegates=["researcher", "writer"])

    decision = await make_model(mode="tools").decide(request)

    assert decision.delegate_to_agent == "researcher"
    assert decision.satisfied is True
    assert decision.calls == ()
    delegate = fake.bodies[0]["tools"][-1]["function"]
    assert delegate["name"] == "delegate_to_agent"
    assert delegate["parameters"]["properties"]["agent"]["enum"] == ["researcher", "writer"]


async def test_plain_text_answer_in_tools_mode_is_held_until_final(fake, make_model):
    fake.script(text_reply(["The answer ", "is ", "42."]))
    emit = Recorder()
    request = make_request(emit=emit, tools=[SEARCH])

    decision = await make_model(mode="tools").decide(request)

    assert decision == Decision(satisfied=True, answer="The answer is 42.")
    assert request.answer.text == "The answer is 42."
    assert emit.pieces == []  # not known to be final while it streamed
    await request.answer.finish(decision)
    assert "".join(emit.pieces) == "The answer is 42."


async def test_tool_arguments_that_are_not_json_are_a_model_output_error(fake, make_model):
    fake.script(tool_reply([("search", ['{"q": "unterminated'])]))

    with pytest.raises(ModelOutputError, match="search"):
        await make_model(mode="tools").decide(make_request(tools=[SEARCH]))


# -- retries and errors ----------------------------------------------------------------------


async def test_rate_limit_then_success_retries_once_honouring_retry_after(fake, make_model, caplog):
    fake.script(
        error_reply(
            429,
            "Rate limit reached for requests",
            type="requests",
            code="rate_limit_exceeded",
            headers={"retry-after-ms": "40"},
        ),
        text_reply([decision_json(satisfied=True, answer="done")]),
    )
    model = make_model()
    model.retry = RetryPolicy(max_retries=3, base_delay=30.0, max_delay=60.0)  # header must win

    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="masai.models"):
        decision = await model.decide(make_request())
    elapsed = time.monotonic() - started

    assert decision.answer == "done"
    assert len(fake.requests) == 2
    assert 0.035 <= elapsed < 5
    [record] = [r for r in caplog.records if r.name == "masai.models"]
    assert "429" in record.getMessage() and "retry 1 of 3" in record.getMessage()


async def test_persistent_server_error_raises_after_all_retries(fake, make_model):
    failure = error_reply(
        500, "The server had an error processing your request.", type="server_error"
    )
    fake.script(failure, failure, failure)
    model = make_model(max_retries=2)

    with pytest.raises(ModelError) as caught:
        await model.decide(make_request())

    assert len(fake.requests) == 3
    error = caught.value
    assert type(error) is ModelError
    assert "500" in str(error) and "The server had an error" in str(error)
    assert "3 attempts" in str(error)
    assert error.public_message == ModelError.public_message
    assert "500" not in error.public_message
    assert isinstance(error.__cause__, openai.InternalServerError)


async def test_auth_error_is_not_retried_and_leaks_no_key(fake, make_model, caplog):
    key = "sk-test-SECRETSECRET0123456789"
    fake.script(
        error_reply(
            401,
            f"Incorrect API key provided: {key}. You can find your API key at ...",
            type="invalid_request_error",
            code="invalid_api_key",
        )
    )

    with caplog.at_level(logging.DEBUG, logger="masai"), pytest.raises(ModelError) as caught:
        await make_model(api_key=key).decide(make_request())

    assert len(fake.requests) == 1
    assert fake.requests[0].headers["authorization"] == f"Bearer {key}"
    assert "401" in str(caught.value) and "Incorrect API key provided" in str(caught.value)
    assert key not in str(caught.value)
    assert key not in caplog.text
    assert isinstance(caught.value.__cause__, openai.AuthenticationError)


async def test_timeout_then_success(fake, make_model):
    fake.script(
        text_reply([decision_json(satisfied=True, answer="late")], delay=0.6),
        text_reply([decision_json(satisfied=True, answer="on time")]),
    )

    decision = await make_model(timeout=0.15).decide(make_request())

    assert decision.answer == "on time"
    assert len(fake.requests) == 2


async def test_connection_dropped_mid_stream_before_answer_is_retried(fake, make_model):
    good = text_reply(split(decision_json(satisfied=True, answer="reconnected"), 4))
    fake.script(dataclasses.replace(good, drop_at=3), good)

    decision = await make_model().decide(make_request())

    assert decision.answer == "reconnected"
    assert len(fake.requests) == 2


async def test_stream_error_before_any_answer_text_is_retried(fake, make_model):
    good = text_reply(split(decision_json(satisfied=True, answer="second try"), 4))
    fake.script(stream_error_reply(good, 2, "The server had an error", type="server_error"), good)
    emit = Recorder()

    decision = await make_model().decide(make_request(emit=emit))

    assert decision.answer == "second try"
    assert len(fake.requests) == 2
    assert "".join(emit.pieces) == "second try"  # nothing duplicated


async def test_no_retry_once_answer_text_reached_the_client(fake, make_model):
    text = decision_json(satisfied=True, answer="This answer is cut off halfway through.")
    pieces = split(text, 4)
    broken_at = 1 + (text.index('"answer"') + 24) // 4
    reply = stream_error_reply(text_reply(pieces), broken_at, "server hiccup", type="server_error")
    fake.script(reply, text_reply(pieces))
    emit = Recorder()

    with pytest.raises(ModelError, match="not retried") as caught:
        await make_model().decide(make_request(emit=emit))

    assert type(caught.value) is ModelError
    assert len(fake.requests) == 1
    assert emit.pieces  # some of the answer went out, so a retry would have duplicated it


# -- configuration ---------------------------------------------------------------------------


async def test_azure_configuration_hits_the_deployment_url(fake, make_model):
    fake.script(text_reply([decision_json(satisfied=True, answer="from azure")]))
    model = make_model(
        "gpt-4o",
        azure_endpoint=fake.url,
        azure_deployment="prod-gpt4o",
        api_version="2024-10-21",
        api_key="azure-key-0123456789",
    )

    decision = await model.decide(make_request())

    assert decision.answer == "from azure"
    [sent] = fake.requests
    assert sent.path == "/openai/deployments/prod-gpt4o/chat/completions"
    assert sent.query == {"api-version": "2024-10-21"}
    assert sent.headers["api-key"] == "azure-key-0123456789"


async def test_local_server_needs_no_api_key(fake, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    fake.script(text_reply([decision_json(satisfied=True, answer="local")]))
    model = OpenAIModel("llama3.2", base_url=fake.base_url)
    try:
        decision = await model.decide(make_request())
    finally:
        await model.aclose()
    assert decision.answer == "local"


def test_missing_key_for_openai_itself_is_a_config_error(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError):
        OpenAIModel("gpt-test")


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="mode"):
        OpenAIModel("gpt-test", api_key="k", mode="xml")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not_an_option"):
        OpenAIModel("gpt-test", api_key="k", not_an_option=1)
    with pytest.raises(ConfigError, match="response_format"):
        OpenAIModel("gpt-test", api_key="k", response_format={"type": "text"})


def test_missing_sdk_is_a_config_error_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "openai", None)  # makes `import openai` fail
    with pytest.raises(ConfigError, match=r"pip install 'masai\[openai\]'"):
        OpenAIModel("gpt-test", api_key="k")


def test_importing_masai_does_not_import_provider_sdks():
    code = (
        "import sys\n"
        "sdks = lambda: sorted(m for m in ('openai', 'anthropic') if m in sys.modules)\n"
        "import masai, masai.models\n"
        "from masai.models import AnthropicModel, OpenAIModel\n"
        "print(sdks())\n"
        "OpenAIModel('gpt-test', api_key='sk-test')\n"
        "print(sdks())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.split("\n")[:2] == ["[]", "['openai']"], done.stderr


# -- the pieces underneath -------------------------------------------------------------------


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    policy = RetryPolicy()
    for retry, ceiling in enumerate([0.5, 1.0, 2.0, 4.0, 8.0, 8.0]):
        delays = [policy.delay(retry) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered
    assert policy.delay(0, retry_after=3.0) == 3.0
    assert policy.delay(0, retry_after=120.0) == 8.0  # a provider's wish is capped too


def test_redact_removes_keys():
    text = "bad key sk-proj-abc123DEF456 and sk-ant-api03-xyz789XYZ and mine: azure-secret-key"
    cleaned = redact(text, ["azure-secret-key"])
    assert "abc123" not in cleaned and "xyz789" not in cleaned and "azure-secret" not in cleaned
    assert cleaned.startswith("bad key [redacted]")


async def test_fake_server_also_answers_non_streaming_requests(fake):
    """The fake speaks both forms, so it can stand in for any SDK call."""
    fake.script(tool_reply([("search", ['{"q"', ': "x"}'])], content=["Looking."]))
    client = openai.AsyncOpenAI(api_key="sk-test", base_url=fake.base_url, max_retries=0)
    try:
        completion = await client.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "hi"}]
        )
    finally:
        await client.close()
    message = completion.choices[0].message
    assert message.content == "Looking."
    assert message.tool_calls is not None
    [call] = message.tool_calls
    assert call.function.name == "search"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"q": "x"}  # type: ignore[union-attr]
    assert completion.choices[0].finish_reason == "tool_calls"
    assert completion.usage is not None and completion.usage.total_tokens == 15
