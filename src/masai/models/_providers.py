"""Parameters and providers: how one ``{"model_name", "category", ...}`` entry becomes a masai
``Model`` (see ``_config`` for the file around it).

----------
MASAI's standard names are translated for each provider (MODEL_PARAMETERS.md):
``max_output_tokens`` (also ``max_tokens``/``max_completion_tokens``) becomes the adapters'
``max_tokens``; ``temperature`` their ``temperature``; ``stop_sequences`` (or ``stop``),
``enable_logprobs``/``num_logprobs`` and the shared ``top_p``, ``presence_penalty``,
``frequency_penalty``, ``seed`` go where each API wants them. Parameters MASAI declares as
another provider's own (``top_k`` and ``thinking_budget`` on OpenAI, ``reasoning_effort`` on
Claude, ...) are dropped with a warning, as MASAI does; so are those a provider has no field
for (Claude's penalties, Gemini's ``safety_settings`` on its OpenAI-compatible endpoint).
``rejects_params: [...]`` in an entry drops the named parameters for a model that refuses them.
OpenAI reasoning models (``gpt-5*``, ``o1*``, ``o3*``, ``o4*``) get ``reasoning_effort`` derived
from ``temperature`` instead of a temperature they would refuse.

Agent options that MASAI lets these files and ``config_dict`` carry (``memory_order``,
``long_context_order``, ``streaming``...; see :data:`AGENT_OPTIONS`) are not model parameters:
:func:`split_config_dict` and :meth:`ModelConfig.agent_options` hand them back separately, and
model building ignores them. Adapter settings (``base_url``, ``api_key``, ``api_key_env``,
``mode``, ``timeout``, ``max_retries``, ``extra_body``...) pass to the adapter.

**Unknown parameters** pass through to the provider SDK, as MASAI documents ("passed through
for forward compatibility"), but our adapters check them against the SDK's request signature
when the model is built: a key the SDK does not take is a :class:`~masai.exceptions.ConfigError`

Categories: see :data:`PROVIDERS`. A missing API key is a ConfigError naming the environment
variable, raised when the model is built (never at import or load time).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from ..exceptions import ConfigError
from ._base import Model

__all__ = (
    "AGENT_OPTIONS",
    "GEMINI_BASE_URL",
    "OPENAI_COMPATIBLE",
    "PROVIDERS",
    "Provider",
    "canonical",
    "is_note",
    "model_from_config",
    "without_notes",
)

logger = logging.getLogger("masai.models._config")

GEMINI_BASE_URL = "https://generativelanguage.googleapis.com/v1beta/openai/"

_NOTE_KEYS = frozenset({"description", "comment", "comments", "note", "notes", "//", "#"})
_NOTE_PREFIXES = ("_", "//", "/*", "*/", "#")

#: Per-component agent options MASAI accepts in ``config_dict`` and in the JSON entries. They
#: configure the agent's memory and streaming, not the model, so they never reach a provider.
AGENT_OPTIONS = frozenset(
    {
        "memory_order",
        "long_context_order",
        "long_context",
        "long_context_model",
        "shared_memory_order",
        "shared_long_context_order",
        "retain_messages_order",
        "streaming",
        "streaming_callback",
        "persist_memory",
        "context_callable",
        "callable_config",
    }
)
#: MASAI-internal settings that may sit in an entry or in ``base``: silently not sent.
_INTERNAL = frozenset(
    {
        "memory_store",
        "k",
        "content_capping_limit",
        "tool_output_similarity_threshold",
        "tool_registry",
        "character_factor",
        "max_tool_loop",
        "max_reflection_count",
        "max_recursion_limit",
        "max_total_tool_calls",
        "run_timeout_seconds",
        "user_id",
        "memory_config",
        "backend_config",
        "qdrant_config",
        "long_term_memory",
        "categories_resolver",
        "extra_context",
        "chat_log",
        "logging",
        "verbose",
        "embedding_model",
        "memory",
    }
)
#: Other spellings of MASAI's standard names, folded before layers are merged so that, say,
#: ``config_dict``'s ``router_max_tokens`` overrides the file's ``max_output_tokens``.
_ALIASES = {
    "max_tokens": "max_output_tokens",
    "max_completion_tokens": "max_output_tokens",
    "stop": "stop_sequences",
}
#: Parameters MASAI declares as one provider family's own; the others drop them.
_OWNED = {
    "gemini": frozenset(
        {
            "top_k",
            "safety_settings",
            "thinking_budget",
            "max_thinking_tokens",
            "min_thinking_tokens",
            "candidate_count",
        }
    ),
    "openai": frozenset({"reasoning_effort", "response_format", "logit_bias"}),
    "anthropic": frozenset(
        {"thinking", "effort", "output_config", "betas", "speed", "fallbacks", "task_budget"}
    ),
}
#: Claude takes ``top_k`` (MASAI's table gives it to Gemini only, but its docs use it on Claude).
_SHARED_WITH = {"anthropic": frozenset({"top_k"})}
_OPENAI_REASONING = ("gpt-5", "o1", "o3", "o4")


@dataclasses.dataclass(frozen=True)
class Provider:
    """How one ``category`` is served: by which adapter, at which URL, with which key.

    ``key_env`` lists the variables tried in order; an empty tuple means the server needs no
    key. ``family`` picks the parameter rules (``openai``, ``gemini`` or ``anthropic``).
    """

    adapter: str
    base_url: str | None
    key_env: tuple[str, ...]
    family: str = "openai"


def _compatible(base_url: str | None, *key_env: str) -> Provider:
    return Provider("openai", base_url, tuple(key_env))


#: Category -> provider. MASAI itself knows ``openai``, ``gemini`` and ``anthropic``; the others
#: are OpenAI-compatible services (hosted ones need their key, local ones none).
PROVIDERS: Mapping[str, Provider] = MappingProxyType(
    {
        "openai": _compatible(None, "OPENAI_API_KEY"),
        "openai-compatible": _compatible(None),
        "azure": _compatible(None),  # the SDK reads AZURE_OPENAI_API_KEY / _ENDPOINT itself
        "gemini": Provider(
            "openai", GEMINI_BASE_URL, ("GOOGLE_API_KEY", "GEMINI_API_KEY"), "gemini"
        ),
        "anthropic": Provider(
            "anthropic", None, ("ANTHROPIC_API_KEY", "CLAUDE_API_KEY"), "anthropic"
        ),
        "groq": _compatible("https://api.groq.com/openai/v1", "GROQ_API_KEY"),
        "together": _compatible("https://api.together.xyz/v1", "TOGETHER_API_KEY"),
        "deepseek": _compatible("https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"),
        "openrouter": _compatible("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
        "mistral": _compatible("https://api.mistral.ai/v1", "MISTRAL_API_KEY"),
        "huggingface": _compatible(
            "https://router.huggingface.co/v1", "HF_TOKEN", "HUGGINGFACEHUB_API_TOKEN"
        ),
        "ollama": _compatible("http://localhost:11434/v1"),
        "vllm": _compatible("http://localhost:8000/v1"),
        "llamacpp": _compatible("http://localhost:8080/v1"),
        "lmstudio": _compatible("http://localhost:1234/v1"),
    }
)
#: Categories served by the OpenAI-compatible adapter.
OPENAI_COMPATIBLE = frozenset(name for name, p in PROVIDERS.items() if p.adapter == "openai")
_CATEGORY_ALIASES = {
    "google": "gemini",
    "claude": "anthropic",
    "hf": "huggingface",
    "llama.cpp": "llamacpp",
    "lm-studio": "lmstudio",
    "openai_compatible": "openai-compatible",
}
#: Substring matching, as MASAI does (``"openai-compatible"`` -> ``openai``); order matters.
_CATEGORY_SEARCH = (
    "azure",
    "gemini",
    "google",
    "anthropic",
    "claude",
    *(name for name in PROVIDERS if name not in {"openai", "azure", "gemini", "anthropic"}),
    "openai",
)
#: Categories where the OpenAI SDK may use OPENAI_API_KEY from the environment.
_OPENAI_KEYED = frozenset({"openai", "openai-compatible", "azure"})
_UNSUPPORTED = {
    "vertex": "Vertex AI authenticates with short-lived Google Cloud tokens, not an API key; "
    "use category 'gemini' with GOOGLE_API_KEY, or 'openai-compatible' with your Vertex "
    "base_url and a token as api_key",
    "bedrock": "Bedrock needs AWS request signing, which no OpenAI-compatible client does; "
    "put an OpenAI-compatible gateway in front of it and use 'openai-compatible' with base_url",
}


def is_note(key: str) -> bool:
    lowered = key.strip().lower()
    return lowered in _NOTE_KEYS or lowered.startswith(_NOTE_PREFIXES)


def without_notes(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if not (isinstance(k, str) and is_note(k))}


def canonical(params: Mapping[str, Any], where: str) -> dict[str, Any]:
    """One layer's parameters with notes dropped and alternative spellings folded."""
    out: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for key, value in without_notes(params).items():
        name = _ALIASES.get(key, key)
        if name in out and out[name] != value:
            raise ConfigError(
                f"{where}: {origin[name]!r} and {key!r} both set {name!r}; keep one "
                f"(MASAI's name is {name!r})"
            )
        out[name] = value
        origin[name] = key
    return out


