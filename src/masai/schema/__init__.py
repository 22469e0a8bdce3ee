"""MASAI's import path ``masai.schema``; ``Document`` is defined in ``masai.longterm``."""

from ..longterm import Document

__all__ = ("Document",)
