from __future__ import annotations

import dataclasses

__all__ = ("AgentDetails",)


@dataclasses.dataclass(frozen=True)
class AgentDetails:
    """Who an agent is; goes into its own prompt and, for co-workers, into theirs."""

    capabilities: list[str]
    description: str = ""
    style: str = "gives very elaborate answers"

    def summary(self) -> str:
        text = f"capabilities: {', '.join(self.capabilities) or 'general'}"
        return f"{text}; {self.description}" if self.description else text
