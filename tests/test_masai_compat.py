"""MASAI programs run unchanged: each program in ``tests/compat/`` is written the way MASAI's
README and guides write theirs, and runs here as its own process against a local server that
speaks OpenAI's Chat Completions (scripted, offline), found through ``model_config.json`` as a
MASAI user writes it (comments, ``description`` keys, ``max_output_tokens``).

What each program prints is checked, and so is what reached the model (the context, the
callables' data), so a shim that imported but did nothing would fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .support.fake_openai import FakeOpenAI, running_fake_openai, text_reply
from .support.models import decision_json

PROGRAMS = Path(__file__).parent / "compat"

MODEL_CONFIG = """{
  // MASAI users comment their configs
  "description": "models for the compatibility programs",
  "all": {
    "description": "every agent",
    "router": {"model_name": "gpt-4o-mini", "category": "openai", "temperature": 0.3,
               "max_output_tokens": 512, "comment": "routes"},
    "evaluator": {"model_name": "gpt-4o-mini", "category": "openai", "temperature": 0.5},
    "reflector": {"model_name": "gpt-4o-mini", "category": "openai", "temperature": 0.7},
    "planner": {"model_name": "gpt-4o-mini", "category": "openai"}
  }
}
"""


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    with running_fake_openai() as running:
        yield running


@pytest.fixture
def fake(server: FakeOpenAI) -> FakeOpenAI:
    server.reset()
    return server


def say(**fields: Any) -> Any:
    return text_reply([decision_json(**fields)])


def supervise(**fields: Any) -> Any:
    full = {"reasoning": "", "satisfied": False, "delegate_to_agent": None, "agent_input": None}
    return text_reply([json.dumps({**full, "answer": None, **fields})])


def run_program(name: str, fake: FakeOpenAI, cwd: Path) -> list[str]:
    """Run ``tests/compat/<name>.py`` in ``cwd`` (which holds model_config.json) as MASAI users
    run theirs; its printed lines."""
    (cwd / "model_config.json").write_text(MODEL_CONFIG)
    env = {
        **os.environ,
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": "sk-compat-test",
        "PYTHONPATH": str(PROGRAMS),
    }
    env.pop("MASAI_MODEL_CONFIG", None)
    done = subprocess.run(
        [sys.executable, str(PROGRAMS / f"{name}.py")],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.splitlines()


def system_prompts(fake: FakeOpenAI) -> list[str]:
    return [r.body["messages"][0]["content"] for r in fake.requests]


def test_single_agent_quick_start(fake: FakeOpenAI, tmp_path: Path) -> None:
    fake.script(
        say(reasoning="I add.", tool="add", tool_input={"a": 2, "b": 3}),
        say(reasoning="Done.", satisfied=True, answer="2+3 is 5."),
        say(reasoning="A story.", satisfied=True, answer="Once upon a time."),
    )
    out = run_program("single_agent", fake, tmp_path)
    assert out[:4] == [
        "answer: 2+3 is 5.",
        "satisfied: True",
        "nodes: ['router', 'evaluator']",
        "current_node: evaluator",
    ]
    assert out[4:] == ["node: router tool: None answer: Once upon a time."]
    # The tool's result reached the evaluator; max_output_tokens reached the router's request.
    assert "5" in fake.requests[1].body["messages"][-1]["content"]
    first = fake.requests[0].body
    assert first.get("max_tokens", first.get("max_completion_tokens")) == 512
    assert not {"description", "comment"} & set(first)  # notes in the config stay there


def test_decentralized_team(fake: FakeOpenAI, tmp_path: Path) -> None:
    fake.script(
        say(reasoning="Writer should write.", delegate_to_agent="writer"),
        say(reasoning="Written.", satisfied=True, answer="AI trends: agents."),
        # second run, from a reset state: the researcher answers itself
        say(reasoning="Easy.", satisfied=True, answer="Complex task done."),
    )
    out = run_program("decentralized", fake, tmp_path)
    assert out[:7] == [
        "answer: AI trends: agents.",
        "last_agent: writer",
        "reasoning: Written.",
        "current_node: router",
        "messages: True",
        "state.last_agent: writer",
        "state.answers: ['AI trends: agents.']",
    ]
    assert out[7:] == [
        "Node: router Agent: researcher",
        "Answer: Complex task done.",
        "Node: router Agent: researcher",
        "Answer: Complex task done.",
    ]
    # The writer got the hand-off with the researcher's reasoning.
    handed = fake.requests[1].body["messages"][-1]["content"]
    assert "researcher" in handed and "Writer should write." in handed


def test_hierarchical_team(fake: FakeOpenAI, tmp_path: Path) -> None:
    fake.script(
        supervise(reasoning="Ask the analyst.", delegate_to_agent="analyst", agent_input="Q3?"),
        say(reasoning="Looked it up.", satisfied=True, answer="Q3 revenue was 12M."),
        supervise(reasoning="Good.", satisfied=True, answer="Q3 revenue: 12M."),
    )
    out = run_program("hierarchical", fake, tmp_path)
    assert out == [
        "callback: completed Q3 revenue: 12M.",
        "answer: Q3 revenue: 12M.",
        "task_id: True True",
        "original_query: What was Q3 revenue?",
    ]
    supervisor_system = system_prompts(fake)[0]
    assert "You coordinate the analysts of ACME." in supervisor_system
    assert "ACME" in supervisor_system.split("USEFUL INFO:")[1]


def test_tools_context_and_sessions(fake: FakeOpenAI, tmp_path: Path) -> None:
    fake.script(
        say(reasoning="Look it up.", tool="lookup_order", tool_input={"order_id": "42"}),
        say(reasoning="Found.", satisfied=True, answer="Order 42 has shipped."),
        say(reasoning="Refund.", tool="refund", tool_input={"order_id": "42"}),
        say(reasoning="Refunded.", satisfied=True, answer="Order 42 is refunded."),
    )
    out = run_program("tools_context", fake, tmp_path)
    assert out == [
        "answer: Order 42 has shipped.",
        "tool: lookup_order [lookup_order]",
        "order 42: shipped",
        "tools: ['lookup_order', 'refund']",
        "history: ['user', 'assistant']",
        "session_key: masai:session:u1:support",
        "answer: Order 42 is refunded.",
    ]
    prompts = system_prompts(fake)
    # The manager's context, the user-level callable's data, the router's own callable.
    assert "ACME shop" in prompts[0] and '"tier":"gold"' in prompts[0]
    assert "Prefer looking orders up" in prompts[0]
    assert "Prefer looking orders up" not in prompts[1]  # router only
    assert "free shipping" in prompts[2]  # update_context reached the agent
    # config_dict's router temperature beat temperature=0.1; the evaluator kept 0.1's layer.
    assert fake.requests[0].body["temperature"] == 0.0
    # The second question saw the first turn (restored session).
    assert any("Order 42 has shipped." in m["content"] for m in fake.requests[2].body["messages"])


def test_oman_routes_to_a_network(fake: FakeOpenAI, tmp_path: Path) -> None:
    fake.script(
        supervise(reasoning="Finance.", delegate_to_agent="Network_1", agent_input="Q3 revenue?"),
        say(reasoning="Known.", satisfied=True, answer="Q3 revenue was 12M."),
    )
    out = run_program("oman", fake, tmp_path)
    assert out == [
        "networks: ['Network_1', 'Network_2']",
        "answer: Q3 revenue was 12M.",
        "memory: ['Network_1']",
    ]
    assert "accountant" in system_prompts(fake)[0] and "helper" in system_prompts(fake)[0]


def test_persistent_memory(fake: FakeOpenAI, tmp_path: Path) -> None:
    fake.script(say(reasoning="Memory says Python.", satisfied=True, answer="You prefer Python."))
    out = run_program("persistent_memory", fake, tmp_path)
    assert out == [
        "answer: You prefer Python.",
        "recalled: True",
        "turn saved: True",
        "other user sees: 0",
    ]
    # What was recalled for the question reached the model, under its own heading.
    system = system_prompts(fake)[0]
    assert "LONG-TERM MEMORY" in system
    assert "User prefers Python for data work" in system.split("LONG-TERM MEMORY")[1]
