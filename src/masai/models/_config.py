"""Models from MASAI's ``model_config.json`` (and from one ``{"model_name", "category", ...}``).

MASAI users keep their model choices in a JSON file instead of code, so that a deployment can
swap models without a release. This module reads that file the way MASAI users write it and
builds masai ``Model`` objects from it.

File shape
----------
Top-level keys are sections: ``"all"`` and agent names (matched case-insensitively). Each
section maps components (``router``, ``evaluator``, ``reflector``, ``planner``) to an entry
``{"model_name": ..., "category": ..., **params}``::

    {"all": {"router": {"model_name": "gemini-2.5-flash", "category": "gemini",
                        "temperature": 0.2, "max_output_tokens": 1024}, ...},
     "researcher": {"reflector": {"model_name": "gpt-4o", "category": "openai"}}}

* A component comes from the agent's own section when it names it, else from ``"all"``. The
  agent's entry replaces the ``"all"`` entry whole (as in MASAI, parameters are not merged
  between the two); MASAI drops ``"all"`` entirely once an agent has a section, we fall back
  per component so a section only needs the components it changes.
* A file whose top level holds the components directly (the shape CONFIGURATION.md shows) is
  read as if they were under ``"all"``.
* Notes are ignored wherever they appear (top level, section, entry), so they never reach a
  provider: ``description``, ``comment(s)``, ``note(s)``, ``_comment``, ``//`` and any key
  starting with ``_``, ``//``, ``/*`` or ``#``. ``//`` and ``/* */`` comments in the file
  itself, which the MASAI docs show inside JSON samples, are tolerated too.
* ``category`` may be left out when the model name says it (``gemini-*``, ``claude-*``,
  ``gpt-*``/``o1``/``o3``/``o4``), as the CONFIGURATION.md samples do.

Parameters
naming the key, the file, the agent and the component, before any request is sent.

Precedence (highest first, per parameter): ``config_dict`` (``overrides``) > the
``model_config.json`` entry > ``create_agent`` keyword arguments (``base``) > adapter defaults.
That is the order MASAI's code applies and its AgentManager docstring states.

Parameters and categories: see ``_providers`` (how each provider takes them).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..exceptions import ConfigError
from ._base import Model
from ._providers import (
    AGENT_OPTIONS,
    GEMINI_BASE_URL,
    OPENAI_COMPATIBLE,
    PROVIDERS,
    Provider,
    canonical,
    is_note,
    model_from_config,
    without_notes,
)

__all__ = (
    "AGENT_OPTIONS",
    "COMPONENTS",
    "CONFIG_ENV_VAR",
    "GEMINI_BASE_URL",
    "OPENAI_COMPATIBLE",
    "PROVIDERS",
    "ModelConfig",
    "Provider",
    "model_from_config",
    "resolve_config_path",
    "split_config_dict",
)

logger = logging.getLogger(__name__)

#: Environment variable naming the config file when no path is given.
CONFIG_ENV_VAR = "MASAI_MODEL_CONFIG"
#: Looked for in the current directory when neither a path nor the variable is given.
DEFAULT_CONFIG_FILE = "model_config.json"
COMPONENTS = ("router", "evaluator", "reflector", "planner")

_EMPTY: Mapping[str, Any] = MappingProxyType({})

# --------------------------------------------------------------------------- finding the file


def resolve_config_path(path: str | os.PathLike[str] | None = None) -> Path | None:
    """Where the model config is: ``path``, else ``$MASAI_MODEL_CONFIG``, else
    ``./model_config.json`` if it exists, else None.

    A path the user named (argument or variable) must exist: silently ignoring a typo would run
    agents on some other model.
    """
    if path is not None:
        explicit = Path(path).expanduser()
        if not explicit.is_file():
            raise ConfigError(f"model config file not found: {explicit}")
        return explicit
    if from_env := os.environ.get(CONFIG_ENV_VAR, "").strip():
        named = Path(from_env).expanduser()
        if not named.is_file():
            raise ConfigError(f"model config file not found: {named} (from ${CONFIG_ENV_VAR})")
        return named
    local = Path.cwd() / DEFAULT_CONFIG_FILE
    return local if local.is_file() else None


def _strip_json_comments(text: str) -> str:
    """Remove ``//`` and ``/* */`` comments outside strings, keeping line numbers intact so a
    later parse error still points at the right line."""
    out: list[str] = []
    i, n, in_string = 0, len(text), False
    while i < n:
        ch = text[i]
        if in_string:
            step = 2 if ch == "\\" else 1
            out.append(text[i : i + step])
            in_string = ch != '"'
            i += step
        elif ch == '"':
            in_string = True
            out.append(ch)
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end
            out.append("\n" * text.count("\n", i, end))
            i = end + 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read model config {path}: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:  # MASAI's docs put comments in their JSON samples; accept them before giving up
        return json.loads(_strip_json_comments(text))
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"model config {path} is not valid JSON: {exc.msg} (line {exc.lineno}, "
            f"column {exc.colno})"
        ) from None


# --------------------------------------------------------------------------- shape


def _parse_entry(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"{where}: a component must be an object like "
            f'{{"model_name": ..., "category": ...}}, got {type(value).__name__}'
        )
    entry = without_notes(value)
    for key in ("model_name", "category"):
        if key in entry and not (isinstance(entry[key], str) and entry[key].strip()):
            raise ConfigError(f"{where}: {key!r} must be a non-empty string")
    return entry


def _parse_section(value: Any, where: str) -> dict[str, dict[str, Any]]:
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"{where}: a section must be an object mapping components "
            f"({', '.join(COMPONENTS)}) to models, got {type(value).__name__}"
        )
    section: dict[str, dict[str, Any]] = {}
    for key, entry in without_notes(value).items():
        component = str(key).lower()
        if not isinstance(entry, Mapping):
            raise ConfigError(
                f"{where}: {key!r} is not a component object (components: "
                f"{', '.join(COMPONENTS)}; notes go under 'description' or '_comment')"
            )
        section[component] = _parse_entry(entry, f"{where}, component {component!r}")
    return section


def _parse_sections(data: Any, origin: str) -> dict[str, dict[str, dict[str, Any]]]:
    """Validate the file's shape, lower-case its names and drop its notes."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{origin}: the top level must be a JSON object of sections")
    sections: dict[str, dict[str, dict[str, Any]]] = {}
    flat: dict[str, Any] = {}
    for key, value in without_notes(data).items():
        name = str(key).strip().lower()
        if name in COMPONENTS:  # CONFIGURATION.md's shape: components at the top level
            flat[name] = value
            continue
        if name in sections:
            raise ConfigError(f"{origin}: section {key!r} appears twice (names ignore case)")
        sections[name] = _parse_section(value, f"{origin}, section {key!r}")
    if flat:
        if "all" in sections:
            raise ConfigError(
                f"{origin}: components {sorted(flat)} at the top level and an 'all' section; "
                "move them into 'all'"
            )
        sections["all"] = _parse_section(flat, f"{origin}, top level")
    return sections


