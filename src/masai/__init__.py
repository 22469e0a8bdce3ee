"""masai: multi-agent LLM systems whose every step streams to the client as it happens.

The event vocabulary and emit API load with the package; the agent runtime (agents, models,
tools, systems: pydantic and its schemas) loads on first use of one of its names, so code that
only emits events (a tool library, a streaming endpoint) does not pay for it.
"""

import importlib as _importlib
import sys as _sys
import types as _types
import typing as _typing

from .events import (
    EVENT_TYPES,
    EventType,
    StreamingEvent,
    bind_context,
    clear_streaming_callback,
    emit_custom_event,
    emit_custom_event_sync,
    emit_event,
    emit_event_sync,
    emit_node_transition,
    emit_node_transition_sync,
    emit_tool_call,
    emit_tool_call_sync,
    emit_tool_output,
    emit_tool_output_sync,
    get_streaming_callback,
    set_streaming_callback,
)
from .exceptions import (
    AgentNotFound,
    ConfigError,
    MasaiError,
    ModelError,
    ModelOutputError,
    RunCancelled,
    ScriptExhausted,
    StreamClosed,
    ToolError,
)

if _typing.TYPE_CHECKING:
    from .agents import (
        Agent,
        AgentDetails,
        AgentLimits,
        AgentManager,
        ApprovalDecision,
        ApprovalTimeout,
        RunContext,
        StateSnapshot,
        get_run_context,
    )
    from .memory import SharedMemory
    from .models import Decision, FunctionModel, Model, ModelRequest, ScriptedModel
    from .systems import MultiAgentSystem, SupervisorConfig
    from .tooling import Tool, tool

__version__ = "0.1.0"

__all__ = (
    "EVENT_TYPES",
    "Agent",
    "AgentDetails",
    "AgentLimits",
    "AgentManager",
    "AgentNotFound",
    "ApprovalDecision",
    "ApprovalTimeout",
    "ConfigError",
    "Decision",
    "EventType",
    "FunctionModel",
    "MasaiError",
    "Model",
    "ModelError",
    "ModelOutputError",
    "ModelRequest",
    "MultiAgentSystem",
    "RunCancelled",
    "RunContext",
    "ScriptExhausted",
    "ScriptedModel",
    "SharedMemory",
    "StateSnapshot",
    "StreamClosed",
    "StreamingEvent",
    "SupervisorConfig",
    "Tool",
    "ToolError",
    "__version__",
    "bind_context",
    "clear_streaming_callback",
    "emit_custom_event",
    "emit_custom_event_sync",
    "emit_event",
    "emit_event_sync",
    "emit_node_transition",
    "emit_node_transition_sync",
    "emit_tool_call",
    "emit_tool_call_sync",
    "emit_tool_output",
    "emit_tool_output_sync",
    "get_run_context",
    "get_streaming_callback",
    "set_streaming_callback",
    "tool",
)

#: Names of the runtime, and the module each is loaded from on first access (PEP 562).
_LAZY = {
    **dict.fromkeys(
        (
            "Agent",
            "AgentDetails",
            "AgentLimits",
            "AgentManager",
            "ApprovalDecision",
            "ApprovalTimeout",
            "RunContext",
            "StateSnapshot",
            "get_run_context",
        ),
        ".agents",
    ),
    "SharedMemory": ".memory",
    **dict.fromkeys(
        ("Decision", "FunctionModel", "Model", "ModelRequest", "ScriptedModel"), ".models"
    ),
    "MultiAgentSystem": ".systems",
    "SupervisorConfig": ".systems",
    "Tool": ".tooling",
    "tool": ".tooling",
}


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'masai' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(_types.ModuleType):
    """``masai`` itself. MASAI's import path ``masai.AgentManager`` is a package named like
    the class ``masai.AgentManager``; importing the package would make the import system set
    it as this module's attribute, and ``from masai import AgentManager`` would then give the
    package. The class wins: the package stays importable by its full name (``sys.modules``),
    as every ``from masai.AgentManager[.AgentManager] import …`` finds it."""

    def __setattr__(self, name: str, value: _typing.Any) -> None:
        if name in _LAZY and isinstance(value, _types.ModuleType):
            return  # (a submodule named like one of our names: keep the name)
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package
