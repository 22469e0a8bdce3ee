"""MASAI's model_config.json: shape, notes, fallback, parameters, categories, keys, precedence.

Requests are captured with an ``httpx.MockTransport`` swapped into the SDK client the config
built (``client.copy(http_client=...)`` keeps its base URL and key), so nothing leaves the
process and the assertions are on what the provider would really receive.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from masai.exceptions import ConfigError
from masai.models import AnthropicModel, Decision, OpenAIModel
from masai.models._config import (
    CONFIG_ENV_VAR,
    GEMINI_BASE_URL,
    ModelConfig,
    model_from_config,
    resolve_config_path,
    split_config_dict,
)
from tests.support.models import decision_json, make_request

KEYS = (
    "GOOGLE_API_KEY",
    "GEMINI_API_KEY",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "CLAUDE_API_KEY",
    "GROQ_API_KEY",
    CONFIG_ENV_VAR,
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No real key or config path from the machine may change what these tests see."""
    for name in KEYS:
        monkeypatch.delenv(name, raising=False)


def write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


def _sse(answer: str) -> bytes:
    base = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "m"}
    frames = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": answer}}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {**base, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}},
    ]
    body = "".join(f"data: {json.dumps(f)}\n\n" for f in frames) + "data: [DONE]\n\n"
    return body.encode()


@pytest.fixture
async def capture() -> AsyncIterator[Callable[[OpenAIModel], list[httpx.Request]]]:
    """Route a built model's SDK client through a mock transport; return its requests."""
    clients: list[httpx.AsyncClient] = []

    def attach(model: OpenAIModel) -> list[httpx.Request]:
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            text = decision_json(satisfied=True, answer="ok")
            headers = {"content-type": "text/event-stream"}
            return httpx.Response(200, headers=headers, content=_sse(text))

        http_client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        clients.append(http_client)
        model.client = model.client.copy(http_client=http_client)
        return seen

    yield attach
    for client in clients:
        await client.aclose()


async def send(model: OpenAIModel, seen: list[httpx.Request]) -> dict[str, Any]:
    decision = await model.decide(make_request())
    assert decision == Decision(satisfied=True, answer="ok")
    assert len(seen) == 1
    body: dict[str, Any] = json.loads(seen[0].content)
    return body


LOCAL = {"model_name": "local-m", "category": "openai-compatible", "base_url": "http://x.test/v1"}


# -- shape: notes, fallback, case -------------------------------------------------------------


def test_notes_are_dropped_at_every_level_and_never_reach_the_model() -> None:
    config = ModelConfig.from_dict(
        {
            "description": "team models",
            "_comment": "top-level note",
            "//": "another",
            "all": {
                "comment": "section note",
                "notes": ["a", "b"],
                "router": {
                    **LOCAL,
                    "description": "fast router",
                    "_comment": "x",
                    "//": "y",
                    "notes": "z",
                    "temperature": 0.3,
                },
            },
        }
    )
    assert set(config.sections) == {"all"}
    assert config.entry("anyone", "router") == {**LOCAL, "temperature": 0.3}
    model = config.models_for("anyone", ["router"])["router"]
    assert isinstance(model, OpenAIModel)
    assert model.params == {}  # nothing left over to send as a request option
    assert model.temperature == 0.3


def test_json_comments_in_the_file_are_tolerated(tmp_path: Path) -> None:
    text = """{
      // MASAI's docs write comments like this
      "all": {"router": {"model_name": "m", /* inline */ "category": "ollama",
                          "stop_sequences": ["// not a comment"]}}
    }"""
    config = ModelConfig.load(write(tmp_path / "model_config.json", text))
    assert config is not None
    assert config.entry("a", "router") == {
        "model_name": "m",
        "category": "ollama",
        "stop_sequences": ["// not a comment"],
    }


def test_agent_section_wins_per_component_and_falls_back_to_all() -> None:
    config = ModelConfig.from_dict(
        {
            "all": {
                "router": {**LOCAL, "model_name": "all-router", "top_p": 0.9},
                "evaluator": {**LOCAL, "model_name": "all-evaluator"},
            },
            "Research_Agent": {"router": {**LOCAL, "model_name": "own-router"}},
        }
    )
    # The agent's own entry replaces "all"'s whole: top_p is not inherited.
    assert config.entry("research_agent", "router") == {**LOCAL, "model_name": "own-router"}
    assert config.entry("RESEARCH_AGENT", "Evaluator") == {**LOCAL, "model_name": "all-evaluator"}
    assert config.entry("other", "router") == {**LOCAL, "model_name": "all-router", "top_p": 0.9}
    assert config.entry("research_agent", "planner") is None
    models = config.models_for("Research_Agent", ["router", "evaluator"])
    assert {c: getattr(m, "name", None) for c, m in models.items()} == {
        "router": "own-router",
        "evaluator": "all-evaluator",
    }