# --------------------------------------------------------------------------- building models


def _provider(category: str, where: str) -> tuple[str, Provider]:
    lowered = category.strip().lower()
    name = _CATEGORY_ALIASES.get(lowered, lowered)
    if name not in PROVIDERS:
        for reason_key, reason in _UNSUPPORTED.items():
            if reason_key in lowered:
                raise ConfigError(f"{where}: category {category!r} is not supported: {reason}")
        found = next((c for c in _CATEGORY_SEARCH if c in lowered), None)
        if found is None:
            raise ConfigError(
                f"{where}: unsupported model category {category!r}; use one of "
                f"{', '.join(sorted(PROVIDERS))} (any OpenAI-compatible server: "
                "'openai-compatible' with base_url)"
            )
        name = _CATEGORY_ALIASES.get(found, found)
    return name, PROVIDERS[name]


def _infer_category(model_name: str, where: str) -> str:
    lowered = model_name.lower()
    if lowered.startswith("gemini"):
        return "gemini"
    if lowered.startswith("claude"):
        return "anthropic"
    if lowered.startswith(("gpt-", "chatgpt", *_OPENAI_REASONING)):
        return "openai"
    raise ConfigError(f"{where}: model {model_name!r} needs a 'category' (e.g. 'openai')")


def _drop(params: dict[str, Any], keys: set[str] | frozenset[str], why: str, where: str) -> None:
    if dropped := sorted(keys & set(params)):
        for key in dropped:
            del params[key]
        logger.warning("%s: ignoring %s: %s", where, ", ".join(dropped), why)


