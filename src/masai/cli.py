"""``masai serve`` and ``masai run``."""

from __future__ import annotations

import argparse
import asyncio
import errno
import gc
import logging
import os
import socket
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from ._views import JsonView, TerminalView, ask_approval, write_wire
from .exceptions import MasaiError

if TYPE_CHECKING:
    from .server._targets import Registry

__all__ = ("main",)

#: ``masai.streaming.encoders.WIRES`` (spelled out: ``--help`` imports no streaming code).
WIRES = ("spec", "openai-chat", "openai-responses", "ag-ui", "ai-sdk")

logger = logging.getLogger("masai.cli")


def _registry(config: str | None) -> Registry:
    from .server import build_demo, load_registry

    return load_registry(config) if config else build_demo()


# -- serve -----------------------------------------------------------------------------------

#: Settings with a flag of their own below; every other numeric setting gets ``--its-name``.
_SPECIAL = {"host", "api_keys", "insecure_no_auth", "allowed_hosts", "cors_origins", "docs"}
_SPECIAL |= {"debug", "write_interval", "backend"}


def serve(args: argparse.Namespace) -> int:
    from ._tracing import setup_from_environment
    from .server import ServerSettings, build_demo, check_exposure, create_app, load_config
    from .server._access import configure_logging
    from .server._serve import ConnectionLimits, MasaiServer

    # masai's own INFO lines (a client gone mid-upload, a stalled reader dropped) at the level
    # the operator asked for; other libraries stay at WARNING.
    logging.getLogger("masai").setLevel(args.log_level.upper())
    registry, from_file = load_config(args.config) if args.config else (build_demo(), {})
    settings = ServerSettings.build(
        from_file, ServerSettings.from_environment(), _flag_settings(args)
    )
    configure_logging(settings.log_format, args.log_level)  # (before anything else logs)
    check_exposure(settings)
    setup_from_environment()  # traces, only when OTEL_* variables ask for them
    app = create_app(registry, settings)
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host.strip("[]"), args.port))
    except OSError as exc:
        sock.close()
        where = f"{settings.host}:{args.port}"
        if exc.errno == errno.EADDRINUSE:
            raise MasaiError(
                f"cannot listen on {where}: port {args.port} is already in use (by another "
                "server?); stop it, choose another port with --port N, or use --port 0 for "
                "a free one"
            ) from None
        raise MasaiError(f"cannot listen on {where}: {exc.strerror or exc}") from None
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if family == socket.AF_INET6 else host

    def announce() -> None:  # the contract line clients wait for
        sys.stdout.write(f"masai serving on http://{shown}:{port}\n")
        sys.stdout.flush()

    server = MasaiServer(
        app,
        limits=ConnectionLimits(
            header_timeout=settings.header_timeout,
            max_header_bytes=settings.max_header_bytes,
            max_connections=settings.max_connections,
            send_timeout=settings.send_timeout,
            keep_alive_timeout=settings.keep_alive_timeout,
            shutdown_timeout=settings.shutdown_timeout,
        ),
        drain=app.state.runtime.drain,
        on_started=announce,
        log_level=args.log_level,
        log_config=None,  # (configured above)
    )
    # Everything loaded so far (the app, its libraries, the agents) lives as long as the
    # process: keep it out of the collector's full passes, which would otherwise stall every
    # stream for tens of milliseconds at a time.
    gc.collect()
    gc.freeze()
    server.run(sockets=[sock])  # (uvicorn's own loop choice: uvloop when installed)
    return 0


def worker(args: argparse.Namespace) -> int:
    from ._tracing import setup_from_environment
    from .server import ServerSettings, build_demo, load_config
    from .server._worker import run_worker

    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("masai").setLevel(args.log_level.upper())
    registry, from_file = load_config(args.config) if args.config else (build_demo(), {})
    settings = ServerSettings.build(
        from_file,
        ServerSettings.from_environment(),
        {"backend": args.backend} if args.backend else {},
    )
    if not settings.backend:
        raise MasaiError("a worker needs --backend redis://… (or MASAI_BACKEND)")
    setup_from_environment()  # traces, only when OTEL_* variables ask for them

    def announce(worker: Any) -> None:  # the line scripts and tests wait for
        sys.stdout.write(f"masai worker {worker.name} ready\n")
        sys.stdout.flush()

    asyncio.run(
        run_worker(
            registry,
            settings.backend,
            concurrency=args.concurrency,
            lease=args.worker_lease,
            max_step_attempts=args.max_step_attempts,
            retention=settings.run_retention,
            max_kept_bytes=settings.run_retention_max_bytes,
            session_ttl=settings.session_ttl,
            max_events=settings.run_log_max_events,
            approval_timeout=settings.approval_timeout,
            grace=args.grace,
            tool_threads=settings.tool_threads,
            on_started=announce,
        )
    )
    return 0


