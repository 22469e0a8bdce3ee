"""The prompt templates behind ``masai.prompts``: ``str.format``-style templates for one text or
a list of chat messages, with no LangChain dependency.

Kept because MASAI programs build their own prompts with them (for instance around
``OpenAIModel`` or a ``FunctionModel``); masai's agents build theirs per step and do not need
them. A missing variable is a ``ConfigError`` naming it, not a ``KeyError`` from deep inside.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any

from ..exceptions import ConfigError

__all__ = (
    "AIMessagePromptTemplate",
    "BaseMessagePromptTemplate",
    "ChatPromptTemplate",
    "CustomPromptTemplate",
    "HumanMessagePromptTemplate",
    "PromptTemplate",
    "SystemMessagePromptTemplate",
)


class PromptTemplate:
    """``PromptTemplate(template, input_variables=None)``; the variables default to the
    ``{names}`` in the template."""

    def __init__(self, template: str, input_variables: Sequence[str] | None = None) -> None:
        self.template = template
        found = [f for _, f, _, _ in string.Formatter().parse(template) if f]
        self.input_variables = list(input_variables) if input_variables is not None else found

    def format(self, **kwargs: Any) -> str:
        missing = [v for v in self.input_variables if v not in kwargs]
        if missing:
            raise ConfigError(f"prompt template needs {missing}")
        try:
            return self.template.format(**kwargs)
        except (KeyError, IndexError) as exc:
            raise ConfigError(f"prompt template needs {exc}") from None

    format_prompt = format

    def __repr__(self) -> str:
        return f"PromptTemplate(input_variables={self.input_variables!r})"


#: MASAI exports its other template class under this name; it is the same idea.
CustomPromptTemplate = PromptTemplate


class BaseMessagePromptTemplate:
    """One chat message's template; the subclasses set its role."""

    role = "user"

    def __init__(self, prompt: PromptTemplate | str) -> None:
        self.prompt = prompt if isinstance(prompt, PromptTemplate) else PromptTemplate(prompt)

    def format(self, **kwargs: Any) -> str:
        return self.prompt.format(**kwargs)

    @classmethod
    def from_template(cls, template: str) -> BaseMessagePromptTemplate:
        return cls(PromptTemplate(template))


class SystemMessagePromptTemplate(BaseMessagePromptTemplate):
    role = "system"


class HumanMessagePromptTemplate(BaseMessagePromptTemplate):
    role = "user"


class AIMessagePromptTemplate(BaseMessagePromptTemplate):
    role = "assistant"


_ROLES: dict[str, type[BaseMessagePromptTemplate]] = {
    "system": SystemMessagePromptTemplate,
    "human": HumanMessagePromptTemplate,
    "user": HumanMessagePromptTemplate,
    "ai": AIMessagePromptTemplate,
    "assistant": AIMessagePromptTemplate,
}


class ChatPromptTemplate:
    """A list of message templates; ``format_messages(**values)`` gives
    ``[{"role", "content"}]``, ready for any chat API."""

    def __init__(self, messages: Sequence[BaseMessagePromptTemplate]) -> None:
        self.messages = list(messages)

    @classmethod
    def from_messages(
        cls, messages: Sequence[BaseMessagePromptTemplate | tuple[str, str]]
    ) -> ChatPromptTemplate:
        """Message templates, or ``(role, template)`` pairs (``system``/``human``/``ai``)."""
        made: list[BaseMessagePromptTemplate] = []
        for item in messages:
            if isinstance(item, BaseMessagePromptTemplate):
                made.append(item)
                continue
            role, template = item
            if role not in _ROLES:
                raise ConfigError(f"unknown message role {role!r}; use one of {sorted(_ROLES)}")
            made.append(_ROLES[role](template))
        return cls(made)

    @property
    def input_variables(self) -> list[str]:
        seen: dict[str, None] = {}
        for message in self.messages:
            seen.update(dict.fromkeys(message.prompt.input_variables))
        return list(seen)

    def format_messages(self, **kwargs: Any) -> list[dict[str, str]]:
        return [{"role": m.role, "content": m.format(**kwargs)} for m in self.messages]

    def format(self, **kwargs: Any) -> str:
        """All messages as one text, each under its role (for completion-style models)."""
        return "\n\n".join(
            f"{m['role'].upper()}: {m['content']}" for m in self.format_messages(**kwargs)
        )

    format_prompt = format

    def __repr__(self) -> str:
        return f"ChatPromptTemplate(input_variables={self.input_variables!r})"