def test_components_at_the_top_level_count_as_all() -> None:
    config = ModelConfig.from_dict({"router": LOCAL, "evaluator": LOCAL})
    assert config.entry("whoever", "evaluator") == LOCAL
    with pytest.raises(ConfigError, match="move them into 'all'"):
        ModelConfig.from_dict({"router": LOCAL, "all": {"router": LOCAL}})


def test_missing_component_error_names_file_agent_and_component(tmp_path: Path) -> None:
    path = write(tmp_path / "m.json", {"all": {"router": LOCAL}})
    config = ModelConfig.load(path)
    assert config is not None and config.path == path
    with pytest.raises(ConfigError) as info:
        config.models_for("writer", ["router", "planner"])
    message = str(info.value)
    assert str(path) in message and "'writer'" in message and "'planner'" in message


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ("{not json", "is not valid JSON"),
        ('{"all": {"router": {"model_name": "m",}}}', "is not valid JSON"),
        ([1, 2], "top level must be a JSON object"),
        ({"all": [LOCAL]}, "section 'all': a section must be an object"),
        ({"all": {"router": "gpt-4o"}}, "'router' is not a component object"),
        ({"all": {"router": {"model_name": 5}}}, "'model_name' must be a non-empty string"),
        ({"all": {"router": LOCAL}, "ALL": {"router": LOCAL}}, "appears twice"),
    ],
)
def test_bad_files_fail_naming_the_file(tmp_path: Path, data: Any, fragment: str) -> None:
    path = write(tmp_path / "bad.json", data)
    with pytest.raises(ConfigError, match=fragment) as info:
        ModelConfig.load(path)
    assert str(path) in str(info.value)


def test_invalid_json_error_gives_the_line(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.json", '{\n  "all": {\n    "router": oops\n  }\n}')
    with pytest.raises(ConfigError, match=r"line 3"):
        ModelConfig.load(path)


# -- where the file is --------------------------------------------------------------------


def test_resolve_config_path_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_config_path(None) is None
    assert ModelConfig.load() is None

    local = write(tmp_path / "model_config.json", {"all": {"router": LOCAL}})
    assert resolve_config_path(None) == local

    from_env = write(tmp_path / "env.json", {"all": {"router": LOCAL}})
    monkeypatch.setenv(CONFIG_ENV_VAR, str(from_env))
    assert resolve_config_path(None) == from_env

    explicit = write(tmp_path / "explicit.json", {"all": {"router": LOCAL}})
    assert resolve_config_path(explicit) == explicit
    assert resolve_config_path(str(explicit)) == explicit
    loaded = ModelConfig.load(explicit)
    assert loaded is not None and loaded.path == explicit


def test_named_but_missing_files_are_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "model_config.json", {"all": {"router": LOCAL}})
    with pytest.raises(ConfigError, match=r"not found: .*nope\.json"):
        resolve_config_path(tmp_path / "nope.json")
    monkeypatch.setenv(CONFIG_ENV_VAR, str(tmp_path / "gone.json"))
    with pytest.raises(ConfigError, match=f"gone.json.*{CONFIG_ENV_VAR}"):
        ModelConfig.load()


# -- parameters reach the request ------------------------------------------------------------


async def test_max_output_tokens_and_params_reach_a_compatible_server(capture) -> None:
    model = model_from_config(
        {
            **LOCAL,
            "max_output_tokens": 321,
            "temperature": 0.25,
            "top_p": 0.8,
            "stop_sequences": ["END"],
            "seed": 7,
            "num_logprobs": 2,
        }
    )
    assert isinstance(model, OpenAIModel) and model.max_tokens == 321
    body = await send(model, capture(model))
    assert body["max_tokens"] == 321 and "max_completion_tokens" not in body
    assert body["temperature"] == 0.25 and body["top_p"] == 0.8 and body["seed"] == 7
    assert body["stop"] == ["END"]
    assert body["logprobs"] is True and body["top_logprobs"] == 2  # enabled for num_logprobs


