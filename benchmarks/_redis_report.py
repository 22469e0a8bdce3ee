"""The table's ``redis`` section (``redis_bench``): the scale-out deployment (API server,
workers, ``redis-server``) against the in-process server, one worker against two, a resume on
another API server against one on the same server. Each baseline was measured in the same run.
"""

from __future__ import annotations

from typing import Any

from ._report import Row, Rows

IN_PROCESS = "in-process server"
SHARED = "2 CPUs shared by client, API server, workers and redis-server (nothing pinned)"


def redis_rows(redis: dict[str, Any]) -> tuple[list[Row], list[str]]:
    """The ``redis`` section's rows, and notes on what it found."""
    rows = _latency_rows(redis["latency"]) + _throughput_rows(redis["throughput"], redis["plan"])
    rows += _resume_rows(redis["resume"]) + _control_rows(redis["control"])
    notes = [f"redis: {SHARED}; medians of repeats"]
    return rows, notes


def _latency_rows(latency: dict[str, Any]) -> Rows:
    rows = Rows("redis")
    ours, base = latency["redis"], latency["in_process"]
    paced = f"1 run × {latency['events']:,} events at 1/ms, 1 API server + 1 worker"
    for pct in ("p50", "p99"):
        rows.add(
            f"emit→client {pct}, {paced}", ours[f"{pct}_ms"], base[f"{pct}_ms"], IN_PROCESS, "ms"
        )
    rows.add(
        f"events/s at the client, 1 run × {latency['burst']:,} events back to back",
        ours["events_per_s"],
        base["events_per_s"],
        IN_PROCESS,
        "events/s",
    )
    lost = ours["lost"] + ours["duplicates"]
    rows.add(
        f"events lost or repeated over {ours['runs']} × 2 runs through Redis",
        lost,
        base["lost"] + base["duplicates"],
        IN_PROCESS,
        "events",
        "0",
        lost == 0 and ours["ended"],
    )
    return rows


def _throughput_rows(throughput: dict[str, Any], plan: dict[str, Any]) -> Rows:
    rows = Rows("redis")
    one, two = throughput["workers_1"], throughput["workers_2"]
    work = (
        f"{plan['runs']} CPU-bound runs at once ({plan['steps']} sync tool calls × "
        f"{plan['ms']:g} ms of pure-Python CPU each)"
    )
    rows.add(
        f"runs/s, {work}, 2 workers ({SHARED}: 2× is out of reach)",
        two["runs_per_s"],
        one["runs_per_s"],
        "1 worker",
        "runs/s",
    )
    rows.add(
        f"runs/s, {work}, 1 worker",
        one["runs_per_s"],
        throughput["in_process"]["runs_per_s"],
        IN_PROCESS,
        "runs/s",
    )
    done = min(r["completed"] for r in throughput.values())
    rows.add(
        f"runs completed of {plan['runs']} in each throughput repeat (fewest), 2 workers",
        two["completed"],
        one["completed"],
        "1 worker",
        "runs",
        "all",
        done == plan["runs"],
    )
    return rows


def _resume_rows(resume: dict[str, Any]) -> Rows:
    rows = Rows("redis")
    other, same = resume["other"], resume["same"]
    trials = f"{resume['trials']} runs × {resume['drops_per_trial']} drops"
    for pct in ("p50", "p99"):
        rows.add(
            f"reconnect (Last-Event-ID) on the other API server → first event {pct}, {trials}",
            other[f"reconnect_{pct}_ms"],
            same[f"reconnect_{pct}_ms"],
            "same server",
            "ms",
        )
    errors = other["lost"] + other["duplicates"] + other["id_errors"]
    rows.add(
        f"events lost, repeated or misnumbered, resumed on the other server, {trials}",
        errors,
        same["lost"] + same["duplicates"] + same["id_errors"],
        "same server",
        "events",
        "0",
        errors == 0,
    )
    return rows


def _control_rows(control: dict[str, Any]) -> Rows:
    rows = Rows("redis")
    ours, base = control["redis"], control["in_process"]
    n = control["repeats"]
    for key, what in (
        ("approve", f"POST approval round trip (returns once the worker applied it), {n} runs"),
        ("approve_end", f"POST approval → the stream's end frame, {n} runs"),
        ("cancel", f"POST cancel?wait=true round trip, {n} runs"),
        ("cancel_end", f"POST cancel → the stream's end frame, {n} runs"),
    ):
        for pct in ("p50", "p99"):
            value = ours[f"{key}_{pct}_ms"]
            held = pct == "p99" and not key.endswith("_end")
            rows.add(
                f"{what}, {pct}",
                value,
                base[f"{key}_{pct}_ms"],
                IN_PROCESS,
                "ms",
                "≤ 100" if held else "",
                value <= 100 if held else None,
            )
    rows.add(
        f"controls that took effect (run completed after approval, cancelled), {2 * n} sent",
        ours["as_expected"],
        base["as_expected"],
        IN_PROCESS,
        "controls",
        "all",
        ours["as_expected"] == ours["of"],
    )
    return rows
