"""The table ``python -m benchmarks`` prints: one row a measure, masai against its baseline,
their ratio and the target it is held to; and the rows of the in-process and HTTP sections.

Rows are built from the raw numbers each benchmark returns, after they are all in: what a
section measures lives with the section (``pipeline``, ``http_bench``, ...), what it is
compared with and held to lives here and in ``_server_report``.
"""

from __future__ import annotations

from typing import Any

Row = dict[str, Any]

#: The pipeline's ways of emitting: its label, the key of its numbers (``pipeline.CPU_KEYS``),
#: whether the tool yields to the loop after each event, and whether the tool call around the
#: events is announced and closed by hand, outside masai's tool scope (the spec's style, which
#: LangGraph has no counterpart of: compared with the reference only).
CPU_MODES = (
    ("tight loop", "cpu_us_per_event", False, False),
    ("yield per emit", "cpu_us_per_event_yielding", True, False),
    ("hand-attributed, tight loop", "cpu_us_per_event_by_hand", False, True),
    ("hand-attributed, yield per emit", "cpu_us_per_event_by_hand_yielding", True, True),
)
REFERENCE_NAME = "masai-framework 0.6.5"
SPEC_LIVE = "SpecEncoder.events, same batch"
SPEC_LOG = "SpecEncoder.entries (a copy of the log's frames)"


class Rows(list[Row]):
    """The rows of one section."""

    def __init__(self, section: str) -> None:
        super().__init__()
        self.section = section

    def add(
        self,
        measure: str,
        ours: float,
        base: float | None,
        base_name: str,
        unit: str,
        target: str = "",
        met: bool | None = None,
    ) -> None:
        """One measure: ours against ``base`` (``None``: the baseline could not run), and
        whether it ``met`` its ``target`` (``None``: no target)."""
        self.append(
            {
                "section": self.section,
                "measure": measure,
                "masai": ours,
                "baseline": base,
                "baseline_name": base_name,
                "ratio": ours / base if base else None,
                "unit": unit,
                "target": target,
                "met": met,
            }
        )


def table(rows: list[Row]) -> str:
    """The rows as a Markdown table."""

    def fmt(value: float | None) -> str:
        if value is None:
            return "–"
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"

    head = ("measure", "masai", "baseline", "ours/base", "unit", "target", "met")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        met = "" if r["met"] is None else ("yes" if r["met"] else "**no**")
        base = f"{fmt(r['baseline'])} ({r['baseline_name']})"
        ratio = "–" if r["ratio"] is None else f"{r['ratio']:.2f}"
        lines.append(
            f"| {r['section']}: {r['measure']} | {fmt(r['masai'])} | {base} | {ratio} "
            f"| {r['unit']} | {r['target']} | {met} |"
        )
    return "\n".join(lines)


def pipeline_rows(
    ours: dict[str, Any],
    reference: dict[str, Any],
    langgraph: dict[tuple[str, str], float],
    quick: bool,
) -> Rows:
    """The event pipeline against the reference, and against LangGraph's custom stream
    (``langgraph``: CPU µs per event by ``CPU_MODES`` key and event count)."""
    rows = Rows("pipeline")
    for mode, key, yielding, by_hand in CPU_MODES:
        for n, value in ours[key].items():
            ref = reference[key][n]
            label = f"CPU/event, {int(n):,} events, {mode}"
            if yielding:  # (its target is on the cost above the tool's own floor, below)
                rows.add(label, value, ref, REFERENCE_NAME, "µs")
            else:
                rows.add(label, value, ref, REFERENCE_NAME, "µs", "≤ 1/5", value <= ref / 5)
            if not by_hand:
                rows.add(label, value, langgraph[key, n], "LangGraph custom stream", "µs")
    largest = max(ours["cpu_us_per_event"], key=int)
    for mode, key in (("tight loop", ""), ("yield per emit", "_yielding")):
        # What the tool costs by itself; "above the floor" is what each pipeline adds to it.
        floor, ref_floor = ours[f"floor_us_per_event{key}"], reference[f"floor_us_per_event{key}"]
        rows.add(
            f"the tool alone (no stream), {mode}",
            floor,
            ref_floor,
            "the tool alone, reference venv",
            "µs",
        )
        above = ours[f"cpu_us_per_event{key}"][largest] - floor
        ref_above = reference[f"cpu_us_per_event{key}"][largest] - ref_floor
        label = f"CPU/event above that floor, {int(largest):,} events, {mode}"
        if key:  # yield per emit: a hand-off between two tasks per event sets the floor of
            # what a pipeline that streams each event as it happens can cost (issue 15)
            rows.add(
                label, above, ref_above, REFERENCE_NAME, "µs", "≤ 0.4×", above <= 0.4 * ref_above
            )
        else:
            rows.add(label, above, ref_above, REFERENCE_NAME, "µs")
    for pct in ("p50_us", "p99_us"):
        latency = f"emit→chunk {pct[:3]} at 1 event/ms"
        rows.add(latency, ours["latency"][pct], reference["latency"][pct], REFERENCE_NAME, "µs")
    rows.add(
        "100 concurrent streams" if not quick else "concurrent streams",
        ours["concurrent_events_per_s"],
        reference["concurrent_events_per_s"],
        REFERENCE_NAME,
        "events/s",
    )
    rows.add(
        f"CPU of {ours['idle_streams']:,} idle streams over {ours['idle_seconds']:g} s",
        ours["idle_cpu_s"],
        reference["idle_cpu_s"],
        REFERENCE_NAME,
        "CPU s",
        "~0",
        ours["idle_cpu_s"] <= 0.01 * ours["idle_seconds"],
    )
    rows.add(
        f"peak buffered events, {ours['burst']:,}-event burst",
        ours["peak_buffered"],
        reference["peak_buffered"],
        REFERENCE_NAME,
        "events",
        "≤ 256 (bound)",
        ours["peak_buffered"] <= 256,
    )
    return rows


