"""Every setting of ``masai serve`` in one validated object, with the defaults and why.

Settings come from three places, later ones winning: the ``[server]`` table of a config file,
the environment (``MASAI_API_KEYS``, ``MASAI_API_KEY``) and the command line. API keys are the
union of all three (one principal named twice is an error, so a key is never silently replaced).

The defaults are safe on a laptop *and* on a server: a keyless server only listens on loopback
(``check_exposure``), every resource a client can hold (a socket, a run, a thread, memory) has a
cap and a timeout, and a request from another site is refused.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..exceptions import ConfigError

__all__ = (
    "LOCAL_PRINCIPAL",
    "ServerSettings",
    "check_exposure",
    "host_allow_list",
    "is_loopback",
    "parse_api_keys",
)

logger = logging.getLogger("masai.server")

#: The one owner of everything on a keyless (loopback-only) server.
LOCAL_PRINCIPAL = "local"
#: The principal of a key given without a name (``--api-key KEY``, ``MASAI_API_KEY``).
DEFAULT_PRINCIPAL = "default"

_PRINCIPAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}$")
_KEY = re.compile(r"^[\x21-\x7e]{8,512}$")  # printable ASCII, no spaces: fits a header as is
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


class ServerSettings(BaseModel):
    """What ``masai serve`` (and ``create_app``) accept, every field with its default.

    Durations are seconds. See docs/deploying.md for what each protects against.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(
        default="127.0.0.1", description="the address to listen on; decides the safe defaults"
    )

    # -- who may call ------------------------------------------------------------------------
    api_keys: dict[str, str] = Field(
        default_factory=dict,
        description="principal → API key; none: a loopback-only server with one local owner",
    )
    insecure_no_auth: bool = Field(
        default=False, description="serve a non-loopback address without keys (never do this)"
    )
    allowed_hosts: tuple[str, ...] | None = Field(
        default=None,
        description="Host header allow-list (* any); default: the loopback names on loopback, "
        "any host elsewhere (keys are required there)",
    )
    cors_origins: tuple[str, ...] = Field(
        default=(), description="browser origins allowed to call the API (CORS); none: same origin"
    )
    docs: bool = Field(default=True, description="serve /docs and /openapi.json (assets local)")
    backend: str | None = Field(
        default=None,
        description="a shared backend (redis://…): runs are queued for `masai worker`s and "
        "any server serves any run; none: this process executes its runs (in memory)",
        repr=False,  # (a URL may hold a password)
    )

    # -- requests ----------------------------------------------------------------------------
    max_body_bytes: int = Field(default=1_000_000, ge=1_024, description="largest request body")
    body_timeout: float = Field(
        default=30.0, gt=0, description="seconds to receive a whole body once the headers are in"
    )
    header_timeout: float = Field(
        default=30.0,
        gt=0,
        description="seconds to receive a request's headers, in total (a trickle is cut off)",
    )
    max_header_bytes: int = Field(default=65_536, ge=1_024, description="largest request head")
    send_timeout: float = Field(
        default=60.0,
        gt=0,
        description="a client that accepts no bytes this long is disconnected (run cancelled)",
    )
    keep_alive_timeout: float = Field(
        default=5.0, gt=0, description="idle seconds before a keep-alive connection is closed"
    )
    max_connections: int = Field(
        default=4_096, ge=1, description="open connections in all; beyond it new ones get 429"
    )

    # -- runs --------------------------------------------------------------------------------
    max_runs: int = Field(default=1_000, ge=1, description="runs in flight, all principals")
    max_runs_per_principal: int = Field(
        default=100, ge=1, description="runs in flight for one principal"
    )
    run_rate: float = Field(
        default=20.0, gt=0, description="new runs per second for one principal (after a burst)"
    )
    run_burst: int = Field(
        default=100, ge=1, description="new runs one principal may start at once"
    )
    global_run_rate: float = Field(
        default=200.0, gt=0, description="new runs per second, all principals (after a burst)"
    )
    global_run_burst: int = Field(
        default=1_000, ge=1, description="new runs that may start at once, all principals"
    )
    tool_threads: int = Field(
        default=1_024,
        ge=1,
        description="threads for sync tools, made as needed (most wait on I/O, not CPU)",
    )

    # -- conversation memory -----------------------------------------------------------------
    session_max_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1_024, description="conversation memory in all, in bytes"
    )
    session_max_count: int = Field(
        default=10_000, ge=1, description="conversation histories kept (per agent and session)"
    )
    session_ttl: float = Field(
        default=24 * 3600.0, gt=0, description="seconds a session is kept unused"
    )
    run_retention: float = Field(
        default=600.0,
        ge=0,
        description="seconds a finished run and its event log are kept (then 410 Gone)",
    )
    run_log_max_events: int = Field(
        default=100_000,
        ge=1,
        description="most events a run's log keeps; older ones are dropped first (then 410)",
    )
    run_retention_max_bytes: int = Field(
        default=64 * 2**20,
        ge=1,
        description="most bytes the logs of finished runs hold together; beyond it the "
        "oldest finished runs are forgotten before their retention ends (then 410)",
    )
    approval_timeout: float = Field(
        default=3600.0,
        gt=0,
        description="seconds a tool call waits for approval before its run ends",
    )

    # -- streams -----------------------------------------------------------------------------
    ping_interval: float = Field(
        default=15.0, gt=0, description="seconds of silence before a `: ping` frame"
    )
    write_interval: float = Field(
        default=0.003,
        ge=0,
        description="while busy, the least seconds between two writes to a stream (0: never)",
    )
    pacing_load: float = Field(
        default=0.5, ge=0, description="CPU load (fraction of one CPU) from which writes are paced"
    )
    shutdown_timeout: float = Field(
        default=30.0,
        ge=0,
        description="on SIGTERM, seconds runs may finish before they are stopped",
    )
    debug: bool = Field(default=False, description="error frames carry exception text")

    # -- logs --------------------------------------------------------------------------------
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="stderr log lines: text (a compact line) or json (one object per line)",
    )

    @field_validator("api_keys")
    @classmethod
    def _valid_keys(cls, keys: dict[str, str]) -> dict[str, str]:
        seen: dict[str, str] = {}
        for principal, key in keys.items():
            if not _PRINCIPAL.match(principal):
                raise ValueError(
                    f"principal {principal!r}: use letters, digits and _ . @ + - (at most 64)"
                )
            if not _KEY.match(key):
                raise ValueError(
                    f"the key of {principal!r} must be 8 to 512 printable characters, no spaces"
                )
            if key in seen:
                raise ValueError(f"{seen[key]!r} and {principal!r} have the same key")
            seen[key] = principal
        return keys

    @field_validator("allowed_hosts", "cors_origins", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        return tuple(value.split(",")) if isinstance(value, str) else value

    @classmethod
    def build(cls, *layers: Mapping[str, Any]) -> ServerSettings:
        """Settings from layers of overrides, later ones winning, ``api_keys`` merged."""
        merged: dict[str, Any] = {}
        keys: dict[str, str] = {}
        for layer in layers:
            for name, value in layer.items():
                if name != "api_keys":
                    merged[name] = value
                    continue
                if not isinstance(value, Mapping):
                    raise ConfigError("api_keys must map principal names to keys")
                for principal, key in value.items():
                    if principal in keys and keys[principal] != key:
                        raise ConfigError(f"the principal {principal!r} is given two keys")
                    keys[str(principal)] = key
        try:
            return cls(**merged, api_keys=keys)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'server'}: {e['msg']}"
                for e in exc.errors()
            )
            raise ConfigError(f"server settings: {problems}") from None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The overrides the environment gives: ``MASAI_API_KEYS="alice:KEY1,bob:KEY2"`` and
        ``MASAI_API_KEY=KEY`` (one key, principal ``default``)."""
        env = os.environ if environ is None else environ
        keys: dict[str, str] = {}
        if env.get("MASAI_API_KEYS", "").strip():
            keys |= parse_api_keys(env["MASAI_API_KEYS"].split(","), "MASAI_API_KEYS")
        if env.get("MASAI_API_KEY", "").strip():
            keys |= parse_api_keys([env["MASAI_API_KEY"]], "MASAI_API_KEY", named=False)
        found: dict[str, Any] = {"api_keys": keys} if keys else {}
        if env.get("MASAI_BACKEND", "").strip():
            found["backend"] = env["MASAI_BACKEND"].strip()
        if env.get("MASAI_RUN_RETENTION", "").strip():
            found["run_retention"] = env["MASAI_RUN_RETENTION"].strip()
        if env.get("MASAI_LOG_FORMAT", "").strip():
            found["log_format"] = env["MASAI_LOG_FORMAT"].strip().lower()
        return found

    @property
    def auth_required(self) -> bool:
        return bool(self.api_keys)


def parse_api_keys(items: list[str], origin: str, *, named: bool = True) -> dict[str, str]:
    """``NAME:KEY`` items (or a bare ``KEY``, principal ``default``) as principal → key."""
    keys: dict[str, str] = {}
    for raw in items:
        item = raw.strip()
        if not item:
            continue
        principal, sep, key = item.partition(":")
        if not named or not sep:
            principal, key = DEFAULT_PRINCIPAL, item
        principal, key = principal.strip(), key.strip()
        if principal in keys:
            raise ConfigError(f"{origin}: the principal {principal!r} is given twice")
        keys[principal] = key
    return keys


def is_loopback(host: str) -> bool:
    """Whether a bind address only accepts connections from this machine."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_exposure(settings: ServerSettings) -> None:
    """Refuse to serve a network without keys: a default that is safe on a laptop must not
    become an open server because someone typed ``--host 0.0.0.0``."""
    host = settings.host
    if is_loopback(host) or settings.auth_required:
        return
    if not settings.insecure_no_auth:
        raise ConfigError(
            f"refusing to listen on {host} without API keys: anyone on the network could run "
            "agents and read sessions. Give keys (--api-key NAME:KEY, MASAI_API_KEYS or "
            "[server.api_keys] in the config file), or pass --insecure-no-auth to serve it "
            "open anyway."
        )
    logger.warning("serving %s with no authentication (--insecure-no-auth)", host)


def host_allow_list(settings: ServerSettings) -> tuple[str, ...]:
    """The ``Host`` names this server answers to (lower case, no port; ``*`` any)."""
    if settings.allowed_hosts is not None:
        return tuple(h.strip().lower() for h in settings.allowed_hosts if h.strip())
    if is_loopback(settings.host):
        return _LOOPBACK_NAMES
    return ("*",)
