"""``GET /metrics``: what an operator watches, in Prometheus' text format (``prometheus-client``).

Each app has its own registry (no process-wide state: two apps in one process, as in tests,
count apart). The counters are fed by the run manager as runs go (``RunObserver``): runs by
how they ended, events by type, tokens, client disconnects, each tool call's duration (from its
``tool_call`` to its ``tool_output`` event) and each model call's; the gauges (runs and streams
in progress, events buffered between runs and their logs) are read when scraped.

The route is protected like the API (the gate admits only keys; a keyless server listens on
loopback only). Label values are bounded by the application (event types, its tools and
models), never by callers. Runs executed by ``masai worker`` processes are counted there, not
here: a worker serves no HTTP.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence

from fastapi import APIRouter, Request, Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ..events import StreamingEvent
from ..streaming import RunRecord

__all__ = ("CONTENT_TYPE_LATEST", "Metrics", "router")

#: Tool calls and model calls take from milliseconds to minutes.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
#: Tool calls a run may have open at once before the oldest is forgotten (bounded memory).
MAX_OPEN_CALLS = 1024


class Metrics:
    """The server's metrics; a ``RunObserver`` for its run manager."""

    def __init__(self, buffered: Callable[[], int]) -> None:
        registry = self.registry = CollectorRegistry()
        self.runs = Counter(
            "masai_runs", "Runs that ended, by status", ["status"], registry=registry
        )
        self.events = Counter(
            "masai_events", "Events logged, by type", ["event_type"], registry=registry
        )
        self.tokens = Counter(
            "masai_tokens", "Model tokens of finished runs", ["kind"], registry=registry
        )
        self.disconnects = Counter(
            "masai_disconnects", "Streams whose client left before the end", registry=registry
        )
        self.tool_seconds = Histogram(
            "masai_tool_duration_seconds",
            "Tool calls, from call to output",
            ["tool"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.model_seconds = Histogram(
            "masai_model_duration_seconds",
            "Model calls",
            ["model"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.active_runs = Gauge(
            "masai_active_runs", "Runs executing in this process", registry=registry
        )
        self.active_streams = Gauge(
            "masai_active_streams", "Connections reading a run's events", registry=registry
        )
        depth = Gauge(
            "masai_buffered_events",
            "Events emitted but not yet in their run's log, across running runs",
            registry=registry,
        )
        depth.set_function(lambda: float(buffered()))
        #: Open tool calls per run: ``tool_call_id`` -> (tool, when it was called).
        self._open: dict[str, dict[str, tuple[str, float]]] = {}

    def render(self) -> bytes:
        return generate_latest(self.registry)

    # -- RunObserver ---------------------------------------------------------------------------
    def run_started(self, record: RunRecord) -> None:
        self.active_runs.inc()
        self._open[record.run_id] = {}

    def run_events(self, events: Sequence[StreamingEvent]) -> None:
        counts = collections.Counter(event.event_type for event in events)
        for kind, n in counts.items():  # (one labelled increment per type, not per event)
            self.events.labels(kind).inc(n)
        if not (counts["tool_call"] or counts["tool_output"]):
            return
        for event in events:
            kind = event.event_type
            if kind != "tool_call" and kind != "tool_output":
                continue
            metadata = event.metadata
            calls = self._open.get(str(metadata.get("run_id")))
            call_id = metadata.get("tool_call_id")
            if calls is None or not isinstance(call_id, str):
                continue
            if kind == "tool_call":
                if len(calls) >= MAX_OPEN_CALLS:
                    calls.pop(next(iter(calls)))
                calls[call_id] = (str(event.data.get("tool_name", "?")), event.timestamp)
            elif (opened := calls.pop(call_id, None)) is not None:
                tool, started = opened
                self.tool_seconds.labels(tool).observe(max(event.timestamp - started, 0.0))

    def run_finished(self, record: RunRecord) -> None:
        self.active_runs.dec()
        self._open.pop(record.run_id, None)
        self.runs.labels(record.status).inc()
        usage = record.usage or {}
        self.tokens.labels("input").inc(int(usage.get("input_tokens", 0)))
        self.tokens.labels("output").inc(int(usage.get("output_tokens", 0)))

    def viewer_attached(self) -> None:
        self.active_streams.inc()

    def viewer_detached(self, ended: bool) -> None:
        self.active_streams.dec()
        if not ended:
            self.disconnects.inc()

    def model_call(self, model: str, seconds: float) -> None:
        self.model_seconds.labels(model).observe(max(seconds, 0.0))


def router() -> APIRouter:
    """``GET /metrics`` (behind the gate like every API route)."""
    from ._routes import runtime_of  # (the routes module imports the runtime, which uses us)

    routes = APIRouter()

    @routes.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        body = runtime_of(request).metrics.render()
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return routes
