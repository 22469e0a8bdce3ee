"""Per-run bounds of an agent, and what its answer says when it stopped on one."""

from __future__ import annotations

import dataclasses
from typing import Final

from ..exceptions import ConfigError

__all__ = ("LIMIT_MESSAGES", "AgentLimits", "limit_note")

LIMIT_MESSAGES: Final[dict[str, str]] = {
    "max_tool_calls": "the limit of {n} tool calls was reached",
    "max_reflections": "the limit of {n} reflections was reached",
    "max_steps": "the limit of {n} steps was reached",
    "timeout": "the time limit of {n} seconds was reached",
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class AgentLimits:
    """Per-run bounds. Reaching one ends the run with that ``stop_reason``, never a hang."""

    max_tool_calls: int | None = 25
    max_reflections: int = 3
    max_steps: int = 50
    run_timeout_seconds: float | None = None
    tool_timeout_seconds: float | None = 120.0
    max_tool_output_chars: int = 20_000

    def __post_init__(self) -> None:
        for name in ("max_tool_calls", "run_timeout_seconds", "tool_timeout_seconds"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"{name} must be positive (or None for no limit)")
        if self.max_reflections < 0 or self.max_steps < 1 or self.max_tool_output_chars < 100:
            raise ConfigError("max_reflections >= 0, max_steps >= 1, max_tool_output_chars >= 100")


def limit_note(limits: AgentLimits, reason: str) -> str | None:
    """What the answer of a run that stopped for ``reason`` adds, if that is a limit."""
    message = LIMIT_MESSAGES.get(reason)
    if message is None:
        return None
    limit = {
        "max_tool_calls": limits.max_tool_calls,
        "max_reflections": limits.max_reflections,
        "max_steps": limits.max_steps,
        "timeout": limits.run_timeout_seconds,
    }[reason]
    return f"I stopped before finishing: {message.format(n=limit)}."
