"""MASAI's ``create_agent`` keyword options: which ones masai honours, which ones it accepts
with a warning because they have no meaning here, and which ones reach the models.

MASAI passes every keyword it does not know to the models of all four components (so one
``top_p=...`` sets it everywhere). masai does the same when the models come from
``model_config.json``; with a ready model object there is nowhere to send them, so an unknown
keyword is an error rather than silently dropped.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

from ..exceptions import ConfigError
from ._limits import AgentLimits

__all__ = ("NO_MEANING", "AgentOptions", "warn_once")

logger = logging.getLogger("masai.agents")

#: MASAI's name → masai's, for the limits both have.
ALIASES = {
    "max_total_tool_calls": "max_tool_calls",
    "max_reflection_count": "max_reflections",
    "max_recursion_limit": "max_steps",
}

#: Accepted so MASAI code runs, but nothing here they would change: why, for the warning.
NO_MEANING = {
    "long_context_order": "masai keeps no LLM-written summaries of old turns",
    "shared_long_context_order": "masai keeps no LLM-written summaries of old turns",
    "shared_memory_order": "hand-offs carry the answers so far (the system's memory_order)",
    "retain_messages_order": "an agent keeps no state between queries besides memory_order",
    "tool_output_similarity_threshold": "masai never truncates earlier tool outputs",
    "long_context_model": "masai keeps no LLM-written summaries of old turns",
    "character_factor": "masai has no character prompt",
    "rejects_params": "give a model only the parameters it takes (model_config.json)",
}
#: MASAI's defaults for the options above: only a different value earns the warning.
MASAI_DEFAULTS: dict[str, Any] = {
    "long_context_order": 20,
    "shared_long_context_order": 5,
    "shared_memory_order": 10,
    "retain_messages_order": 10,
}


def warn_once(seen: set[str], key: str, message: str, *args: Any) -> None:
    """Log ``message`` the first time ``key`` comes up for this manager."""
    if key not in seen:
        seen.add(key)
        logger.warning(message, *args)


@dataclasses.dataclass
class AgentOptions:
    """What ``create_agent``'s MASAI keywords come to."""

    limits: dict[str, Any]
    model_params: dict[str, Any]
    config_dict: dict[str, Any]
    max_tool_loop: int | None = None
    user_id: str | int | None = None

    @classmethod
    def parse(
        cls, given: Mapping[str, Any], limits: dict[str, Any], seen: set[str]
    ) -> AgentOptions:
        options = cls(limits=dict(limits), model_params={}, config_dict={})
        for key, value in given.items():
            if key in ALIASES:
                options.limits[ALIASES[key]] = value
            elif key == "max_tool_loop":
                options.max_tool_loop = None if value is None else int(value)
            elif key == "config_dict":
                if value is not None and not isinstance(value, Mapping):
                    raise ConfigError("config_dict must be a dict")
                options.config_dict = dict(value or {})
            elif key == "user_id":
                options.user_id = value
            elif key in NO_MEANING:
                if value != MASAI_DEFAULTS.get(key, object()):
                    warn_once(
                        seen,
                        key,
                        "create_agent(%s=...) is accepted but has no effect: %s",
                        key,
                        NO_MEANING[key],
                    )
            else:
                options.model_params[key] = value
        return options

    def agent_limits(
        self, tool_timeout_seconds: float | None, max_tool_output_chars: int
    ) -> AgentLimits:
        """The run's limits; MASAI's ``0`` turns the tool budget and the timeout off."""
        return AgentLimits(
            max_tool_calls=self.limits["max_tool_calls"] or None,
            max_reflections=self.limits["max_reflections"],
            max_steps=self.limits["max_steps"],
            run_timeout_seconds=self.limits["run_timeout_seconds"] or None,
            tool_timeout_seconds=tool_timeout_seconds,
            max_tool_output_chars=max_tool_output_chars,
        )

    def check_no_model_params(self, agent: str) -> None:
        """With a ready model object, keywords meant for the models have nowhere to go."""
        if self.model_params:
            known = sorted([*ALIASES, "max_tool_loop", "config_dict", "user_id", *NO_MEANING])
            raise ConfigError(
                f"create_agent({agent!r}) got unknown option {min(self.model_params)!r}: "
                "with a model object there is no model to pass it to (model parameters apply "
                f"to models built from model_config.json); known options: {known}"
            )