def _flag_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line (flags left unset say nothing)."""
    from .server import parse_api_keys

    given: dict[str, Any] = {"host": args.host} if args.host else {}
    if args.api_key:
        given["api_keys"] = parse_api_keys(args.api_key, "--api-key")
    if args.insecure_no_auth:
        given["insecure_no_auth"] = True
    if args.allowed_host:
        given["allowed_hosts"] = tuple(args.allowed_host)
    if args.cors_origin:
        given["cors_origins"] = tuple(args.cors_origin)
    if args.no_docs:
        given["docs"] = False
    if args.debug:
        given["debug"] = True
    if args.backend:
        given["backend"] = args.backend
    if args.log_format:
        given["log_format"] = args.log_format
    if args.write_interval_ms is not None:
        given["write_interval"] = args.write_interval_ms / 1000
    for name in _numeric_settings():
        value = getattr(args, name, None)
        if value is not None:
            given[name] = value
    return given


def _numeric_settings() -> dict[str, Any]:
    """The numeric settings, read off ``ServerSettings``: a new setting gets its flag and help
    text without anyone remembering to add one."""
    from .server import ServerSettings

    return {
        name: field
        for name, field in ServerSettings.model_fields.items()
        if name not in _SPECIAL and field.annotation in (int, float)
    }


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    for name, field in _numeric_settings().items():
        strict = any(getattr(m, "gt", None) is not None for m in field.metadata)
        parse = _count if field.annotation is int else _positive if strict else _non_negative
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=parse,
            default=None,
            help=f"{field.description} (default {field.default:g})"
            if isinstance(field.default, float)
            else f"{field.description} (default {field.default})",
        )


# -- run -------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    if args.server:
        if args.config:
            raise MasaiError("--config and --server exclude each other: the server has its own")
        try:
            return asyncio.run(_run_remote(args))
        except KeyboardInterrupt:
            return 130
    registry = _registry(args.config)
    name = args.agent or args.mas
    kind: Literal["agent", "system"] | None = (
        "agent" if args.agent else "system" if args.mas else None
    )
    target = registry.get(name, kind)
    try:
        return asyncio.run(_run(target, args))
    except KeyboardInterrupt:
        return 130


async def _run(target: Any, args: argparse.Namespace) -> int:
    from .streaming import EnhancedStreamHandler, Runs

    def work(ctx: Any) -> Any:
        return target.updates(args.query, session_id=args.session, context=ctx)

    handler = EnhancedStreamHandler(enable_token_events=True, enable_node_transitions=False)
    runs = Runs()
    handle = await runs.start(work, target=target.name, handler=handler)
    if args.wire:
        try:
            return await write_wire(handle, args.wire)
        finally:
            await runs.aclose()
    view = JsonView() if args.json else TerminalView()
    failed = False
    try:
        async for event in handle.events():
            view.show(event)
            failed |= event.event_type == "error"
            if event.event_type == "approval_required":
                approved, reason = await ask_approval(view, event.data.get("approval") or {})
                await handle.approve(
                    event.metadata["tool_call_id"], approved, reason=reason, by="terminal"
                )
    finally:
        view.close()
        await runs.aclose()
    return 1 if failed else 0


async def _run_remote(args: argparse.Namespace) -> int:
    """The same run on a masai server, shown the same way: started with ``POST /runs``, its
    events decoded back from the spec stream; tool calls that need approval are asked here
    and decided on the server."""
    import httpx

    body: dict[str, Any] = {"query": args.query, "token_events": True}
    if args.agent:
        body["agent"] = args.agent
    if args.mas:
        body["system"] = args.mas
    if args.session:
        body["session_id"] = args.session
    key = args.api_key or os.environ.get("MASAI_API_KEY")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    base = args.server.rstrip("/")
    view = JsonView() if args.json else TerminalView()
    try:
        async with httpx.AsyncClient(
            base_url=base, headers=headers, timeout=httpx.Timeout(30.0, read=None)
        ) as client:
            created = await client.post("/runs", json=body)
            if created.status_code != 201:
                raise MasaiError(
                    f"{base}/runs answered {created.status_code}: {await _reason(created)}"
                )
            return await _follow_remote(client, created.json()["run_id"], view)
    except httpx.HTTPError as exc:
        raise MasaiError(f"cannot stream from {base}: {exc}") from None
    finally:
        view.close()


async def _follow_remote(client: Any, run_id: str, view: Any) -> int:
    from .streaming import SSEDecoder, decode_chunk

    decoder, failed = SSEDecoder(), False
    async with client.stream("GET", f"/runs/{run_id}/events") as response:
        if response.status_code != 200:
            raise MasaiError(f"/runs/{run_id}/events answered {response.status_code}")
        async for text in response.aiter_text():
            for payload in decoder.feed(text):
                if (event := decode_chunk(payload)) is None:
                    continue
                view.show(event)
                failed |= event.event_type == "error"
                if event.event_type == "approval_required":
                    approved, reason = await ask_approval(view, event.data.get("approval") or {})
                    call_id = event.metadata["tool_call_id"]
                    decided = await client.post(
                        f"/runs/{run_id}/approvals/{call_id}",
                        json={"approved": approved, "reason": reason},
                    )
                    if decided.status_code != 200:
                        view.show_note(f"the decision was refused: {await _reason(decided)}")
    return 1 if failed else 0


async def _reason(response: Any) -> str:
    await response.aread()
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return str(response.text[:200] or response.reason_phrase)


# -- entry point -----------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="masai", description="Streamed multi-agent systems.")
    sub = top.add_subparsers(dest="command", required=True)

    _serve_parser(sub)

    _worker_parser(sub)

    r = sub.add_parser("run", help="stream one run in the terminal")
    r.add_argument("query")
    which = r.add_mutually_exclusive_group()
    which.add_argument("--agent", help="an agent's name")
    which.add_argument("--mas", help="a multi-agent system's name")
    r.add_argument("--config", help="TOML/YAML file or module[:attr]; default: the demo")
    r.add_argument("--session", help="session id, for conversation memory")
    r.add_argument("--server", metavar="URL", help="run on this masai server instead of here")
    r.add_argument("--api-key", help="the server's API key (or set MASAI_API_KEY)")
    out = r.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print one event per line as JSON")
    out.add_argument(
        "--wire",
        choices=WIRES,
        help="print the run as this protocol's frames, as its route sends them",
    )
    r.set_defaults(func=run)
    return top


def _serve_parser(sub: Any) -> None:
    s = sub.add_parser(
        "serve",
        help="serve the API and web UI",
        description="Serve the API and web UI. Every default is in docs/deploying.md; the "
        "config file's [server] table takes the same names (with _ for -).",
    )
    s.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    s.add_argument("--config", help="TOML/YAML file or module[:attr]; default: the demo")
    s.add_argument(
        "--api-key",
        action="append",
        metavar="NAME:KEY",
        help="accept this key for principal NAME (repeatable; or MASAI_API_KEYS=NAME:KEY,…)",
    )
    s.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="allow a non-loopback --host without keys (anyone reaching it can use it)",
    )
    s.add_argument(
        "--allowed-host", action="append", metavar="NAME", help="accept this Host (repeatable)"
    )
    s.add_argument(
        "--cors-origin", action="append", metavar="ORIGIN", help="allow this browser origin"
    )
    s.add_argument("--no-docs", action="store_true", help="do not serve /docs and /openapi.json")
    s.add_argument(
        "--write-interval-ms",
        type=_non_negative,
        default=None,
        help="while the server is busy, the least time between two writes to one stream "
        "(default 3; 0 never paces)",
    )
    s.add_argument(
        "--backend",
        metavar="URL",
        help="a shared backend (redis://…): queue runs for `masai worker`s, serve any run's "
        "events (or MASAI_BACKEND); default: execute runs in this process",
    )
    _add_setting_flags(s)
    s.add_argument("--debug", action="store_true", help="show error details in streams")
    s.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    s.add_argument(
        "--log-format",
        choices=["text", "json"],
        help="stderr log lines: text (default) or json objects (or MASAI_LOG_FORMAT)",
    )
    s.set_defaults(func=serve)


def _worker_parser(sub: Any) -> None:
    w = sub.add_parser(
        "worker",
        help="execute the runs servers queue on a shared backend",
        description="Execute runs queued by `masai serve --backend` servers. Start any number; "
        "a run whose worker dies is taken over by another from its last completed step.",
    )
    w.add_argument("--backend", metavar="URL", help="the servers' backend (or MASAI_BACKEND)")
    w.add_argument("--config", help="the servers' configuration (TOML/YAML or module[:attr])")
    w.add_argument("--concurrency", type=_count, default=16, help="runs at once (default 16)")
    w.add_argument(
        "--worker-lease",
        type=_positive,
        default=10.0,
        help="seconds without a heartbeat before another worker takes a run over (default 10)",
    )
    w.add_argument(
        "--max-step-attempts",
        type=_count,
        default=3,
        help="times a run is taken over from the same step before it fails (default 3)",
    )
    w.add_argument(
        "--grace",
        type=_non_negative,
        default=30.0,
        help="at SIGTERM, seconds the runs held may finish before others take them (default 30)",
    )
    w.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    w.set_defaults(func=worker)


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0:  # (NaN too)
        raise argparse.ArgumentTypeError(f"must be >= 0: {text}")
    return value


def _positive(text: str) -> float:
    value = _non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1: {text}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        code: int = args.func(args)
    except MasaiError as exc:
        sys.stderr.write(f"masai: {exc}\n")
        return 2
    except OSError as exc:
        sys.stderr.write(f"masai: {exc}\n")
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
