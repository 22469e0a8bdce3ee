"""The table's rows for the two server sections, ``server`` (``serve_bench``: sync tools, keys
and limits, session memory) and ``runs`` (``runs_bench``: resumable runs against LangGraph's
Agent Server). Either may have a baseline that did not run here; its rows say so, and a note
says why.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._report import Row, Rows
from .serve_bench import BEFORE

#: The server before its keys, gate and run limits.
BEFORE_NAME = f"masai serve at {BEFORE}"
LANGGRAPH_SERVER = "LangGraph Agent Server"


def serve_rows(serve: dict[str, Any]) -> tuple[list[Row], list[str]]:
    """The ``server`` section: sync tools under a burst, the cost of keys and limits, session
    memory. Returns the rows and notes on what was skipped."""
    notes: list[str] = []
    rows = _burst_rows(serve) + _auth_rows(serve, notes) + _memory_rows(serve)
    return rows, notes


def _burst_rows(serve: dict[str, Any]) -> Rows:
    rows = Rows("server")
    sync, narrow, control = serve["sync_tools"], serve["sync_tools_32"], serve["async_tools"]
    burst = f"{sync['runs']:,} runs at once, sync tool sleeping 0.2 s"
    for result, how in ((sync, ""), (narrow, ", --tool-threads 32")):
        for pct in ("p50", "p99"):
            ours, alone = result[f"{pct}_s"], result["single_s"]
            default = pct == "p99" and result is sync
            rows.add(
                f"{pct} run latency, {burst}{how}",
                ours,
                alone,
                "one run alone",
                "s",
                "≤ 3×" if default else "",
                ours <= 3 * alone if default else None,
            )
    rows.add(
        f"p99 run latency, {control['runs']:,} runs at once, async tool awaiting 0.2 s",
        control["p99_s"],
        control["single_s"],
        "one run alone",
        "s",
    )
    rows.add(
        f"server CPU per run during the burst, sync tool ({sync['runs']:,} runs)",
        sync["server_cpu_s"] / sync["runs"] * 1e3,
        control["server_cpu_s"] / control["runs"] * 1e3,
        "async tool, same burst",
        "ms",
    )
    return rows


def _auth_rows(serve: dict[str, Any], notes: list[str]) -> Rows:
    rows = Rows("server")
    auth = serve["auth_cost"]
    if "skipped" in auth:
        notes.append(f"server: keys and limits vs {BEFORE_NAME}: skipped ({auth['skipped']})")
    else:
        now, before = auth["now"], auth["before"]
        label = f"{auth['streams']} clients × {auth['events']:,} events"
        for workload, what in (("paced", "1/ms"), ("saturated", "×3, back to back")):
            name = f"{label}, {what}, keys and limits on"
            for key, measure, unit in (
                ("events_per_s", "events/s", "events/s"),
                ("p99_ms", "emit→receive p99", "ms"),
            ):
                ours, base = now[workload][key], before[workload][key]
                throughput = key == "events_per_s"
                rows.add(
                    f"{measure}, {name}",
                    ours,
                    base,
                    BEFORE_NAME,
                    unit,
                    "≥ 0.95×" if throughput else "",
                    ours >= 0.95 * base if throughput else None,
                )
    gate = serve["gate"]
    for what, key in (("per request (Host, key, body read)", "request"), ("per write", "write")):
        rows.add(
            f"the gate's cost {what}, in process",
            gate[f"{key}_gated_us"],
            gate[f"{key}_bare_us"],
            "the same, no gate",
            "µs",
        )
    return rows


def _memory_rows(serve: dict[str, Any]) -> Rows:
    rows = Rows("server")
    memory = serve["session_memory"]
    size = memory["query_chars"] // 1000
    runs = f"{memory['runs']:,} runs, each a fresh session and a {size} KB query"
    rss_after = memory["rss_after_mb"]
    rows.add(
        f"server RSS after {runs}", rss_after, memory["rss_before_mb"], "RSS before the runs", "MB"
    )
    rows.add(
        f"server RSS after {runs}, against halfway",
        rss_after,
        memory["rss_halfway_mb"],
        "RSS halfway",
        "MB",
        "≤ 1.1× (flat)",
        rss_after <= 1.1 * memory["rss_halfway_mb"],
    )
    mib = 1024 * 1024
    rows.add(
        f"session memory (/healthz sessions.bytes) after {runs}",
        memory["session_bytes"] / mib,
        memory["session_max_bytes"] / mib,
        "--session-max-bytes",
        "MiB",
        "≤ the cap",
        memory["session_bytes"] <= memory["session_max_bytes"],
    )
    return rows


def runs_rows(runs: dict[str, Any]) -> tuple[list[Row], list[str]]:
    """The ``runs`` section: masai's ``/runs`` against LangGraph's Agent Server, and what the
    run's log costs in process. LangGraph's columns are empty where it could not run."""
    notes: list[str] = []
    lg = runs["langgraph"]
    if "unavailable" in lg:
        notes.append(f"runs: {LANGGRAPH_SERVER} not available ({lg['unavailable']})")
        lg, lg_name = None, f"{LANGGRAPH_SERVER}: not available"
    else:
        lg_name = LANGGRAPH_SERVER

    def theirs(*path: str) -> Any:
        value: Any = lg
        for key in path:
            if value is None:
                return None
            value = value[key]
        return value

    rows = _against_langgraph(runs["plan"], runs["masai"], theirs, lg_name)
    floor = runs.get("floor")
    if floor is not None:
        one = f"1 run × {runs['plan']['events']:,} events at 1/ms"
        rows.add(
            f"server CPU per event, {one}: masai against the floor (a bare Starlette "
            "StreamingResponse writing the same events, no agent, no log)",
            runs["masai"]["stream"]["server_cpu_us_per_event"],
            floor["server_cpu_us_per_event"],
            "bare Starlette SSE",
            "µs",
        )
        lg_cpu = theirs("stream", "server_cpu_us_per_event")
        if lg_cpu is not None:
            notes.append(
                f"runs: 1/100 of LangGraph's CPU per event is {lg_cpu / 100:.1f} µs; a bare "
                f"Starlette server writing the same events costs "
                f"{floor['server_cpu_us_per_event']:.1f} µs"
            )
    return rows + _log_rows(runs["log_cost"]), notes


def _against_langgraph(
    plan: dict[str, Any], ours: dict[str, Any], theirs: Callable[..., Any], lg_name: str
) -> Rows:
    """masai's numbers against ``theirs(*path)``: LangGraph's, or ``None`` where it did not
    run."""
    rows = Rows("runs")
    one = f"1 run × {plan['events']:,} events at 1/ms"
    cpu, cpu_lg = (
        ours["stream"]["server_cpu_us_per_event"],
        theirs("stream", "server_cpu_us_per_event"),
    )
    rows.add(
        f"server CPU per event, {one} (process tree, start to end)",
        cpu,
        cpu_lg,
        lg_name,
        "µs",
        "≤ 1/100",
        None if cpu_lg is None else cpu <= cpu_lg / 100,
    )
    idle = ours["idle_cpu_ms_per_s"]
    rows.add("server CPU when idle", idle, theirs("idle_cpu_ms_per_s"), lg_name, "ms/s")
    first = ours["stream"]["first_event_ms"]
    rows.add(
        f"start → first custom event, {one}",
        first,
        theirs("stream", "first_event_ms"),
        lg_name,
        "ms",
    )
    resume = ours["resume"]
    trials = f"{resume['trials']} runs × {resume['drops_per_trial']} drops"
    for pct in ("p50", "p99"):
        rows.add(
            f"reconnect (Last-Event-ID) → first replayed event {pct}, {trials}",
            resume[f"reconnect_{pct}_ms"],
            theirs("resume", f"reconnect_{pct}_ms"),
            lg_name,
            "ms",
        )
    for what in ("duplicates", "losses"):
        rows.add(
            f"{what} over {trials}, resumed with Last-Event-ID",
            resume[what],
            theirs("resume", what),
            lg_name,
            "events",
            "0",
            resume[what] == 0 and resume["id_errors"] == 0,
        )
    replay = ours["replay"]
    rows.add(
        f"replay a finished run's {replay['events']:,}-event log, one client",
        replay["events_per_s"],
        theirs("replay", "events_per_s"),
        lg_name,
        "events/s",
    )
    seen = ours["viewers"]
    crowd = f"{seen['viewers']} viewers of 1 run × {seen['events']:,} events at 1/ms"
    for key, measure, unit in (
        ("seconds", "start → every viewer done", "s"),
        ("server_cpu_s", "server CPU", "CPU s"),
        ("lag_p99_ms", "emit→receive p99 (live events)", "ms"),
    ):
        rows.add(f"{measure}, {crowd}", seen[key], theirs("viewers", key), lg_name, unit)
    rows.add(
        f"viewers that got every event exactly once, {crowd}",
        seen["complete_viewers"],
        theirs("viewers", "complete_viewers"),
        lg_name,
        "viewers",
        "all",
        seen["complete_viewers"] == seen["viewers"],
    )
    return rows


def _log_rows(log: dict[str, Any]) -> Rows:
    """What the run's log costs in process, against an ``EventStream`` with no log."""
    rows = Rows("runs")
    tight = f"pipeline tight loop, {log['events']:,} events"
    rows.add(
        f"CPU/event through Runs (the run's log, read as /runs/{{id}}/events), {tight}",
        log["runs_follow_us_per_event"],
        log["stream_us_per_event"],
        "EventStream, no log",
        "µs",
        "≤ 1.15×",
        log["overhead"] <= 0.15,
    )
    rows.add(
        f"CPU/event through Runs (read with RunHandle.events()), {tight}",
        log["runs_events_us_per_event"],
        log["stream_us_per_event"],
        "EventStream, no log",
        "µs",
    )
    return rows
