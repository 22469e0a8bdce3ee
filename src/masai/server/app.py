"""The FastAPI app: the spec's streaming routes, an OpenAI-compatible endpoint, the web UI.

``create_app`` only assembles: the access log (``_access``) around the gate (host, origin, key,
body; ``_gate``) in front of the routes (``_routes``, ``_openai_routes``, ``_pages``), one error
shape (``_errors``), and the runtime that owns runs, caps and counters (``_runtime``).
Per-request state lives in each run's ``EventStream``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI

from . import (
    _agui_routes,
    _aisdk_routes,
    _metrics,
    _openai_routes,
    _pages,
    _responses_routes,
    _routes,
    _runs_routes,
)
from ._access import AccessLog
from ._errors import install_handlers
from ._gate import Gate
from ._routes import StreamRequest
from ._runtime import Runtime
from ._settings import ServerSettings
from ._targets import Registry

__all__ = ("StreamRequest", "create_app")


def create_app(
    registry: Registry | None = None,
    settings: ServerSettings | None = None,
    *,
    api_key: str | None = None,
    **overrides: Any,
) -> FastAPI:
    """The masai server for ``registry`` (the built-in demo when omitted).

    ``settings`` holds every option (``ServerSettings``: keys, limits, timeouts, hosts, CORS);
    keyword ``overrides`` replace single fields (``create_app(reg, max_runs=10)``), and
    ``api_key`` is one key for principal ``default``. Every event is written the moment it is
    ready while the process has CPU to spare; from ``pacing_load`` of one CPU on, writes to
    one stream are ``write_interval`` seconds apart and events in between share a write.
    """
    base = settings.model_dump() if settings is not None else {}
    keys = {"api_keys": {"default": api_key}} if api_key else {}
    settings = ServerSettings.build(base, overrides, keys)
    if registry is None:
        from .demo import build_demo

        registry = build_demo()
    runtime = Runtime(registry, settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await runtime.aclose()

    app = FastAPI(
        title="masai",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.docs else None,
    )
    app.state.runtime = runtime
    app.state.registry = registry
    install_handlers(app)
    app.include_router(_routes.router)
    app.include_router(_runs_routes.router)
    app.include_router(_openai_routes.router)
    app.include_router(_responses_routes.router)
    app.include_router(_agui_routes.router)
    app.include_router(_aisdk_routes.router)
    app.include_router(_pages.router)
    app.include_router(_metrics.router())
    if settings.docs:
        app.include_router(_pages.docs_router)
    app.add_middleware(Gate, settings=settings)
    app.add_middleware(AccessLog)  # (added last: outside the gate, so refusals are logged)
    return app
