"""Models from MASAI-style configuration: ``{"model_name": ..., "category": ..., **params}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..exceptions import ConfigError
from ._base import Model

__all__ = ("OPENAI_COMPATIBLE", "model_from_config")

#: Categories served by the OpenAI-compatible adapter (set ``base_url`` for local servers).
OPENAI_COMPATIBLE = frozenset(
    {
        "openai",
        "azure",
        "openai-compatible",
        "ollama",
        "vllm",
        "llamacpp",
        "lmstudio",
        "groq",
        "together",
        "deepseek",
        "openrouter",
        "mistral",
    }
)


def model_from_config(config: Mapping[str, Any]) -> Model:
    if not isinstance(config, Mapping):
        raise ConfigError(f"a model config is an object, got {type(config).__name__}")
    params = dict(config)
    try:
        name = params.pop("model_name")
        category = str(params.pop("category")).lower()
    except KeyError as exc:
        raise ConfigError(f"model config needs {exc.args[0]!r}: {dict(config)}") from None
    if category in OPENAI_COMPATIBLE:
        from .openai import OpenAIModel

        if category == "azure" and "azure_deployment" not in params:
            params["azure_deployment"] = name
        return OpenAIModel(name, **params)
    if category == "anthropic":
        from .anthropic import AnthropicModel

        return AnthropicModel(name, **params)
    raise ConfigError(
        f"unsupported model category {category!r}; use 'anthropic' or an OpenAI-compatible one "
        f"({', '.join(sorted(OPENAI_COMPATIBLE))}) with base_url"
    )
