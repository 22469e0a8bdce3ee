"""DecisionStreamParser: the answer streams correctly however the JSON is split."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from masai.models import AnswerStream, Decision
from masai.models._partial_json import DecisionStreamParser

ANSWERS = [
    "plain",
    'quotes "inside" and back\\slash',
    "unicode: héllo wörld 你好 😀🎉 and \u2028 separators",
    "newlines\nand\ttabs\r\n",
    "",
]


async def run(document: str, seed: int) -> tuple[list[str], list[str], Decision, dict[str, Any]]:
    tokens: list[str] = []
    reasoning: list[str] = []

    async def on_token(text: str) -> None:
        tokens.append(text)

    async def on_reasoning(text: str) -> None:
        reasoning.append(text)

    stream = AnswerStream(on_token, on_reasoning)
    parser = DecisionStreamParser(stream)
    rng = random.Random(seed)
    i = 0
    while i < len(document):
        n = rng.randint(1, 9)
        await parser.feed(document[i : i + n])
        i += n
    await parser.close()
    decision = Decision.parse(parser.text)
    await stream.finish(decision)
    return tokens, reasoning, decision, parser.values


@pytest.mark.parametrize("answer", ANSWERS)
@pytest.mark.parametrize("ensure_ascii", [True, False])
async def test_final_answer_streams_exactly_under_any_split(
    answer: str, ensure_ascii: bool
) -> None:
    doc = json.dumps(
        {
            "reasoning": 'I "know"',
            "satisfied": True,
            "tool": None,
            "tool_input": None,
            "delegate_to_agent": None,
            "answer": answer,
        },
        ensure_ascii=ensure_ascii,
        indent=1,
    )
    for seed in range(60):
        tokens, reasoning, decision, values = await run(doc, seed)
        assert "".join(tokens) == answer
        assert reasoning == ['I "know"']
        assert decision.answer == (answer or None)
        assert values["satisfied"] is True
        if len(answer) > 20:
            assert len(tokens) > 1  # it streamed, it did not arrive in one piece


async def test_tokens_flow_before_the_json_is_complete() -> None:
    answer = "word " * 50
    doc = json.dumps({"reasoning": "r", "satisfied": True, "tool": None, "answer": answer})
    tokens: list[str] = []

    async def on_token(text: str) -> None:
        tokens.append(text)

    parser = DecisionStreamParser(AnswerStream(on_token))
    half = len(doc) // 2
    await parser.feed(doc[:half])
    assert tokens and answer.startswith("".join(tokens))


async def test_non_final_answers_are_not_streamed() -> None:
    doc = json.dumps(
        {
            "reasoning": "r",
            "satisfied": False,
            "tool": "search",
            "tool_input": '{"q": 1}',
            "answer": "premature",
        }
    )
    tokens, reasoning, decision, values = await run(doc, 1)
    assert tokens == [] and reasoning == ["r"]
    assert decision.tool == "search" and decision.tool_input == {"q": 1}
    assert values["tool"] == "search"


async def test_answer_before_routing_fields_is_held_then_released() -> None:
    # A model ignoring field order: the answer comes first, so it cannot stream live...
    doc = json.dumps({"answer": "late but right", "satisfied": True, "reasoning": "r"})
    tokens, *_ = await run(doc, 3)
    # ...but is released in full once the decision is known to be final.
    assert "".join(tokens) == "late but right"


async def test_nested_values_and_parallel_calls() -> None:
    doc = json.dumps(
        {
            "reasoning": "r}{",
            "satisfied": False,
            "tool_calls": [{"tool": "a", "tool_input": '{"x": "}]"}'}],
            "answer": None,
        }
    )
    tokens, _, decision, values = await run(doc, 5)
    assert tokens == []
    assert values["tool_calls"] == [{"tool": "a", "tool_input": '{"x": "}]"}'}]
    assert decision.calls[0].tool_input == {"x": "}]"}
