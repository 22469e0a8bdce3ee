"""Models behind one small interface. Provider SDKs are optional and imported on first use."""

import typing as _typing

from ._base import (
    AnswerStream,
    Component,
    Decision,
    Message,
    Model,
    ModelRequest,
    ToolCallRequest,
    ToolSpec,
    Usage,
    decision_schema,
    supervisor_schema,
)
from ._scripted import FunctionModel, ScriptedModel

if _typing.TYPE_CHECKING:
    from .anthropic import AnthropicModel
    from .openai import OpenAIModel

__all__ = (
    "AnswerStream",
    "AnthropicModel",
    "Component",
    "Decision",
    "FunctionModel",
    "Message",
    "Model",
    "ModelRequest",
    "OpenAIModel",
    "ScriptedModel",
    "ToolCallRequest",
    "ToolSpec",
    "Usage",
    "decision_schema",
    "supervisor_schema",
)


def __getattr__(name: str) -> _typing.Any:
    if name == "OpenAIModel":
        from .openai import OpenAIModel

        return OpenAIModel
    if name == "AnthropicModel":
        from .anthropic import AnthropicModel

        return AnthropicModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
