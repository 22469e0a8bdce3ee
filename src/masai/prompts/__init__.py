"""MASAI's prompt templates: ``str.format``-style templates for one text or a list of chat
messages, with no LangChain dependency (see ``_templates``)."""

from ._templates import (
    AIMessagePromptTemplate,
    BaseMessagePromptTemplate,
    ChatPromptTemplate,
    CustomPromptTemplate,
    HumanMessagePromptTemplate,
    PromptTemplate,
    SystemMessagePromptTemplate,
)

__all__ = (
    "AIMessagePromptTemplate",
    "BaseMessagePromptTemplate",
    "ChatPromptTemplate",
    "CustomPromptTemplate",
    "HumanMessagePromptTemplate",
    "PromptTemplate",
    "SystemMessagePromptTemplate",
)
