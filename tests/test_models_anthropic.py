"""AnthropicModel against a local server speaking the Messages API, through the real SDK."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anthropic
import pytest

from masai.exceptions import ConfigError, ModelError, ModelOutputError
from masai.models import AnthropicModel, Decision, Message
from masai.models._retry import RetryPolicy
from tests.support.fake_anthropic import (
    FakeAnthropic,
    error_reply,
    running_fake_anthropic,
    stream_error_reply,
    text_only_reply,
    tool_use_reply,
)
from tests.support.fake_openai import split
from tests.support.models import (
    ANSWER,
    FAST,
    SEARCH,
    Recorder,
    decision_json,
    make_request,
    wait_until,
)

KEY = "sk-ant-test-0123456789abcdef"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeAnthropic]:
    with running_fake_anthropic() as running:
        yield running


@pytest.fixture
def fake(server: FakeAnthropic) -> FakeAnthropic:
    server.reset()
    return server


@pytest.fixture
async def make_model(fake: FakeAnthropic) -> AsyncIterator[Callable[..., AnthropicModel]]:
    """Models pointed at the fake server, fast backoff, closed after the test."""
    made: list[AnthropicModel] = []

    def make(name: str = "claude-test", **kwargs: Any) -> AnthropicModel:
        kwargs.setdefault("base_url", fake.url)
        kwargs.setdefault("api_key", KEY)
        model = AnthropicModel(name, **kwargs)
        model.retry = RetryPolicy(model.retry.max_retries, FAST.base_delay, FAST.max_delay)
        made.append(model)
        return model

    yield make
    for model in made:
        await model.aclose()


def _delta_index(text: str, size: int, offset: int) -> int:
    """Index, among a tool_use reply's events, of the delta holding ``text[offset]``."""
    return 1 + offset // size  # after content_block_start


async def test_decision_streams_answer_live(fake, make_model):
    text = decision_json(reasoning="Easy.", satisfied=True, answer=ANSWER)
    gate = threading.Event()
    at = _delta_index(text, 3, text.index('"answer"') + 25)
    fake.script(tool_use_reply("decide", split(text, 3), gate=gate, gate_at=at))
    emit = Recorder()
    request = make_request(emit=emit)

    task = asyncio.create_task(make_model().decide(request))
    try:
        await wait_until(lambda: len(emit.pieces) >= 2)
        assert not task.done()
        assert ANSWER.startswith("".join(emit.pieces))
    finally:
        gate.set()
    decision = await task

    assert decision == Decision(reasoning="Easy.", satisfied=True, answer=ANSWER)
    assert len(emit.pieces) >= 5
    assert "".join(emit.pieces) == ANSWER


async def test_tool_decision(fake, make_model):
    text = decision_json(
        reasoning="Need facts.", tool="search", tool_input='{"q": "tides"}', answer=None
    )
    fake.script(tool_use_reply("decide", split(text, 5)))
    emit = Recorder()

    decision = await make_model().decide(make_request(emit=emit, tools=[SEARCH]))

    assert decision == Decision(reasoning="Need facts.", tool="search", tool_input={"q": "tides"})
    assert emit.pieces == []


async def test_usage_from_message_start_and_message_delta(fake, make_model):
    text = decision_json(satisfied=True, answer="hi")
    fake.script(
        tool_use_reply(
            "decide", [text], input_tokens=30, cache_read_input_tokens=5, output_tokens=42
        )
    )
    request = make_request()

    await make_model().decide(request)

    assert (request.usage.input_tokens, request.usage.output_tokens) == (35, 42)


async def test_request_shape_system_prompt_and_role_merging(fake, make_model):
    fake.script(tool_use_reply("decide", [decision_json(satisfied=True, answer="ok")]))
    messages = [
        Message("system", "You are a test."),
        Message("assistant", "Earlier reply."),
        Message("user", "First."),
        Message("user", "Second."),
        Message("system", "Be brief."),
        Message("assistant", "A1"),
        Message("assistant", "A2"),
        Message("user", "Now?"),
    ]
    request = make_request(messages=messages, tools=[SEARCH], delegates=["writer"])

    await make_model(max_tokens=512, temperature=0.3).decide(request)

    [sent] = fake.requests
    body = sent.body
    assert body["system"] == "You are a test.\n\nBe brief."
    assert body["messages"] == [
        {"role": "user", "content": "Continue."},
        {"role": "assistant", "content": "Earlier reply."},
        {"role": "user", "content": "First.\n\nSecond."},
        {"role": "assistant", "content": "A1\n\nA2"},
        {"role": "user", "content": "Now?"},
    ]
    assert body["tools"] == [
        {
            "name": "decide",
            "description": body["tools"][0]["description"],
            "input_schema": request.output_schema,
        }
    ]
    assert body["tool_choice"] == {"type": "tool", "name": "decide"}
    assert body["stream"] is True
    assert body["max_tokens"] == 512
    assert body["temperature"] == 0.3
    assert body["model"] == "claude-test"
    assert sent.path == "/v1/messages"
    assert "anthropic-version" in sent.headers
    # The key goes as x-api-key or, in newer SDKs, as a bearer token.
    assert KEY in (sent.headers.get("x-api-key"), sent.headers.get("authorization", "")[7:])


