"""The shape of MASAI's streamed updates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ("unwrap_state",)


def unwrap_state(update: Any) -> Any:
    """The state in one ``initiate_agent_astream`` item: ``("updates", {node: state})`` → state;
    anything else is returned as is."""
    if isinstance(update, tuple) and len(update) > 1:
        inner = update[1]
        if isinstance(inner, Mapping) and inner:
            return next(iter(inner.values()))
        return inner
    return update