def encoder_rows(bench: dict[str, Any]) -> tuple[Rows, list[str]]:
    """Each protocol's encoding cost per event against the spec encoder's (``encoders_bench``):
    live (``events``) and for a viewer of the run's log (``entries``); and what decoding the
    log's frames back into events costs, the share of ``entries`` every other protocol pays."""
    rows = Rows("encoders")
    encoders = bench["encoders"]
    spec = encoders["spec"]
    for name, result in encoders.items():
        if name == "spec":
            continue
        rows.add(
            f"{name}: CPU/event, live", result["events_us"], spec["events_us"], SPEC_LIVE, "µs"
        )
        rows.add(
            f"{name}: CPU/event, from the run's log",
            result["entries_us"],
            spec["entries_us"],
            SPEC_LOG,
            "µs",
        )
    rows.add(
        "decoding the log's frames into events (in every non-spec viewer's cost)",
        bench["decode_us"],
        spec["events_us"],
        SPEC_LIVE,
        "µs",
    )
    mix = ", ".join(f"{n} {kind}" for kind, n in bench["mix"].items())
    notes = [f"encoders: one batch of {bench['events']:,} events ({mix})"]
    if bench["missing"]:
        notes.append(f"encoders not measured (do not import yet): {', '.join(bench['missing'])}")
    return rows, notes


def agent_loop_rows(loops: dict[str, dict[str, float]]) -> Rows:
    """The agent loop against a LangGraph two-node graph, by iteration count."""
    rows = Rows("agent loop")
    for iterations, result in loops.items():
        mine, theirs = result["masai"], result["langgraph"]
        rows.add(
            f"per iteration, {iterations} iterations",
            mine,
            theirs,
            "LangGraph 2-node graph",
            "µs",
            "≤ 1/10",
            mine <= theirs / 10,
        )
    return rows


def http_rows(http: dict[str, Any]) -> Rows:
    """``masai serve`` against sse-starlette (``http_bench``)."""
    rows = Rows("http")
    base_name = "sse-starlette"
    mine, base = http["masai"], http[base_name]
    label = f"{http['streams']} clients × {http['events']:,} events, 1/ms"
    rate, base_rate = mine["events_per_s"], base["events_per_s"]
    # Paced at 1 event/ms per client, both servers deliver what is emitted (the schedule caps
    # the rate), so capacity is compared back to back, below.
    rows.add(f"events/s, {label}", rate, base_rate, base_name, "events/s")
    for pct in ("p50_ms", "p99_ms"):
        held = pct == "p99_ms"
        rows.add(
            f"emit→receive {pct[:3]}, {label}",
            mine[pct],
            base[pct],
            base_name,
            "ms",
            "≤ 1/5" if held else "",
            mine[pct] <= base[pct] / 5 if held else None,
        )
    saturated = f"{http['streams']} clients × {3 * http['events']:,} events, back to back"
    mine_sat, base_sat = mine["saturated"], base["saturated"]
    sat_rate, base_sat_rate = mine_sat["events_per_s"], base_sat["events_per_s"]
    rows.add(
        f"events/s, {saturated}",
        sat_rate,
        base_sat_rate,
        base_name,
        "events/s",
        "≥ 3×",
        sat_rate >= 3 * base_sat_rate,
    )
    p99 = f"emit→receive p99, {saturated}"
    rows.add(p99, mine_sat["p99_ms"], base_sat["p99_ms"], base_name, "ms")
    light = f"{http['light_streams']} clients × {http['events']:,} events, 1/ms (light load)"
    for pct in ("p50_ms", "p99_ms"):
        latency = f"emit→receive {pct[:3]}, {light}"
        rows.add(latency, mine["light"][pct], base["light"][pct], base_name, "ms")
    idle_rss, base_idle = mine["idle"]["rss_mb"], base["idle"]["rss_mb"]
    idle = f"server RSS, {http['idle_streams']:,} idle SSE connections (a fresh server)"
    rows.add(idle, idle_rss, base_idle, base_name, "MB", "≤ 150", idle_rss <= 150)
    if "rss_after_load_mb" in mine:
        rows.add(
            "server RSS after the workloads above (masai keeps finished runs' logs for "
            "reconnects: --run-retention-max-bytes, 64 MiB)",
            mine["rss_after_load_mb"],
            base["rss_after_load_mb"],
            base_name,
            "MB",
        )
    return rows


def import_rows(imports: dict[str, float]) -> Rows:
    """Import times, on top of a bare interpreter's start."""
    rows = Rows("import")
    bare, masai_ms = imports["bare_ms"], imports["masai_ms"]
    bare_name = "python -c pass"
    rows.add(
        "import masai (on top of bare Python)",
        masai_ms,
        bare,
        bare_name,
        "ms",
        "≤ 150",
        masai_ms <= 150,
    )
    rows.add(
        "from masai import AgentManager (the agent runtime too)",
        imports["runtime_ms"],
        bare,
        bare_name,
        "ms",
    )
    rows.add(
        "import masai.server (on top of bare Python)", imports["server_ms"], bare, bare_name, "ms"
    )
    return rows
