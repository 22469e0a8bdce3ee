"""What is not an API call: the health check, the web UI, its static files and the API docs.

The UI and the docs are static shells: they hold no data, so they load without a key (the UI
asks for one and sends it with each API call). Nothing here loads from another origin: the
Swagger UI assets come from the ``fastapi-swagger`` package.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from ..exceptions import MasaiError
from ._routes import runtime_of

__all__ = ("STATIC", "docs_router", "router")

STATIC = Path(__file__).parent / "static"
#: The JS client ships in the wheel's static dir; in a source checkout it is read from js/.
CLIENT_DIRS = (STATIC, Path(__file__).resolve().parents[3] / "js")
_MEDIA = {
    ".js": "text/javascript",
    ".ts": "text/plain",
    ".css": "text/css",
    ".html": "text/html",
    ".png": "image/png",
}

router = APIRouter()
docs_router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz(request: Request) -> Response:
    """Liveness and load: run counts, tool threads, session memory. 503 while shutting down,
    so a load balancer stops sending new work."""
    runtime = runtime_of(request)
    health = runtime.health()
    if runtime.backend is not None:
        try:
            await runtime.backend.ping()
            health["backend"] = "ok"
        except MasaiError:
            health["backend"] = "unavailable"
            health["status"] = "degraded"
            return JSONResponse(health, 503)
    return JSONResponse(health, 503 if runtime.draining else 200)


@router.get("/", include_in_schema=False)
async def index() -> Response:
    return static_file(STATIC, "index.html")


@router.get("/static/{name}", include_in_schema=False)
async def static(name: str) -> Response:
    if name.startswith("masai-client."):
        for directory in CLIENT_DIRS:
            if (directory / name).is_file():
                return static_file(directory, name)
    return static_file(STATIC, name)


@docs_router.get("/docs")
async def docs() -> Response:
    return static_file(STATIC, "docs.html")


@docs_router.get("/docs/static/{name}")
async def docs_static(name: str) -> Response:
    if name == "docs.js":
        return static_file(STATIC, name)
    if name not in ("swagger-ui-bundle.js", "swagger-ui.css"):
        raise HTTPException(404, f"no such file: {name}")
    try:  # Swagger UI 5 (it reads OpenAPI 3.1), shipped inside the fastapi-swagger package
        assets = importlib.resources.files("fastapi_swagger") / "resources"
    except ModuleNotFoundError:
        raise HTTPException(404, "the API docs need: pip install 'masai[server]'") from None
    return static_file(Path(str(assets)), name)


def static_file(directory: Path, name: str) -> Response:
    path = (directory / name).resolve()
    if path.parent != directory.resolve() or not path.is_file():
        raise HTTPException(404, f"no such file: {name}")
    return FileResponse(
        path, media_type=_MEDIA.get(path.suffix), headers={"Cache-Control": "no-cache"}
    )