def _credentials(
    category: str, provider: Provider, params: dict[str, Any], where: str
) -> dict[str, Any]:
    """``api_key`` and ``base_url`` for the adapter. A hosted service's key is required (and
    looked up now, not at import) unless the entry points ``base_url`` elsewhere."""
    out: dict[str, Any] = {}
    base_url = params.pop("base_url", None)
    api_key = params.pop("api_key", None)
    if key_var := params.pop("api_key_env", None):
        api_key = os.environ.get(str(key_var))
        if not api_key:
            raise ConfigError(f"{where}: environment variable {key_var} (api_key_env) is not set")
    if api_key is None:
        api_key = next((os.environ[v] for v in provider.key_env if os.environ.get(v)), None)
    if api_key is None and provider.key_env and base_url is None:
        names = " or ".join(provider.key_env)
        raise ConfigError(f"{where}: category {category!r} needs an API key: set {names}")
    if api_key is None and category not in _OPENAI_KEYED:
        api_key = "not-needed"  # keyless server: never let the SDK send it OPENAI_API_KEY
    if api_key is not None:
        out["api_key"] = str(api_key)
    if base_url is not None or provider.base_url is not None:
        out["base_url"] = base_url if base_url is not None else provider.base_url
    return out


def _nested_extra_body(params: dict[str, Any], *path: str) -> dict[str, Any]:
    """The dict at ``extra_body[path...]``, created as needed (the user's entries kept)."""
    node: dict[str, Any] = dict(params.get("extra_body") or {})
    params["extra_body"] = node
    for key in path:
        child = dict(node.get(key) or {})
        node[key] = child
        node = child
    return node


