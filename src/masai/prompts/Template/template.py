"""MASAI's module path for its other ``PromptTemplate``; see ``masai.prompts``."""

from masai.prompts import CustomPromptTemplate as PromptTemplate

__all__ = ("PromptTemplate",)
