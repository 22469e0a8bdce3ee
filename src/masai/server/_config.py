"""Building a server's registry from a configuration file or a Python module.

A file (TOML, or YAML when PyYAML is installed) declares named ``models``, ``agents`` (tools by
import path ``package.module:name``) and ``systems``; see docs/configuration.md. A module path
(``package.module`` or ``package.module:name``) names a ``Registry`` or a function returning one.
"""

from __future__ import annotations

import importlib
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..agents import AgentDetails, AgentManager
from ..exceptions import ConfigError
from ..models import Model, ScriptedModel
from ..models._config import model_from_config
from ..systems import MultiAgentSystem, SupervisorConfig
from ._targets import Mode, Registry

__all__ = ("load_config", "load_registry", "registry_from_mapping")

_AGENT_KEYS = {"model", "tools", "capabilities", "description", "style"}
_SYSTEM_OPTIONS = {"max_hops", "max_repeated_handoffs", "max_rounds"}


def load_registry(source: str) -> Registry:
    return load_config(source)[0]


def load_config(source: str) -> tuple[Registry, dict[str, Any]]:
    """The registry a file or module declares, and the file's ``[server]`` settings (a module
    has none: flags and the environment set those)."""
    path = Path(source)
    if path.suffix.lower() in {".toml", ".yaml", ".yml", ".json"}:
        if not path.is_file():
            raise ConfigError(f"config file not found: {source}")
        data = _read(path)
        server = data.get("server") or {}
        if not isinstance(server, Mapping):
            raise ConfigError(f"{path}: [server] must be a table")
        return registry_from_mapping(data, origin=str(path)), dict(server)
    return _from_module(source), {}


def _read(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".toml":
            return tomllib.loads(text)
        if path.suffix.lower() == ".json":
            import json

            data = json.loads(text)
        else:
            try:
                import yaml
            except ImportError:
                raise ConfigError("YAML configs need PyYAML: pip install 'masai[server]'") from None
            data = yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        raise ConfigError(f"{path} is not valid: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping at the top level")
    return data


def _import(ref: str) -> Any:
    module_name, _, attr = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module_name!r}: {exc}") from None
    if not attr:
        return module
    try:
        obj = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        raise ConfigError(f"{module_name!r} has no {attr!r}") from None
    return obj


def _from_module(ref: str) -> Registry:
    if ":" in ref:
        obj = _import(ref)
    else:
        module = _import(ref)
        obj = getattr(module, "registry", None) or getattr(module, "build_registry", None)
        if obj is None:
            raise ConfigError(f"{ref!r} defines neither `registry` nor `build_registry()`")
    if callable(obj) and not isinstance(obj, Registry):
        obj = obj()
    if not isinstance(obj, Registry):
        raise ConfigError(f"{ref!r} is not a masai.server.Registry")
    return obj


def _model(spec: Any, models: Mapping[str, Model], where: str, role: str) -> Model:
    if isinstance(spec, str):
        if spec not in models:
            raise ConfigError(f"{where}: unknown model {spec!r}; models: {sorted(models)}")
        return models[spec]
    if isinstance(spec, Mapping):
        return _build_model(dict(spec), where, role)
    raise ConfigError(f"{where}: model must be a model name or a table")


def _build_model(spec: dict[str, Any], where: str, role: str) -> Model:
    category = str(spec.get("category", "")).lower()
    if category == "demo":
        from .demo import demo_model

        return demo_model(str(spec.get("role", "researcher")))
    if category == "scripted":
        return ScriptedModel(spec.get("turns", []), token_delay=float(spec.get("token_delay", 0)))
    try:
        return model_from_config(spec)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def registry_from_mapping(config: Mapping[str, Any], *, origin: str = "config") -> Registry:
    unknown = set(config) - {"default", "models", "agents", "systems", "server"}
    if unknown:
        raise ConfigError(f"{origin}: unknown sections {sorted(unknown)}")
    models = {
        name: _build_model(dict(spec), f"{origin} models.{name}", name)
        for name, spec in (config.get("models") or {}).items()
    }
    agents = config.get("agents") or {}
    if not agents:
        raise ConfigError(f"{origin}: declare at least one agent under [agents]")
    manager = AgentManager(logging=False)
    for name, spec in agents.items():
        where = f"{origin} agents.{name}"
        if "model" not in spec:
            raise ConfigError(f"{where}: needs a model")
        model_spec = spec["model"]
        if isinstance(model_spec, Mapping) and "category" not in model_spec:
            model: Any = {c: _model(m, models, where, name) for c, m in model_spec.items()}
        else:
            model = _model(model_spec, models, where, name)
        tools = [_import(ref) for ref in spec.get("tools", [])]
        details = AgentDetails(
            list(spec.get("capabilities", [])),
            spec.get("description", ""),
            spec.get("style", "gives very elaborate answers"),
        )
        options = {k: v for k, v in spec.items() if k not in _AGENT_KEYS}
        try:
            manager.create_agent(name, tools, details, model=model, **options)
        except (ConfigError, TypeError) as exc:
            raise ConfigError(f"{where}: {exc}") from None
    registry = Registry(manager, default=config.get("default"))
    for name, spec in (config.get("systems") or {}).items():
        where = f"{origin} systems.{name}"
        mode: Mode = spec.get("mode", "decentralized")
        if mode not in ("decentralized", "sequential", "hierarchical"):
            raise ConfigError(f"{where}: mode must be decentralized, sequential or hierarchical")
        options = {k: v for k, v in spec.items() if k in _SYSTEM_OPTIONS}
        supervisor = None
        if mode == "hierarchical":
            if "supervisor_model" not in spec:
                raise ConfigError(f"{where}: hierarchical needs supervisor_model")
            supervisor = SupervisorConfig(
                model=_model(spec["supervisor_model"], models, where, "supervisor"),
                supervisor_system_prompt=spec.get("supervisor_prompt"),
            )
        system = MultiAgentSystem(agentManager=manager, supervisor_config=supervisor, **options)
        registry.add_system(
            name,
            system,
            mode=mode,
            description=spec.get("description", ""),
            entry_agent=spec.get("entry_agent"),
            sequence=spec.get("sequence", ()),
        )
    if registry.default is not None and registry.default not in registry.targets:
        raise ConfigError(f"{origin}: default {registry.default!r} is not an agent or system")
    return registry
