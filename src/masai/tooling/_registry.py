"""A registry of many tools, searchable by words, with a tool that lets the model search it.

Why: an agent given thousands of tools would drown its prompt in their schemas. With a registry
the agent gets one ``discover_tools`` tool instead and asks for what it needs; the answer lists
the matching tools' names, descriptions and argument schemas. Scoring is deliberately simple
(word matches in the name weigh twice those in the description), as in the original MASAI.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

import orjson

from ._tool import Tool, as_tool, tool

__all__ = ("ToolRegistry",)

logger = logging.getLogger(__name__)

_WORD = re.compile(r"[a-z0-9]+")
DISCOVERY_TOOL_NAME = "discover_tools"


def _words(text: str) -> set[str]:
    """Lowercase words of three letters or more: shorter ones ("a", "to", "of") match anything."""
    return {word for word in _WORD.findall(text.lower()) if len(word) > 2}


class ToolRegistry:
    """Tools by name: ``register_tool(s)``, ``get_tool``, ``has_tool``, ``search_tools`` and
    ``get_discovery_tool``. Anything ``as_tool`` accepts can be registered (masai or MASAI
    tools, LangChain tools, plain functions); it is stored as a ``Tool``."""

    def __init__(self, tools: Iterable[Any] | None = None) -> None:
        self.registry: dict[str, Tool] = {}
        self._discovery: Tool | None = None
        if tools:
            self.register_tools(tools)

    def register_tool(self, tool_obj: Any) -> Tool:
        """Add (or replace, by name) one tool; returns it as a ``Tool``."""
        registered = as_tool(tool_obj)
        if registered.name in self.registry:
            logger.debug("tool %s replaced in the registry", registered.name)
        self.registry[registered.name] = registered
        return registered

    def register_tools(self, tools: Iterable[Any]) -> None:
        for tool_obj in tools:
            self.register_tool(tool_obj)

    def get_tool(self, tool_name: str) -> Tool | None:
        return self.registry.get(tool_name)

    def has_tool(self, tool_name: str) -> bool:
        return tool_name in self.registry

    def __len__(self) -> int:
        return len(self.registry)

    def __contains__(self, tool_name: object) -> bool:
        return tool_name in self.registry

    def search_tools(self, query: str, top_k: int = 5) -> list[Tool]:
        """The ``top_k`` tools that match ``query`` best, best first (ties keep registration
        order). A word found in a tool's name scores 2, in its description 1; a query word
        matches a tool word it is part of ("search" matches "searches"). When nothing matches
        at all, the first ``top_k`` tools, so the model still learns what exists."""
        if top_k <= 0:
            return []
        query_words = _words(query)
        scored: list[tuple[int, int, Tool]] = []
        for order, candidate in enumerate(self.registry.values()):
            if candidate is self._discovery:
                continue
            name_words = _words(candidate.name.replace("_", " ").replace("-", " "))
            text_words = _words(candidate.description)
            score = sum(
                2 * any(word in name_word for name_word in name_words)
                + any(word in text_word for text_word in text_words)
                for word in query_words
            )
            scored.append((score, order, candidate))
        if not any(score for score, _, _ in scored):
            return [candidate for _, _, candidate in scored[:top_k]]
        scored.sort(key=lambda item: (-item[0], item[1]))
        return [candidate for score, _, candidate in scored if score > 0][:top_k]

    def describe(self, tools: Iterable[Tool]) -> str:
        """The text the discovery tool answers with: per tool its name, description and the
        JSON schema of its arguments, which is what a model needs to call it."""
        lines = []
        for found in tools:
            spec = found.spec()
            lines.append(f"- {spec.name}: {spec.description}".rstrip())
            lines.append(f"  arguments: {orjson.dumps(spec.parameters).decode()}")
        return "\n".join(lines) if lines else "No tools found in the registry."

    def get_discovery_tool(self, top_k: int = 5) -> Tool:
        """A tool the model calls with a ``query`` to find tools in this registry (built once;
        it searches the registry as it is at call time)."""
        if self._discovery is not None:
            return self._discovery
        registry = self

        @tool(DISCOVERY_TOOL_NAME)
        def discover_tools(query: str) -> str:
            """Find tools by what they do: describe the task in a few words; the answer lists
            matching tools with their arguments."""
            return registry.describe(registry.search_tools(query, top_k))

        self._discovery = discover_tools
        return discover_tools
