"""MASAI's module path for ``Document``; see ``masai.longterm``."""

from masai.longterm import Document

__all__ = ("Document",)
