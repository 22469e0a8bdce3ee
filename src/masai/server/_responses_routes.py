"""(placeholder: filled in by its protocol's work)"""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ("router",)

router = APIRouter()
