"""The gate every HTTP request passes before it reaches a route: one place decides who may ask.

In order: the ``Host`` header (DNS rebinding), CORS preflights, cross-site state changes (a
page on another site must not start runs with the user's network position or key), the API
key (which names the principal that owns what the request creates or reads), and the body
(JSON only, bounded in size and in time; read here in full, so routes never wait on a slow
upload and a client that leaves mid-upload is one INFO line, not a traceback). Every response
leaves with security headers. It is plain ASGI: a streamed response pays one function call per
write, nothing per event.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._errors import ApiError
from ._settings import LOCAL_PRINCIPAL, ServerSettings, host_allow_list

__all__ = ("Gate", "key_name_of", "principal_of")

logger = logging.getLogger("masai.server")

#: Reachable without a key: the health check, and the UI's and docs' static shells (they hold
#: no data; the UI asks for a key and sends it with every API call).
_OPEN_PATHS = frozenset({"/", "/healthz", "/docs"})
_OPEN_PREFIXES = ("/static/", "/docs/static/")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", _CSP.encode()),
]
_CORS_ALLOW = [
    (b"access-control-allow-methods", b"GET, POST, DELETE, OPTIONS"),
    (b"access-control-allow-headers", b"authorization, content-type, last-event-id"),
    (b"access-control-max-age", b"600"),
]
_CORS_EXPOSE = (b"access-control-expose-headers", b"x-masai-session-id, retry-after")


def principal_of(request: Request) -> str:
    """Who is asking: the principal the gate authenticated (set on every API request)."""
    principal: str = request.scope["state"]["principal"]
    return principal


def key_name_of(scope: Scope) -> str | None:
    """The name of the API key the gate admitted this request with (for the access log);
    None when no key was needed or the request was refused. Never the key itself."""
    name: str | None = (scope.get("state") or {}).get("key_name")
    return name


class Gate:
    def __init__(self, app: ASGIApp, settings: ServerSettings) -> None:
        self.app = app
        self.hosts = frozenset(host_allow_list(settings))
        self.any_host = "*" in self.hosts
        self.cors = frozenset(o.strip().rstrip("/").lower() for o in settings.cors_origins)
        #: sha256 of each key: compared in constant time, and the keys are not kept around.
        self.keys = [(_digest(k), p) for p, k in settings.api_keys.items()]
        self.max_body = settings.max_body_bytes
        self.body_timeout = settings.body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        extra = list(_SECURITY_HEADERS)
        if origin is not None and origin.rstrip("/").lower() in self.cors:
            extra += [(b"access-control-allow-origin", origin.encode()), (b"vary", b"Origin")]
            extra.append(_CORS_EXPOSE)
        reply = _with_headers(send, extra)
        try:
            if self._preflight(scope, headers, origin):
                await _respond(reply, 204, b"", _CORS_ALLOW)
                return
            scope.setdefault("state", {})["principal"] = self._admit(scope, headers, origin)
            receive = await self._body(scope, headers, receive)
        except ApiError as exc:
            await _respond(reply, exc.status, exc.body(), _encode(exc.headers), json=True)
            return
        except _ClientLeft:
            return
        await self.app(scope, receive, reply)

    # -- checks --------------------------------------------------------------------------------
    def _preflight(self, scope: Scope, headers: Headers, origin: str | None) -> bool:
        if scope["method"] != "OPTIONS" or "access-control-request-method" not in headers:
            return False
        self._check_host(headers)
        if origin is None or origin.rstrip("/").lower() not in self.cors:
            raise ApiError(403, "this origin may not call the API", "origin_not_allowed")
        return True

    def _admit(self, scope: Scope, headers: Headers, origin: str | None) -> str:
        """The principal, once the host, the origin and the key check out."""
        host = self._check_host(headers)
        method = scope["method"]
        if method not in _SAFE_METHODS:
            if origin is not None:
                if not (_same_origin(origin, host) or origin.rstrip("/").lower() in self.cors):
                    raise ApiError(403, "cross-site request refused", "cross_site")
            elif headers.get("sec-fetch-site") == "cross-site":
                raise ApiError(403, "cross-site request refused", "cross_site")
        if not self.keys:
            return LOCAL_PRINCIPAL
        path: str = scope["path"]
        if method in ("GET", "HEAD") and (path in _OPEN_PATHS or path.startswith(_OPEN_PREFIXES)):
            return LOCAL_PRINCIPAL  # (these routes own nothing)
        principal = self._authenticate(headers.get("authorization"))
        scope.setdefault("state", {})["key_name"] = principal  # (see key_name_of)
        return principal

    def _check_host(self, headers: Headers) -> str:
        host = headers.get("host", "")
        if self.any_host:
            return host
        name = _host_name(host)
        if name not in self.hosts:
            raise ApiError(400, "this Host is not served here", "host_not_allowed")
        return host

    def _authenticate(self, authorization: str | None) -> str:
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not given or given != given.strip():
            raise ApiError(
                401,
                "an API key is required: Authorization: Bearer <key>",
                "unauthorized",
                headers={"WWW-Authenticate": 'Bearer realm="masai"'},
            )
        digest = _digest(given)
        found = None
        for known, principal in self.keys:  # every key compared: the time says nothing
            if hmac.compare_digest(known, digest):
                found = principal
        if found is None:
            raise ApiError(
                401,
                "wrong API key",
                "unauthorized",
                headers={"WWW-Authenticate": 'Bearer realm="masai", error="invalid_token"'},
            )
        return found

    async def _body(self, scope: Scope, headers: Headers, receive: Receive) -> Receive:
        """Read a request body in full (JSON, bounded) and hand the route a replay of it."""
        if scope["method"] in _SAFE_METHODS:
            return receive
        declared = headers.get("content-length")
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        if declared is not None and not declared.isdigit():
            raise ApiError(400, "malformed Content-Length", "invalid_request")
        if not chunked and int(declared or 0) == 0:
            return receive  # no body (the spec's ?query= form)
        if int(declared or 0) > self.max_body:
            raise ApiError(413, f"request body over {self.max_body} bytes", "body_too_large")
        if not _is_json(headers.get("content-type")):
            raise ApiError(415, "send the body as Content-Type: application/json", "unsupported")
        try:
            async with asyncio.timeout(self.body_timeout):
                body = await self._read(receive)
        except TimeoutError:
            raise ApiError(
                408, f"the body took over {self.body_timeout:g} s to arrive", "body_timeout"
            ) from None
        return _replay(body, receive)

    async def _read(self, receive: Receive) -> bytes:
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                logger.info("client left during its upload (%d bytes received)", len(body))
                raise _ClientLeft
            body += message.get("body", b"")
            if len(body) > self.max_body:
                raise ApiError(413, f"request body over {self.max_body} bytes", "body_too_large")
            if not message.get("more_body", False):
                return bytes(body)


class _ClientLeft(Exception):
    pass


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def _host_name(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:8000
        return host[: host.find("]") + 1]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _same_origin(origin: str, host: str) -> bool:
    """The page that sent it was served by this server (same host and port)."""
    try:
        netloc = urlsplit(origin).netloc
    except ValueError:
        return False
    return bool(netloc) and netloc.lower() == host.strip().lower()


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").partition(";")[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _encode(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode(), v.encode()) for k, v in headers.items()]


def _replay(body: bytes, receive: Receive) -> Receive:
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # (then only http.disconnect)

    return replay


def _with_headers(send: Send, extra: Iterable[tuple[bytes, bytes]]) -> Send:
    extra = list(extra)

    async def reply(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), *extra]
        await send(message)

    return reply


async def _respond(
    send: Callable[[Message], Awaitable[None]],
    status: int,
    body: bytes,
    headers: list[tuple[bytes, bytes]],
    *,
    json: bool = False,
) -> None:
    head: list[Any] = list(headers)
    if json:
        head.append((b"content-type", b"application/json"))
    head.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body, "more_body": False})
