"""Keeping MASAI's ``from masai.Tools import Tool`` a class although ``masai.Tools.Tool`` is
also a module.

Why: importing a submodule makes Python set it as an attribute of its package, so once anything
imported ``masai.Tools.Tool`` (as MASAI's ``from masai.Tools.Tool import tool`` does), the
package's ``Tool`` would become that module and ``class SearchTool(Tool)``, as MASAI documents
it, would fail. A shim package calls ``keep_reexports(__name__)``: the names in its ``__all__``
keep the objects it re-exports; the submodules stay importable from ``sys.modules``.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

__all__ = ("keep_reexports",)


class _ShimPackage(ModuleType):
    """A package module that does not let a submodule replace a re-exported name."""

    def __setattr__(self, name: str, value: Any) -> None:
        current = self.__dict__.get(name)
        exported = name in self.__dict__.get("__all__", ())
        if exported and isinstance(value, ModuleType) and not isinstance(current, ModuleType):
            return  # the import system binding submodule ``name``: keep the re-export
        super().__setattr__(name, value)


def keep_reexports(package_name: str) -> None:
    """Make the package ``package_name`` keep its ``__all__`` names (call it last in the
    package's ``__init__``)."""
    sys.modules[package_name].__class__ = _ShimPackage