async def test_text_block_before_the_tool_is_not_mistaken_for_the_decision(fake, make_model):
    text = decision_json(satisfied=True, answer="from the tool")
    fake.script(tool_use_reply("decide", split(text, 6), text=['{"answer": ', '"from text"}']))

    decision = await make_model().decide(make_request())

    assert decision.answer == "from the tool"


async def test_overloaded_then_success(fake, make_model, caplog):
    fake.script(
        error_reply(529, "overloaded_error", "Overloaded"),
        tool_use_reply("decide", [decision_json(satisfied=True, answer="second")]),
    )

    with caplog.at_level(logging.WARNING, logger="masai.models"):
        decision = await make_model().decide(make_request())

    assert decision.answer == "second"
    assert len(fake.requests) == 2
    [record] = [r for r in caplog.records if r.name == "masai.models"]
    assert "529" in record.getMessage() and "overloaded_error" in record.getMessage()


async def test_rate_limit_honours_retry_after(fake, make_model):
    fake.script(
        error_reply(429, "rate_limit_error", "Slow down", headers={"retry-after": "0.05"}),
        tool_use_reply("decide", [decision_json(satisfied=True, answer="ok")]),
    )
    model = make_model()
    model.retry = RetryPolicy(max_retries=1, base_delay=30.0, max_delay=60.0)  # header must win

    loop = asyncio.get_running_loop()
    started = loop.time()
    decision = await model.decide(make_request())

    assert decision.answer == "ok"
    assert 0.045 <= loop.time() - started < 5
    assert len(fake.requests) == 2


async def test_bad_request_is_not_retried(fake, make_model):
    fake.script(error_reply(400, "invalid_request_error", "messages: roles must alternate"))

    with pytest.raises(ModelError) as caught:
        await make_model().decide(make_request())

    assert type(caught.value) is ModelError
    assert len(fake.requests) == 1
    message = str(caught.value)
    assert "400" in message and "invalid_request_error" in message
    assert "roles must alternate" in message
    assert KEY not in message
    assert isinstance(caught.value.__cause__, anthropic.BadRequestError)


async def test_persistent_overload_gives_up_after_max_retries(fake, make_model):
    fake.script(*[error_reply(529, "overloaded_error", "Overloaded")] * 3)

    with pytest.raises(ModelError, match="529"):
        await make_model(max_retries=2).decide(make_request())

    assert len(fake.requests) == 3


async def test_connection_dropped_mid_stream_before_answer_is_retried(fake, make_model):
    good = tool_use_reply("decide", split(decision_json(satisfied=True, answer="back"), 4))
    fake.script(dataclasses.replace(good, drop_at=3), good)

    decision = await make_model().decide(make_request())

    assert decision.answer == "back"
    assert len(fake.requests) == 2


async def test_error_event_in_stream_before_answer_is_retried(fake, make_model):
    good = tool_use_reply("decide", split(decision_json(satisfied=True, answer="again"), 4))
    fake.script(stream_error_reply(good, 2, "overloaded_error", "Overloaded"), good)
    emit = Recorder()

    decision = await make_model().decide(make_request(emit=emit))

    assert decision.answer == "again"
    assert len(fake.requests) == 2
    assert "".join(emit.pieces) == "again"


async def test_error_event_after_answer_text_is_not_retried(fake, make_model):
    text = decision_json(satisfied=True, answer="A long answer that breaks off in the middle.")
    at = _delta_index(text, 4, text.index('"answer"') + 24)
    good = tool_use_reply("decide", split(text, 4))
    fake.script(stream_error_reply(good, at, "overloaded_error", "Overloaded"), good)
    emit = Recorder()

    with pytest.raises(ModelError, match="not retried"):
        await make_model().decide(make_request(emit=emit))

    assert len(fake.requests) == 1
    assert emit.pieces


async def test_reply_without_the_decide_tool_is_a_model_output_error(fake, make_model):
    fake.script(text_only_reply(["I think ", "the answer is 4."]))

    with pytest.raises(ModelOutputError, match="decide"):
        await make_model().decide(make_request())

    assert len(fake.requests) == 1


async def test_decision_cut_off_at_max_tokens(fake, make_model):
    fake.script(tool_use_reply("decide", ['{"reasoning": "lo', "ng"], stop_reason="max_tokens"))

    with pytest.raises(ModelOutputError, match="max_tokens"):
        await make_model().decide(make_request())


def test_missing_sdk_is_a_config_error_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "anthropic", None)  # makes `import anthropic` fail
    with pytest.raises(ConfigError, match=r"pip install 'masai\[anthropic\]'"):
        AnthropicModel("claude-test", api_key=KEY)


def test_unknown_option_is_a_config_error():
    with pytest.raises(ConfigError, match="top_q"):
        AnthropicModel("claude-test", api_key=KEY, top_q=0.5)
