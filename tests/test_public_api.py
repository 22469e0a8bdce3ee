"""The curated public surface: every ``__all__`` is exactly what the module exports, and
``import masai`` stays light."""

from __future__ import annotations

import importlib
import subprocess
import sys
from typing import TypeVar

import pytest

MODULES = [
    "masai",
    "masai.agents",
    "masai.events",
    "masai.exceptions",
    "masai.memory",
    "masai.models",
    "masai.streaming",
    "masai.streaming.encoders",
    "masai.systems",
    "masai.tooling",
    "masai.MultiAgents",
    "masai.MultiAgents.MultiAgent",
    "masai.Tools.utilities.streaming_events",
    "masai.Tools.utilities.enhanced_streaming",
]


#: Packages and compatibility modules: their surface is every public name they bind.
REEXPORTERS = {
    name
    for name in MODULES
    if name != "masai.events" and name not in ("masai.exceptions", "masai.memory")
}


@pytest.mark.parametrize("name", MODULES)
def test_all_lists_the_public_names(name: str) -> None:
    module = importlib.import_module(name)
    assert isinstance(module.__all__, tuple)
    assert len(set(module.__all__)) == len(module.__all__)
    for attr in module.__all__:
        assert hasattr(module, attr), f"{name}.{attr} is in __all__ but missing"
    exported = set(module.__all__) - {"__version__"}
    if name in REEXPORTERS:
        public = {
            n
            for n, v in vars(module).items()
            if not n.startswith("_") and not isinstance(v, type(sys))
        }
        assert public <= exported, f"{name} does not export {public - exported}"
        return
    # A module's surface: the public things it defines (plus constants and type aliases).
    public = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_")
        and getattr(v, "__module__", None) == name
        and not isinstance(v, TypeVar)
    }
    assert public <= exported, f"{name} does not export {public - exported}"
    for extra in exported - public:  # (typing constructs, or names from its private modules)
        origin = getattr(getattr(module, extra), "__module__", "typing")
        assert origin == "typing" or origin.startswith("masai._"), extra


def test_spec_paths_are_the_same_objects() -> None:
    import masai.events as events
    import masai.streaming as streaming
    from masai.Tools.utilities import enhanced_streaming, streaming_events

    assert streaming_events.emit_custom_event is events.emit_custom_event
    assert streaming_events.StreamingEvent is events.StreamingEvent
    assert enhanced_streaming.EnhancedStreamHandler is streaming.EnhancedStreamHandler
    import masai
    from masai.MultiAgents.MultiAgent import MultiAgentSystem

    assert MultiAgentSystem is masai.MultiAgentSystem


def test_import_masai_pulls_in_no_server_framework_or_sdk() -> None:
    code = (
        "import sys, masai, masai.events;"
        "heavy = {'fastapi', 'starlette', 'uvicorn', 'langchain', 'langchain_core', 'openai',"
        " 'anthropic', 'redis', 'rich', 'httpx'};"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_import_masai_defers_the_agent_runtime() -> None:
    """The runtime (pydantic schemas and all) loads on first use of one of its names."""
    code = (
        "import sys, masai;"
        "before = 'masai.agents' in sys.modules or 'pydantic' in sys.modules;"
        "from masai import AgentManager, tool;"
        "print(before, 'masai.agents' in sys.modules, AgentManager.__module__);"
        "masai.no_such_name"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["False", "True", "masai.agents.manager"]
    assert "AttributeError: module 'masai' has no attribute 'no_such_name'" in out.stderr
