"""Every error leaves the server in one shape: ``{"error": {"message", "type", "code"}}``.

Routes and middleware raise ``ApiError``; the handlers installed here turn it, FastAPI's
validation errors and Starlette's HTTP errors into that shape once, at the boundary. Anything
unexpected is logged with its traceback and answered with a generic 500: internals never reach
a client.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from ..exceptions import MasaiError

__all__ = (
    "ERROR_RESPONSES",
    "ApiError",
    "ErrorBody",
    "error_bytes",
    "error_response",
    "install_handlers",
    "validation_message",
)

logger = logging.getLogger("masai.server")

_KINDS = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    503: "server_error",
}


#: The typed errors of the run API (``RunNotFound``, ``LogGone``, ``RunFinished``, …) by code.
_STATUS_OF_CODE = {
    "not_found": 404,
    "gone": 410,
    "conflict": 409,
    "backend_unavailable": 503,
    "too_many_runs": 429,
}


class ApiError(Exception):
    """A request that is answered with an error; ``headers`` go out with it (``Retry-After``,
    ``WWW-Authenticate``, ``Allow``)."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str,
        kind: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.kind = (
            kind
            or _KINDS.get(status)
            or ("server_error" if status >= 500 else "invalid_request_error")
        )
        self.headers = headers or {}

    def body(self) -> bytes:
        return error_bytes(self.message, self.kind, self.code)

    def response(self) -> Response:
        return Response(
            self.body(), self.status, headers=self.headers, media_type="application/json"
        )


def error_bytes(message: str, kind: str, code: str) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": kind, "code": code}})


def error_response(
    status: int, message: str, code: str, kind: str | None = None, **headers: str
) -> Response:
    return ApiError(status, message, code, kind, headers).response()


def validation_message(exc: ValidationError | RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        if len(loc) > 1 and loc[0] in ("body", "query", "header", "path"):
            loc = loc[1:]  # (where FastAPI found it; a field may be named "query" too)
        where = ".".join(str(p) for p in loc if p != "body")
        parts.append(f"{where or 'body'}: {err.get('msg')}")
    return "; ".join(parts)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> Response:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> Response:
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return error_response(400, "malformed JSON body", "invalid_json")
        return error_response(422, validation_message(exc), "invalid_request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Response:
        codes = {404: "not_found", 405: "method_not_allowed"}
        headers = dict(exc.headers or {})
        return error_response(
            exc.status_code, str(exc.detail), codes.get(exc.status_code, "http_error"), **headers
        )

    @app.exception_handler(MasaiError)
    async def _masai(_: Request, exc: MasaiError) -> Response:
        status = _STATUS_OF_CODE.get(exc.code)
        if status is None:
            logger.error("request failed", exc_info=exc)
            return error_response(500, "internal server error", "internal_error")
        if status == 503:  # (the backend is down: retryable, and nothing of it to show)
            return error_response(503, exc.public_message, exc.code, **{"Retry-After": "2"})
        if status == 429:
            return error_response(429, str(exc), exc.code, **{"Retry-After": "1"})
        return error_response(status, str(exc) or exc.public_message, exc.code)

    @app.exception_handler(Exception)
    async def _crash(_: Request, exc: Exception) -> Response:
        logger.error("request failed", exc_info=exc)
        return error_response(500, "internal server error", "internal_error")


class ErrorDetail(BaseModel):
    message: str
    type: str
    code: str


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


def _schema(description: str) -> dict[str, Any]:
    return {"description": description, "model": ErrorBody}


#: The error responses every API route documents in OpenAPI.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _schema("Malformed request (bad JSON, Host not allowed)"),
    401: _schema("Missing or wrong API key"),
    403: _schema("Cross-site request refused"),
    404: _schema("No such agent, system, session or run"),
    413: _schema("Body too large"),
    415: _schema("Body is not application/json"),
    422: _schema("Body does not fit the schema"),
    429: _schema("Too many runs or connections; see Retry-After"),
    503: _schema("The server is shutting down, or its backend (Redis) is unavailable"),
}
