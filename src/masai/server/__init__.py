"""The masai server: FastAPI app, targets, configuration, the built-in demo.

Needs the ``server`` extra (FastAPI, uvicorn); ``import masai`` never imports it.
"""

from ._config import load_config, load_registry, registry_from_mapping
from ._settings import ServerSettings, check_exposure, parse_api_keys
from ._targets import Registry, Target
from .app import StreamRequest, create_app
from .demo import build_demo

__all__ = (
    "Registry",
    "ServerSettings",
    "StreamRequest",
    "Target",
    "build_demo",
    "check_exposure",
    "create_app",
    "load_config",
    "load_registry",
    "parse_api_keys",
    "registry_from_mapping",
)
