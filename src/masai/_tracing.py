"""OpenTelemetry traces of runs: run → agent → node → model call / tool, with the GenAI
semantic conventions (``gen_ai.*``) and the run's id (``masai.run_id``) on every span.

All of masai's OpenTelemetry code is here; call sites use the small interface below and never
import ``opentelemetry``. The API is imported the first time a span is started (never by
``import masai``). Without it every hook is a no-op; with it but no tracer provider configured,
the API's default tracer makes no spans and this module hands out a shared no-op handle.
Nothing is exported unless configured: ``setup_from_environment`` (which ``masai serve`` calls)
installs an SDK provider only when ``OTEL_TRACES_EXPORTER`` or ``OTEL_EXPORTER_OTLP_ENDPOINT``
is set; a program embedding masai configures OpenTelemetry as it likes.

Spans that live across an async generator's ``yield`` (an agent's run) are started with
``start_span`` and kept by their owner; their children name them as ``parent`` explicitly, since
no span may stay "current" across a yield. Spans that do not (a node's step, a model call, a
tool call) use ``span``, which makes them current for what runs inside.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from typing import Any, Final

from ._context import current_sink

__all__ = (
    "NOOP",
    "Span",
    "agent_span",
    "chat_span",
    "node_span",
    "run_span",
    "setup_from_environment",
    "span",
    "start_span",
    "tool_span",
    "use",
    "use_tracer_provider",
)

logger = logging.getLogger("masai.tracing")

RUN_ID: Final = "masai.run_id"
OPERATION: Final = "gen_ai.operation.name"
PROVIDER: Final = "gen_ai.provider.name"
SYSTEM: Final = "gen_ai.system"  # (the name older backends read; semconv now says PROVIDER)
REQUEST_MODEL: Final = "gen_ai.request.model"
AGENT_NAME: Final = "gen_ai.agent.name"
CONVERSATION: Final = "gen_ai.conversation.id"
INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
TOOL_NAME: Final = "gen_ai.tool.name"
TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
TOOL_TYPE: Final = "gen_ai.tool.type"

_state: dict[str, Any] = {
    "api": None,  # the ``opentelemetry.trace`` module, ``False`` when not installed
    "provider": None,  # the tracer provider in use; ``None``: the API's global one
    "tracer": None,
}


def _api() -> Any:
    api = _state["api"]
    if api is None:
        try:
            api = importlib.import_module("opentelemetry.trace")
        except ImportError:
            api = False
        _state["api"] = api
    return api


def _tracer() -> Any:
    tracer = _state["tracer"]
    if tracer is None:
        api = _api()
        if not api:
            return None
        from . import __version__

        provider = _state["provider"] or api.get_tracer_provider()
        # (from the global provider a proxy, which follows a provider configured later)
        _state["tracer"] = tracer = provider.get_tracer("masai", __version__)
    return tracer


def use_tracer_provider(provider: Any) -> Any:
    """Make spans with ``provider`` (``None``: the API's global one, the default); returns
    the one used before. For tests and programs that keep their own provider, since the
    API lets the global one be set only once per process."""
    previous = _state["provider"]
    _state["provider"] = provider
    _state["tracer"] = None
    return previous


class Span:
    """A handle on one span (or on none, when tracing is off): every method is safe to call."""

    __slots__ = ("_ended", "_span")

    def __init__(self, span: Any = None) -> None:
        self._span = span
        self._ended = span is None

    @property
    def recording(self) -> bool:
        return self._span is not None and bool(self._span.is_recording())

    def set(self, attributes: Mapping[str, Any]) -> None:
        """Set attributes (``None`` values are left out)."""
        span = self._span
        if span is None:
            return
        for key, value in attributes.items():
            if value is not None:
                span.set_attribute(key, value)

    def fail(self, error: BaseException | str) -> None:
        """Mark the span as failed: an exception is recorded on it, a string is the status's
        description (a tool's failure reported to the model, say)."""
        span = self._span
        if span is None:
            return
        from opentelemetry.trace import Status, StatusCode

        if isinstance(error, BaseException):
            span.record_exception(error)
            description = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        else:
            description = error
        span.set_status(Status(StatusCode.ERROR, description[:500]))
        # (semconv's ``error.type``: the exception's class, else its catch-all ``_OTHER``)
        span.set_attribute(
            "error.type", "_OTHER" if isinstance(error, str) else type(error).__name__
        )

    def end(self) -> None:
        """End the span (once; later calls do nothing)."""
        if not self._ended:
            self._ended = True
            self._span.end()


#: The handle every hook returns when no span is made.
NOOP: Final = Span()


def start_span(
    name: str, attributes: Mapping[str, Any] | None = None, parent: Span | None = None
) -> Span:
    """Start a span (not made current): a child of ``parent``, else of the current span. It
    carries the current run's id. End it with ``end()``."""
    tracer = _tracer()
    if tracer is None:
        return NOOP
    context = None
    if parent is not None and parent._span is not None:
        context = _api().set_span_in_context(parent._span)
    otel_span = tracer.start_span(name, context=context)
    if not otel_span.get_span_context().is_valid:  # no provider: nothing to record or pass on
        return NOOP
    handle = Span(otel_span)
    if otel_span.is_recording():
        sink = current_sink()
        if sink is not None:
            otel_span.set_attribute(RUN_ID, sink.run_id)
        if attributes:
            handle.set(attributes)
    return handle


@contextlib.contextmanager
def use(handle: Span) -> Iterator[Span]:
    """Make ``handle`` the current span inside the block (never across a ``yield`` of an
    async generator: the block must end in the Context it began in)."""
    if handle._span is None:
        yield handle
        return
    from opentelemetry import context

    token = context.attach(_api().set_span_in_context(handle._span))
    try:
        yield handle
    finally:
        context.detach(token)


@contextlib.contextmanager
def span(
    name: str, attributes: Mapping[str, Any] | None = None, parent: Span | None = None
) -> Iterator[Span]:
    """A span around the block, current inside it; an exception leaving the block marks it
    failed (and is re-raised)."""
    handle = start_span(name, attributes, parent)
    if handle._span is None:
        yield handle
        return
    try:
        with use(handle):
            yield handle
    except BaseException as exc:
        handle.fail(exc)
        raise
    finally:
        handle.end()


# -- masai's spans ---------------------------------------------------------------------------
def run_span(run_id: str, session_id: str | None = None) -> contextlib.AbstractContextManager[Span]:
    """The root of one streamed run (what one stream executes), current in its task."""
    return span("masai.run", {RUN_ID: run_id, CONVERSATION: session_id})


def agent_span(agent: str, path: tuple[str, ...], session_id: str | None = None) -> Span:
    """An agent's run: a child of the current span (the run's, or the tool calling the
    agent); started, not made current, as it lives across the agent's yields."""
    return start_span(
        f"invoke_agent {agent}",
        {
            OPERATION: "invoke_agent",
            AGENT_NAME: agent,
            "masai.agent_path": list(path),
            CONVERSATION: session_id,
        },
    )


def node_span(
    agent: str, node: str, step: int, parent: Span
) -> contextlib.AbstractContextManager[Span]:
    """One step of an agent (``router``, ``execute_tool``, ``evaluator``, …)."""
    return span(
        f"masai.node {node}",
        {"masai.node": node, AGENT_NAME: agent, "masai.step": step},
        parent=parent,
    )


def chat_span(
    model: str, provider: str | None, agent: str | None, component: str
) -> contextlib.AbstractContextManager[Span]:
    """One model call (``gen_ai.operation.name`` ``chat``); set its usage with ``set``."""
    return span(
        f"chat {model}",
        {
            OPERATION: "chat",
            REQUEST_MODEL: model,
            PROVIDER: provider,
            SYSTEM: provider,
            AGENT_NAME: agent,
            "masai.component": component,
        },
    )


def tool_span(tool: str, call_id: str) -> contextlib.AbstractContextManager[Span]:
    """One tool call (``execute_tool``)."""
    return span(
        f"execute_tool {tool}",
        {OPERATION: "execute_tool", TOOL_NAME: tool, TOOL_CALL_ID: call_id, TOOL_TYPE: "function"},
    )


def usage(input_tokens: int, output_tokens: int) -> dict[str, int]:
    """A model call's token counts as span attributes."""
    return {INPUT_TOKENS: input_tokens, OUTPUT_TOKENS: output_tokens}


# -- configuration ---------------------------------------------------------------------------
def setup_from_environment() -> bool:
    """Install an SDK tracer provider exporting as the standard ``OTEL_*`` variables say, if
    ``OTEL_TRACES_EXPORTER`` (``console``, ``otlp``, comma-separated; ``none``) or
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set; whether it did. ``console`` writes to stderr;
    ``otlp`` needs ``opentelemetry-exporter-otlp`` (``OTEL_EXPORTER_OTLP_PROTOCOL``:
    ``http/protobuf``, the default, or ``grpc``)."""
    env = os.environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    names = [n.strip().lower() for n in env.get("OTEL_TRACES_EXPORTER", "").split(",")]
    names = [n for n in names if n]
    if not names and (
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        names = ["otlp"]
    names = [n for n in names if n != "none"]
    if not names:
        return False
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError:
        logger.warning(
            "OTEL_* variables ask for traces, but the OpenTelemetry SDK is not installed "
            "(pip install 'masai[otel]'); no traces are exported"
        )
        return False
    exporters: list[Any] = []
    for name in names:
        if name == "console":
            exporters.append(ConsoleSpanExporter(out=sys.stderr))
        elif name == "otlp":
            exporter = _otlp_exporter(env)
            if exporter is not None:
                exporters.append(exporter)
        else:
            logger.warning("OTEL_TRACES_EXPORTER: unknown exporter %r ignored", name)
    if not exporters:
        return False
    # (``Resource.create`` reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES)
    resource = Resource.create({} if env.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: "masai"})
    provider = TracerProvider(resource=resource)  # (its sampler from OTEL_TRACES_SAMPLER)
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _state["tracer"] = None
    return True


def _otlp_exporter(env: Mapping[str, str]) -> Any:
    protocol = (
        (
            env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
            or "http/protobuf"
        )
        .strip()
        .lower()
    )
    kind = "grpc" if protocol == "grpc" else "http"
    try:
        module = importlib.import_module(f"opentelemetry.exporter.otlp.proto.{kind}.trace_exporter")
    except ImportError:
        logger.warning(
            "OTLP traces need the exporter: pip install opentelemetry-exporter-otlp "
            "(protocol %s); no traces are exported over OTLP",
            protocol,
        )
        return None
    return module.OTLPSpanExporter()
