"""The masai server: FastAPI app, targets, configuration, the built-in demo.

Needs the ``server`` extra (FastAPI, uvicorn); ``import masai`` never imports it.
"""

from ._config import load_registry, registry_from_mapping
from ._targets import Registry, Target
from .app import StreamRequest, create_app
from .demo import build_demo

__all__ = (
    "Registry",
    "StreamRequest",
    "Target",
    "build_demo",
    "create_app",
    "load_registry",
    "registry_from_mapping",
)
