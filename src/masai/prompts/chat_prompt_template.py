"""MASAI's module path for the chat prompt templates; see ``masai.prompts``."""

from masai.prompts import (
    AIMessagePromptTemplate,
    BaseMessagePromptTemplate,
    ChatPromptTemplate,
    HumanMessagePromptTemplate,
    PromptTemplate,
    SystemMessagePromptTemplate,
)

__all__ = (
    "AIMessagePromptTemplate",
    "BaseMessagePromptTemplate",
    "ChatPromptTemplate",
    "HumanMessagePromptTemplate",
    "PromptTemplate",
    "SystemMessagePromptTemplate",
)
