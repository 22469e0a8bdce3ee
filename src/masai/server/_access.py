"""The access log, and the format of every log line ``masai serve`` writes.

``AccessLog`` wraps the app (outside the gate, so refused requests are logged too) and writes
exactly one line per HTTP request to the ``masai.access`` logger, at INFO, once the response
has ended: for a stream, when its last byte went out (or its client left), so the duration is
the whole stream's. A line holds the method, the path (never the query string: it may hold a
secret), the status, the duration in ms, the run id (from the response's ``X-Masai-Run-Id``)
and the principal (the name of the API key the gate admitted, never the key). It replaces
uvicorn's own access log, which ``MasaiServer`` turns off.

``configure_logging`` sets up the root, ``masai`` and ``uvicorn`` loggers with one stderr
handler, in ``text`` (a compact human line) or ``json`` (one object per line) format.
"""

from __future__ import annotations

import logging
import logging.config
import time
from typing import Any, Literal

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._gate import key_name_of

__all__ = (
    "ACCESS_LOGGER",
    "AccessLog",
    "JsonFormatter",
    "TextFormatter",
    "configure_logging",
    "refused",
)

#: The logger of the access lines.
ACCESS_LOGGER = "masai.access"
LogFormat = Literal["text", "json"]

access_logger = logging.getLogger(ACCESS_LOGGER)

_RUN_HEADER = b"x-masai-run-id"
#: The bytes a path is logged with as they are; anything else is escaped (``\\xNN``), so a
#: path can never forge a second line or a JSON field.
_PRINTABLE = frozenset(range(0x21, 0x7F)) - {ord("\\")}


class AccessLog:
    """One ``masai.access`` line per HTTP request (plain ASGI: a streamed response pays one
    function call per write). Costs nothing when the logger is off (``--log-level warning``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not access_logger.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        clock = time.perf_counter
        began = clock()
        ended: float | None = None  # when the last byte went out, or the client left
        status: int | None = None
        run_id: str | None = None
        disconnected = False

        async def sending(message: Message) -> None:
            nonlocal status, run_id, ended, disconnected
            kind = message["type"]
            if kind == "http.response.body":
                if not message.get("more_body", False) and ended is None:
                    ended = clock()
            elif kind == "http.response.start":
                status = message["status"]
                run_id = _header(message.get("headers", ()), _RUN_HEADER)
            try:
                await send(message)
            except OSError:  # (the client vanished mid-write)
                disconnected = True
                if ended is None:
                    ended = clock()
                raise

        async def receiving() -> Message:
            nonlocal ended, disconnected
            message = await receive()
            if message["type"] == "http.disconnect" and ended is None:  # left before the end
                disconnected = True
                ended = clock()
            return message

        try:
            await self.app(scope, receiving, sending)
        except Exception:
            if status is None:
                status = 500  # (what the error middleware outside, or uvicorn, answers)
            raise
        finally:
            if ended is None:
                ended = clock()
            _write(scope, status, (ended - began) * 1000, run_id, disconnected)


def _header(headers: Any, name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _path(scope: Scope) -> str:
    """The path as the client sent it (percent-encoded), without the query string."""
    raw = scope.get("raw_path")
    if raw is None:
        raw = scope["path"].encode("utf-8")
    if all(b in _PRINTABLE for b in raw):
        return str(raw.decode("ascii"))
    return "".join(chr(b) if b in _PRINTABLE else f"\\x{b:02x}" for b in raw)


def _write(
    scope: Scope, status: int | None, duration_ms: float, run_id: str | None, disconnected: bool
) -> None:
    method: str = scope["method"]
    path = _path(scope)
    principal = key_name_of(scope)
    fields = {
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": round(duration_ms, 3),
        "run_id": run_id,
        "principal": principal,
        "disconnected": disconnected,
    }
    access_logger.info(
        "%s %s %s %.1fms run=%s principal=%s%s",
        method,
        path,
        "-" if status is None else status,
        duration_ms,
        run_id or "-",
        principal or "-",
        " disconnected" if disconnected else "",
        extra={"access": fields},
    )


def refused(status: int) -> None:
    """The line of a request the server answered before it reached the app (past
    ``max_connections``: 429; a request head too large or too slow: 431, 408), whose method and
    path may not even have arrived."""
    if not access_logger.isEnabledFor(logging.INFO):
        return
    fields = {
        "method": None,
        "path": None,
        "status": status,
        "duration_ms": 0.0,
        "run_id": None,
        "principal": None,
        "disconnected": False,
    }
    access_logger.info("- - %s 0.0ms run=- principal=- refused", status, extra={"access": fields})


# -- formats ---------------------------------------------------------------------------------


def _timestamp(record: logging.LogRecord) -> str:
    """ISO 8601 in UTC, to the millisecond."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{stamp}.{int(record.msecs):03d}Z"


class TextFormatter(logging.Formatter):
    """``2026-01-02T03:04:05.678Z INFO masai.access: GET /healthz 200 0.4ms run=- principal=-``"""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _timestamp(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``msg``, the access fields on
    access lines, and ``exc`` (the traceback, as one string) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        access = getattr(record, "access", None)
        if isinstance(access, dict):
            line.update(access)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(line, default=str).decode()


def logging_config(log_format: LogFormat, level: str) -> dict[str, Any]:
    """The ``dictConfig`` of ``masai serve``: one stderr handler on the root logger in the
    chosen format; masai's and uvicorn's loggers at ``level``, other libraries at WARNING;
    uvicorn's access logger silent (``AccessLog`` replaces it)."""
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"masai": {"()": formatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "masai",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": "WARNING", "handlers": ["stderr"]},
        "loggers": {
            "masai": {"level": level},
            "uvicorn": {"level": level, "handlers": [], "propagate": True},
            "uvicorn.error": {"level": level, "handlers": [], "propagate": True},
            "uvicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
        },
    }


def configure_logging(log_format: LogFormat, level: str) -> None:
    """Every log line of this process (and Python's warnings) to stderr in ``log_format``."""
    logging.config.dictConfig(logging_config(log_format, level))
    logging.captureWarnings(True)