async def test_openai_gets_max_completion_tokens_and_its_key(capture, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-test")
    model = model_from_config({"model_name": "gpt-4o", "category": "openai", "max_tokens": 99})
    seen = capture(model)
    body = await send(model, seen)
    assert str(seen[0].url) == "https://api.openai.com/v1/chat/completions"
    assert seen[0].headers["authorization"] == "Bearer sk-openai-test"
    assert body["max_completion_tokens"] == 99 and "max_tokens" not in body


async def test_openai_reasoning_model_gets_effort_not_temperature(capture, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-test")
    model = model_from_config(
        {"model_name": "gpt-5-mini", "category": "openai"} | {"temperature": 0.2}
    )
    body = await send(model, capture(model))
    assert "temperature" not in body and body["reasoning_effort"] == "low"


def test_anthropic_maps_max_output_tokens_and_drops_what_claude_lacks(monkeypatch, caplog) -> None:
    monkeypatch.setenv("CLAUDE_API_KEY", "sk-ant-claude")  # MASAI's second spelling
    entry = {
        "model_name": "claude-3-5-sonnet",
        "category": "anthropic",
        "max_output_tokens": 2048,
        "temperature": 0.3,
        "top_k": 40,
        "top_p": 0.9,
        "stop_sequences": ["END"],
        "seed": 1,
        "reasoning_effort": "high",
    }
    with caplog.at_level(logging.WARNING, logger="masai.models._config"):
        model = model_from_config(entry)
    assert isinstance(model, AnthropicModel)
    assert model.max_tokens == 2048 and model.temperature == 0.3
    assert model.client.api_key == "sk-ant-claude"
    assert model.params == {"stop_sequences": ["END"], "extra_body": {"top_k": 40, "top_p": 0.9}}
    assert "seed" in caplog.text and "reasoning_effort" in caplog.text


def test_other_providers_params_are_dropped_with_a_warning(caplog) -> None:
    entry = {**LOCAL, "top_k": 40, "thinking_budget": -1, "safety_settings": [], "effort": "x"}
    with caplog.at_level(logging.WARNING, logger="masai.models._config"):
        model = model_from_config(entry)
    assert isinstance(model, OpenAIModel) and model.params == {}
    for key in ("top_k", "thinking_budget", "safety_settings", "effort"):
        assert key in caplog.text


def test_unknown_param_is_a_config_error_naming_key_file_agent_component(tmp_path) -> None:
    path = write(tmp_path / "m.json", {"all": {"router": {**LOCAL, "temprature": 0.2}}})
    config = ModelConfig.load(path)
    assert config is not None  # loading is fine; building the model checks parameters
    with pytest.raises(ConfigError) as info:
        config.models_for("writer", ["router"])
    message = str(info.value)
    for part in ("temprature", str(path), "'writer'", "'router'"):
        assert part in message


def test_rejects_params_drops_the_named_parameters() -> None:
    model = model_from_config(
        {**LOCAL, "temperature": 0.5, "max_tokens": 10, "rejects_params": ["temperature"]}
    )
    assert isinstance(model, OpenAIModel)
    assert model.temperature is None and model.max_tokens == 10


def test_conflicting_spellings_in_one_entry_are_an_error() -> None:
    with pytest.raises(ConfigError, match="'max_tokens' and 'max_output_tokens'"):
        model_from_config({**LOCAL, "max_tokens": 1, "max_output_tokens": 2})


# -- categories and keys -------------------------------------------------------------------


async def test_gemini_goes_to_googles_openai_endpoint_with_google_api_key(
    capture, monkeypatch, caplog
) -> None:
    monkeypatch.setenv("GOOGLE_API_KEY", "g-key-123")
    entry = {
        "model_name": "gemini-2.5-flash",
        "category": "gemini",
        "temperature": 0.2,
        "max_output_tokens": 1024,
        "thinking_budget": 512,
        "top_k": 40,
    }
    with caplog.at_level(logging.WARNING, logger="masai.models._config"):
        model = model_from_config(entry)
    assert isinstance(model, OpenAIModel)
    seen = capture(model)
    body = await send(model, seen)
    assert str(seen[0].url) == GEMINI_BASE_URL + "chat/completions"
    assert seen[0].headers["authorization"] == "Bearer g-key-123"
    assert body["model"] == "gemini-2.5-flash"
    assert body["max_tokens"] == 1024 and body["temperature"] == 0.2
    assert body["extra_body"] == {"google": {"thinking_config": {"thinking_budget": 512}}}
    assert "top_k" not in body and "top_k" in caplog.text


def test_gemini_accepts_gemini_api_key_and_google_alias(monkeypatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "g-other")
    model = model_from_config({"model_name": "gemini-2.5-pro", "category": "google"})
    assert isinstance(model, OpenAIModel)
    assert model.client.api_key == "g-other"
    assert str(model.client.base_url) == GEMINI_BASE_URL


def test_missing_key_is_an_error_at_build_time_naming_the_variable(tmp_path) -> None:
    path = write(
        tmp_path / "m.json",
        {"all": {"router": {"model_name": "gemini-2.5-flash", "category": "gemini"}}},
    )
    config = ModelConfig.load(path)  # no key needed to read the file
    assert config is not None
    with pytest.raises(ConfigError) as info:
        config.models_for("scout", ["router"])
    message = str(info.value)
    for part in ("GOOGLE_API_KEY", "GEMINI_API_KEY", str(path), "'scout'", "'router'"):
        assert part in message
    with pytest.raises(ConfigError, match="GROQ_API_KEY"):
        model_from_config({"model_name": "llama-3.3-70b", "category": "groq"})


def test_local_servers_get_their_url_and_never_the_openai_key(monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak")
    model = model_from_config({"model_name": "llama3.2", "category": "ollama"})
    assert isinstance(model, OpenAIModel)
    assert str(model.client.base_url) == "http://localhost:11434/v1/"
    assert model.client.api_key == "not-needed"


def test_hosted_compatible_provider_and_category_inference(monkeypatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk-1")
    model = model_from_config({"model_name": "llama-3.3-70b", "category": "Groq"})
    assert isinstance(model, OpenAIModel)
    assert str(model.client.base_url) == "https://api.groq.com/openai/v1/"
    assert model.client.api_key == "gsk-1"
    monkeypatch.setenv("GOOGLE_API_KEY", "g")
    inferred = model_from_config({"model_name": "gemini-2.5-flash"})  # CONFIGURATION.md style
    assert isinstance(inferred, OpenAIModel)
    assert str(inferred.client.base_url) == GEMINI_BASE_URL


@pytest.mark.parametrize(
    ("category", "fragment"),
    [
        ("vertex-ai", "short-lived Google Cloud tokens"),
        ("cohere-ish", "unsupported model category"),
    ],
)
def test_unsupported_categories_say_why(category: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        model_from_config({"model_name": "m", "category": category})


# -- precedence -----------------------------------------------------------------------------


async def test_config_dict_beats_json_beats_create_agent_kwargs(capture) -> None:
    config = ModelConfig.from_dict(
        {
            "all": {
                "router": {**LOCAL, "temperature": 0.5, "max_tokens": 20},
                "evaluator": {**LOCAL, "temperature": 0.6},
            }
        }
    )
    overrides, options = split_config_dict(
        {"router_temperature": 0.1, "router_memory_order": 4, "evaluator_long_context_order": 9}
    )
    assert options == {"router": {"memory_order": 4}, "evaluator": {"long_context_order": 9}}
    base = {"temperature": 0.9, "max_output_tokens": 10, "top_p": 0.5, "memory_order": 3}
    models = config.models_for("a", ["router", "evaluator"], overrides, base)
    router, evaluator = models["router"], models["evaluator"]
    assert isinstance(router, OpenAIModel) and isinstance(evaluator, OpenAIModel)
    assert (router.temperature, router.max_tokens) == (0.1, 20)  # config_dict, then the file
    assert (evaluator.temperature, evaluator.max_tokens) == (0.6, 10)  # file, then kwargs
    body = await send(router, capture(router))
    assert body["temperature"] == 0.1 and body["max_tokens"] == 20 and body["top_p"] == 0.5
    assert "memory_order" not in body


def test_split_config_dict_forms_and_typos() -> None:
    params, options = split_config_dict(
        {
            "router_max_output_tokens": 512,
            "Planner_reasoning_effort": "high",
            "reflector_streaming": True,
            "evaluator": {"temperature": 0.3, "memory_order": 2},
        }
    )
    assert params == {
        "router": {"max_output_tokens": 512},
        "planner": {"reasoning_effort": "high"},
        "evaluator": {"temperature": 0.3},
    }
    assert options == {"reflector": {"streaming": True}, "evaluator": {"memory_order": 2}}
    assert split_config_dict(None) == ({}, {})
    with pytest.raises(ConfigError, match="'routr_temperature' names no component"):
        split_config_dict({"routr_temperature": 0.1})


def test_agent_options_in_the_file_are_returned_not_sent() -> None:
    config = ModelConfig.from_dict({"all": {"router": {**LOCAL, "memory_order": 7}}})
    assert config.agent_options("x", "router") == {"memory_order": 7}
    model = config.models_for("x", ["router"])["router"]
    assert isinstance(model, OpenAIModel) and model.params == {}


def test_config_dict_spelling_overrides_the_files_spelling() -> None:
    config = ModelConfig.from_dict({"all": {"router": {**LOCAL, "max_output_tokens": 100}}})
    params = config.params_for("x", "router", {"max_tokens": 5})
    assert params["max_output_tokens"] == 5 and "max_tokens" not in params