def _openai_params(params: dict[str, Any], family: str, model_name: str, where: str) -> None:
    """MASAI's names -> Chat Completions (OpenAI and every compatible server), in place."""
    if "max_output_tokens" in params:
        params["max_tokens"] = params.pop("max_output_tokens")
    if "stop_sequences" in params:
        params["stop"] = params.pop("stop_sequences")
    if "enable_logprobs" in params:
        params["logprobs"] = params.pop("enable_logprobs")
    if "num_logprobs" in params:
        params["top_logprobs"] = params.pop("num_logprobs")
    if params.get("logprobs") is False:
        params.pop("top_logprobs", None)  # the API refuses top_logprobs without logprobs
    elif "top_logprobs" in params:
        params.setdefault("logprobs", True)
    _drop(params, {"response_format"}, "masai sets the response format itself", where)
    if family == "gemini":
        if "thinking_budget" in params:  # Google's documented spelling on this endpoint
            thinking = _nested_extra_body(params, "extra_body", "google", "thinking_config")
            thinking["thinking_budget"] = params.pop("thinking_budget")
        _drop(
            params,
            _OWNED["gemini"],
            "Google's OpenAI-compatible endpoint has no field for it",
            where,
        )
    elif model_name.lower().startswith(_OPENAI_REASONING) and "temperature" in params:
        # Reasoning models refuse a sampling temperature; MASAI maps it onto an effort level.
        temperature = params.pop("temperature")
        if "reasoning_effort" not in params and isinstance(temperature, int | float):
            params["reasoning_effort"] = (
                "low" if temperature <= 0.3 else "medium" if temperature <= 0.7 else "high"
            )


def _anthropic_params(params: dict[str, Any], where: str) -> None:
    """MASAI's names -> the Messages API, in place."""
    if "max_output_tokens" in params:
        params["max_tokens"] = params.pop("max_output_tokens")
    _drop(
        params,
        {"presence_penalty", "frequency_penalty", "seed", "enable_logprobs", "num_logprobs"},
        "the Messages API has no such parameter",
        where,
    )
    _drop(
        params,
        {"thinking"},
        "extended thinking cannot be combined with the forced tool call masai decides through",
        where,
    )
    _drop(
        params,
        {"betas", "fallbacks", "task_budget"},
        "they belong to the beta Messages API, which masai does not use",
        where,
    )
    for key in ("top_p", "top_k"):  # the SDK has no typed argument for them
        if key in params:
            _nested_extra_body(params)[key] = params.pop(key)
    if "effort" in params:
        output_config = dict(params.get("output_config") or {})
        output_config.setdefault("effort", params.pop("effort"))
        params["output_config"] = output_config


def _translate(params: dict[str, Any], provider: Provider, model_name: str, where: str) -> None:
    """Turn MASAI parameter names into what ``provider``'s adapter takes, in place."""
    for key in AGENT_OPTIONS | _INTERNAL:
        params.pop(key, None)
    rejected = params.pop("rejects_params", None)
    if rejected is not None and not (
        isinstance(rejected, Sequence) and not isinstance(rejected, str)
    ):
        raise ConfigError(f"{where}: rejects_params must be a list of parameter names")
    foreign: set[str] = set()
    for family, owned in _OWNED.items():
        if family != provider.family:
            foreign |= owned
    foreign -= _SHARED_WITH.get(provider.family, frozenset())
    _drop(params, foreign, f"not supported by {provider.family} models", where)
    if rejected is not None:
        _drop(params, {_ALIASES.get(str(k), str(k)) for k in rejected}, "in rejects_params", where)
    if provider.adapter == "anthropic":
        _anthropic_params(params, where)
    else:
        _openai_params(params, provider.family, model_name, where)


def model_from_config(config: Mapping[str, Any], *, where: str = "model config") -> Model:
    """Build a model from one entry ``{"model_name", "category", **params}``.

    ``where`` prefixes every error (file, agent, component) so a user can find the entry.
    """
    if not isinstance(config, Mapping):
        raise ConfigError(f"{where}: a model config is an object, got {type(config).__name__}")
    params = canonical(config, where)
    name = params.pop("model_name", None)
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}: model config needs 'model_name' (a non-empty string)")
    raw_category = params.pop("category", None)
    category = str(raw_category) if raw_category is not None else _infer_category(name, where)
    key, provider = _provider(category, where)
    client_args = _credentials(key, provider, params, where)
    _translate(params, provider, name, where)
    try:
        if provider.adapter == "anthropic":
            from .anthropic import AnthropicModel

            return AnthropicModel(name, **client_args, **params)
        from .openai import OpenAIModel

        if key == "azure" and "azure_deployment" not in params:
            params["azure_deployment"] = name
        return OpenAIModel(name, **client_args, **params)
    except TypeError as exc:  # a key colliding with an adapter argument of another type
        raise ConfigError(f"{where}: {exc}") from None
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
