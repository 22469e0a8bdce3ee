"""Package layout rules: installs cleanly on case-insensitive file systems, and the original
MASAI's CamelCase import paths (``masai.Tools``, ``masai.MultiAgents`` …) stay thin shims.

Why: ``masai/tools`` next to ``masai/Tools`` is two directories on Linux but one on macOS and
Windows, where one silently replaces the other. And a shim that grows its own code becomes a
second implementation to keep in step with the real one.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections import defaultdict
from pathlib import Path
from types import ModuleType

import masai

PACKAGE_DIR = Path(masai.__file__).resolve().parent
SRC_DIR = Path(__file__).resolve().parents[1] / "src"


def _case_clashes(root: Path) -> list[list[str]]:
    """Paths under ``root`` that differ only by letter case."""
    by_folded: dict[str, list[str]] = defaultdict(list)
    for path in root.rglob("*"):
        relative = path.relative_to(root).as_posix()
        by_folded[relative.casefold()].append(relative)
    clashing = {folded for folded, group in by_folded.items() if len(group) > 1}
    # Report ``Agents`` vs ``agents`` once, not again for every file inside them.
    return sorted(
        sorted(by_folded[folded])
        for folded in clashing
        if not any(parent.as_posix() in clashing for parent in Path(folded).parents)
    )


def test_no_two_paths_differ_only_by_case() -> None:
    assert _case_clashes(PACKAGE_DIR) == []
    assert SRC_DIR.is_dir()
    assert _case_clashes(SRC_DIR) == []


def test_the_case_check_finds_clashes(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "Tools").mkdir(parents=True)
    (tmp_path / "pkg" / "tools").mkdir()
    (tmp_path / "pkg" / "Tools" / "a.py").touch()
    assert _case_clashes(tmp_path) == [["pkg/Tools", "pkg/tools"]]


def _is_camel(module_name: str) -> bool:
    """A module under a CamelCase package (or itself CamelCase) below ``masai``."""
    return any(part[:1].isupper() for part in module_name.split(".")[1:])


def _shim_modules() -> list[ModuleType]:
    """Import every module under ``masai``'s CamelCase packages and modules."""
    names: list[str] = []
    for info in pkgutil.iter_modules(masai.__path__, "masai."):
        if not _is_camel(info.name):
            continue
        names.append(info.name)
        if info.ispkg:
            package = importlib.import_module(info.name)
            names += [m.name for m in pkgutil.walk_packages(package.__path__, info.name + ".")]
    return [importlib.import_module(name) for name in names]


def _home_of(obj: object) -> str | None:
    """Where ``obj`` comes from: its ``__module__``, or for plain data (no ``__module__``) the
    first non-shim ``masai`` module that holds the very same object."""
    module = getattr(obj, "__module__", None)
    if isinstance(module, str):
        return module
    for name, candidate in list(sys.modules.items()):
        real = name.startswith("masai.") and not _is_camel(name)
        if real and any(value is obj for value in vars(candidate).values()):
            return name
    return None


def test_camelcase_packages_are_thin_shims() -> None:
    shims = _shim_modules()
    assert {m.__name__ for m in shims} >= {
        "masai.Tools",
        "masai.Tools.Tool",
        "masai.Tools.ToolRegistry",
        "masai.Tools.utilities.cache",
    }
    own: list[str] = []
    for shim in shims:
        public = getattr(shim, "__all__", None)
        if public is None:
            public = [name for name in vars(shim) if not name.startswith("_")]
        for name in public:
            home = _home_of(getattr(shim, name))
            if isinstance(getattr(shim, name), ModuleType):
                continue  # a submodule (``masai.Tools.Tool``) is not a definition
            if home is None or _is_camel(home):
                own.append(f"{shim.__name__}.{name} (from {home})")
    assert own == [], "CamelCase modules must only re-export: " + ", ".join(own)


def test_the_shim_check_catches_own_definitions() -> None:
    assert _is_camel("masai.Tools.Tool") and _is_camel("masai.MultiAgents")
    assert not _is_camel("masai.tooling._tool")

    class Local:
        pass

    Local.__module__ = "masai.Tools.Tool"
    assert _is_camel(_home_of(Local) or "")
    assert _home_of(object()) is None  # plain data that no real module holds
