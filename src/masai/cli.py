"""``masai serve`` and ``masai run``."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import socket
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from .exceptions import MasaiError

if TYPE_CHECKING:
    from .server._targets import Registry

__all__ = ("main",)

logger = logging.getLogger("masai.cli")


def _registry(config: str | None) -> Registry:
    from .server import build_demo, load_registry

    return load_registry(config) if config else build_demo()


# -- serve -----------------------------------------------------------------------------------


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .server import create_app

    app = create_app(
        _registry(args.config),
        ping_interval=args.ping_interval,
        write_interval=args.write_interval_ms / 1000,
        pacing_load=args.pacing_load,
        api_key=args.api_key or os.environ.get("MASAI_API_KEY") or None,
        debug=args.debug,
    )
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if family == socket.AF_INET6 else host

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:  # the contract line clients wait for
                sys.stdout.write(f"masai serving on http://{shown}:{port}\n")
                sys.stdout.flush()

    server = Server(uvicorn.Config(app, log_level=args.log_level, access_log=False))
    # Everything loaded so far (the app, its libraries, the agents) lives as long as the
    # process: keep it out of the collector's full passes, which would otherwise stall every
    # stream for tens of milliseconds at a time.
    gc.collect()
    gc.freeze()
    server.run(sockets=[sock])  # (uvicorn's own loop choice: uvloop when installed)
    return 0


# -- run -------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
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
    from .streaming import EnhancedStreamHandler

    async def drive() -> Any:
        final = None
        async for update in target.updates(args.query, session_id=args.session):
            final = update
        return final

    handler = EnhancedStreamHandler(enable_token_events=True, enable_node_transitions=False)
    stream = handler.open_stream(drive)
    view = _JsonView() if args.json else _TerminalView()
    stream.start()
    try:
        while (batch := await stream.next_batch()) is not None:
            for event in batch:
                view.show(event)
    finally:
        await stream.aclose()
        view.close()
    if stream.error is not None:
        error = handler.error_event(stream, stream.error)
        view.show(stream.stamp(error))
        return 1
    return 0


class _JsonView:
    def show(self, event: Any) -> None:
        from . import _json

        sys.stdout.write(_json.dumps_str(event.to_dict()) + "\n")
        sys.stdout.flush()

    def close(self) -> None:
        pass


class _TerminalView:
    """Events as they happen; progress bars from ``custom_data.progress``; the final answer
    written out token by token."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TaskID, TextColumn

        self.console = Console(highlight=False)
        self.progress = Progress(
            TextColumn("  {task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            console=self.console,
        )
        self.bars: dict[str, TaskID] = {}
        self.streaming = False
        self.progress.start()

    def _line(self, text: str, style: str = "") -> None:
        self._end_answer()
        self.progress.console.print(text, style=style, markup=False)

    def _end_answer(self) -> None:
        if self.streaming:
            sys.stdout.write("\n")
            self.streaming = False
            self.progress.start()

    def show(self, event: Any) -> None:
        data, md = event.data, event.metadata
        agent = md.get("agent") or "-"
        kind = event.event_type
        if kind == "token" and not md.get("intermediate"):
            if not self.streaming:
                self.progress.stop()
                self.console.print(f"💬 {agent}: ", end="", style="bold green", markup=False)
                self.streaming = True
            sys.stdout.write(str(data.get("content", "")))
            sys.stdout.flush()
        elif kind == "reasoning":
            self._line(f"💭 {agent}: {data.get('reasoning', '')}", "dim")
        elif kind == "tool_call":
            self._line(f"🔧 {agent} → {data.get('tool_name')}({data.get('tool_input')})", "cyan")
        elif kind == "custom":
            self._bar(md.get("tool_call_id") or agent, data)
        elif kind == "tool_output":
            output = str(data.get("output", ""))
            short = output if len(output) < 300 else output[:300] + "…"
            error = bool(data.get("is_error"))
            self._line(f"📤 {data.get('tool_name')}: {short}", "red" if error else "")
        elif kind == "handoff":
            self._line(
                f"🤝 {data.get('from_agent')} → {data.get('to_agent')}: {data.get('reason', '')}",
                "magenta",
            )
        elif kind == "memory_update":
            self._line(f"🧠 {data.get('agent')} set {data.get('key')}", "dim")
        elif kind == "answer":
            if self.streaming:
                self._end_answer()
            elif md.get("intermediate"):
                self._line(f"✅ {agent}: {data.get('answer', '')}", "green")
            else:
                self._line(f"💬 {agent}: {data.get('answer', '')}", "bold green")
        elif kind == "error":
            self._line(f"❌ {data.get('error')}", "bold red")

    def _bar(self, key: str, data: dict[str, Any]) -> None:
        custom = data.get("custom_data") or {}
        progress = custom.get("progress")
        description = str(data.get("content", ""))[:60]
        if not isinstance(progress, int | float):
            self._line(f"   {description}", "dim")
            return
        self._end_answer()
        if key not in self.bars:
            self.bars[key] = self.progress.add_task(description, total=100)
        self.progress.update(
            self.bars[key], completed=float(progress) * 100, description=description
        )

    def close(self) -> None:
        self._end_answer()
        self.progress.stop()


# -- entry point -----------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="masai", description="Streamed multi-agent systems.")
    sub = top.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="serve the API and web UI")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    s.add_argument("--config", help="TOML/YAML file or module[:attr]; default: the demo")
    s.add_argument(
        "--ping-interval", type=_positive, default=15.0, help="seconds of silence before a ping"
    )
    s.add_argument(
        "--write-interval-ms",
        type=_non_negative,
        default=3.0,
        help="while the server is busy, the least time between two writes to one stream "
        "(default 3; 0 never paces)",
    )
    s.add_argument(
        "--pacing-load",
        type=_non_negative,
        default=0.5,
        help="CPU load (fraction of one CPU) from which writes are paced (default 0.5)",
    )
    s.add_argument("--api-key", help="require this bearer token (or set MASAI_API_KEY)")
    s.add_argument("--debug", action="store_true", help="show error details in streams")
    s.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    s.set_defaults(func=serve)

    r = sub.add_parser("run", help="stream one run in the terminal")
    r.add_argument("query")
    which = r.add_mutually_exclusive_group()
    which.add_argument("--agent", help="an agent's name")
    which.add_argument("--mas", help="a multi-agent system's name")
    r.add_argument("--config", help="TOML/YAML file or module[:attr]; default: the demo")
    r.add_argument("--session", help="session id, for conversation memory")
    r.add_argument("--json", action="store_true", help="print one event per line as JSON")
    r.set_defaults(func=run)
    return top


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