def split_config_dict(
    config_dict: Mapping[str, Any] | None,
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Split MASAI's ``config_dict`` into ``(model_params, agent_options)``, each keyed by
    component.

    ``{"router_temperature": 0.1, "evaluator_memory_order": 5}`` gives
    ``({"router": {"temperature": 0.1}}, {"evaluator": {"memory_order": 5}})``: the first dict
    is the ``overrides`` argument of :meth:`ModelConfig.models_for`, the second holds the
    :data:`AGENT_OPTIONS` (memory sizes, streaming) that configure the agent, not its model.
    ``{"router": {...}}`` (CONFIGURATION.md's nested form) is accepted as well. A key naming no
    component is a ConfigError rather than a silently ignored typo.
    """
    params: dict[str, dict[str, Any]] = {}
    options: dict[str, dict[str, Any]] = {}
    for key, value in (config_dict or {}).items():
        if not isinstance(key, str) or is_note(key):
            continue
        lowered = key.lower()
        if lowered in COMPONENTS and isinstance(value, Mapping):
            for name, item in value.items():
                target = options if name in AGENT_OPTIONS else params
                target.setdefault(lowered, {})[str(name)] = item
            continue
        component = next((c for c in COMPONENTS if lowered.startswith(f"{c}_")), None)
        if component is None:
            raise ConfigError(
                f"config_dict key {key!r} names no component; write '<component>_<parameter>' "
                f"with a component among {', '.join(COMPONENTS)} (e.g. 'router_temperature')"
            )
        name = key[len(component) + 1 :]
        target = options if name in AGENT_OPTIONS else params
        target.setdefault(component, {})[name] = value
    return params, options


# --------------------------------------------------------------------------- the config


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """A parsed ``model_config.json``: sections (lower-case names) of component entries.

    Build it with :meth:`load` or :meth:`from_dict`; ask it for :meth:`entry`,
    :meth:`agent_options` or ready models (:meth:`models_for`).
    """

    sections: Mapping[str, Mapping[str, Mapping[str, Any]]]
    path: Path | None = None

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> ModelConfig | None:
        """Read the file :func:`resolve_config_path` finds; None when there is none."""
        found = resolve_config_path(path)
        if found is None:
            return None
        config = cls.from_dict(_read_json(found), found)
        logger.debug("model config loaded from %s (sections: %s)", found, sorted(config.sections))
        return config

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: Path | None = None) -> ModelConfig:
        """Validate ``data`` (the JSON document) now, so shape errors surface at load time."""
        origin = f"model config {path}" if path is not None else "model config"
        return cls(_parse_sections(data, origin), path)

    @property
    def _origin(self) -> str:
        return f"model config {self.path}" if self.path is not None else "model config"

    def _where(self, agent_name: str, component: str) -> str:
        return f"{self._origin}, agent {agent_name!r}, component {component!r}"

    def _raw(self, agent_name: str, component: str) -> Mapping[str, Any] | None:
        comp = component.lower()
        for section_name in (agent_name.strip().lower(), "all"):
            section = self.sections.get(section_name)
            if section is not None and comp in section:
                return section[comp]
        return None

    def entry(self, agent_name: str, component: str) -> dict[str, Any] | None:
        """The entry for ``agent_name``'s ``component``: the agent's own, else ``"all"``'s,
        else None. Notes are already gone; agent options are still in it."""
        raw = self._raw(agent_name, component)
        return dict(raw) if raw is not None else None

    def agent_options(self, agent_name: str, component: str) -> dict[str, Any]:
        """The :data:`AGENT_OPTIONS` (e.g. ``memory_order``) the file sets for a component."""
        raw = self._raw(agent_name, component) or {}
        return {k: v for k, v in raw.items() if k in AGENT_OPTIONS}

    def params_for(
        self,
        agent_name: str,
        component: str,
        overrides: Mapping[str, Any] = _EMPTY,
        base: Mapping[str, Any] = _EMPTY,
    ) -> dict[str, Any]:
        """One component's merged entry, before translation for a provider: ``overrides`` >
        the file > ``base``, parameter by parameter."""
        where = self._where(agent_name, component)
        raw = self._raw(agent_name, component)
        if raw is None:
            sections = sorted(self.sections)
            raise ConfigError(
                f"{where}: no model configured; add {component!r} to the {agent_name.lower()!r} "
                f"or 'all' section (sections: {sections})"
            )
        merged = canonical(base, f"{where} (create_agent arguments)")
        merged.update(canonical(raw, where))
        merged.update(canonical(overrides, f"{where} (config_dict)"))
        return merged

    def models_for(
        self,
        agent_name: str,
        components: Sequence[str],
        overrides: Mapping[str, Mapping[str, Any]] = _EMPTY,
        base: Mapping[str, Any] = _EMPTY,
    ) -> dict[str, Model]:
        """Build a model for each of ``components``.

        ``overrides`` maps a component to its ``config_dict`` parameters (see
        :func:`split_config_dict`); ``base`` holds parameters for every component (MASAI's
        extra ``create_agent`` keyword arguments, e.g. ``temperature``).
        """
        models: dict[str, Model] = {}
        for component in components:
            comp = component.lower()
            params = self.params_for(agent_name, comp, overrides.get(comp, _EMPTY), base)
            models[comp] = model_from_config(params, where=self._where(agent_name, comp))
        return models
