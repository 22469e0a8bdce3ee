"""Run every benchmark, baselines included, in one go: ``python -m benchmarks [--quick]``.

Prints a table of medians with our/baseline ratios and the targets, and writes the numbers as
JSON (``benchmarks/results/latest.json`` by default). ``--quick`` is the CI smoke mode: small
sizes, same code paths, seconds not minutes; its numbers are not for quoting.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import agent_loop, gate_cost, langgraph_baseline, serve_bench

HERE = Path(__file__).resolve().parent
REFERENCE = "masai-framework==0.6.5"
#: The server before its keys, gate and run limits.
BEFORE_NAME = f"masai serve at {serve_bench.BEFORE}"


def reference_python() -> str:
    """A virtualenv holding only the reference's code: its streaming modules need nothing else,
    so it is installed without its (large) dependency tree."""
    venv = HERE / ".venvs" / "masai-framework-0.6.5"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--disable-pip-version-check",
                REFERENCE,
            ],
            check=True,
        )
    return str(python)


def run_pipeline(python: str, quick: bool) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [python, str(HERE / "pipeline.py"), *(["--quick"] if quick else [])],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd="/",
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def run_http(quick: bool) -> dict[str, Any]:
    """The HTTP benchmark in its own process: its own event loop and CPU (``http_bench``)."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.http_bench", *(["--quick"] if quick else [])],
        capture_output=True,
        text=True,
        check=True,
        cwd=HERE.parent,
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def run_serve(quick: bool) -> dict[str, Any]:
    """The server benchmarks in their own process, like the HTTP one (``serve_bench``)."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.serve_bench", *(["--quick"] if quick else [])],
        capture_output=True,
        text=True,
        check=True,
        cwd=HERE.parent,
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def serve_rows(serve: dict[str, Any]) -> tuple[list[Row], list[str]]:
    """The ``server`` section: sync tools under a burst, the cost of keys and limits, session
    memory. Returns the rows and notes on what was skipped."""
    notes: list[str] = []
    rows = _burst_rows(serve) + _auth_rows(serve, notes) + _memory_rows(serve)
    return rows, notes


def _burst_rows(serve: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    sync, narrow, control = serve["sync_tools"], serve["sync_tools_32"], serve["async_tools"]
    burst = f"{sync['runs']:,} runs at once, sync tool sleeping 0.2 s"
    for result, how in ((sync, ""), (narrow, ", --tool-threads 32")):
        for pct in ("p50", "p99"):
            ours, alone = result[f"{pct}_s"], result["single_s"]
            default = pct == "p99" and result is sync
            rows.append(
                row(
                    "server",
                    f"{pct} run latency, {burst}{how}",
                    ours,
                    alone,
                    "one run alone",
                    "s",
                    "≤ 3×" if default else "",
                    ours <= 3 * alone if default else None,
                )
            )
    rows.append(
        row(
            "server",
            f"p99 run latency, {control['runs']:,} runs at once, async tool awaiting 0.2 s",
            control["p99_s"],
            control["single_s"],
            "one run alone",
            "s",
            "",
            None,
        )
    )
    rows.append(
        row(
            "server",
            f"server CPU per run during the burst, sync tool ({sync['runs']:,} runs)",
            sync["server_cpu_s"] / sync["runs"] * 1e3,
            control["server_cpu_s"] / control["runs"] * 1e3,
            "async tool, same burst",
            "ms",
            "",
            None,
        )
    )
    return rows


def _auth_rows(serve: dict[str, Any], notes: list[str]) -> list[Row]:
    rows: list[Row] = []
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
                rows.append(
                    row(
                        "server",
                        f"{measure}, {name}",
                        ours,
                        base,
                        BEFORE_NAME,
                        unit,
                        "≥ 0.95×" if throughput else "",
                        ours >= 0.95 * base if throughput else None,
                    )
                )
    gate = serve["gate"]
    for what, key in (("per request (Host, key, body read)", "request"), ("per write", "write")):
        rows.append(
            row(
                "server",
                f"the gate's cost {what}, in process",
                gate[f"{key}_gated_us"],
                gate[f"{key}_bare_us"],
                "the same, no gate",
                "µs",
                "",
                None,
            )
        )
    return rows


def _memory_rows(serve: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    memory = serve["session_memory"]
    size = memory["query_chars"] // 1000
    runs = f"{memory['runs']:,} runs, each a fresh session and a {size} KB query"
    rows.append(
        row(
            "server",
            f"server RSS after {runs}",
            memory["rss_after_mb"],
            memory["rss_before_mb"],
            "RSS before the runs",
            "MB",
            "",
            None,
        )
    )
    rows.append(
        row(
            "server",
            f"server RSS after {runs}, against halfway",
            memory["rss_after_mb"],
            memory["rss_halfway_mb"],
            "RSS halfway",
            "MB",
            "≤ 1.1× (flat)",
            memory["rss_after_mb"] <= 1.1 * memory["rss_halfway_mb"],
        )
    )
    mib = 1024 * 1024
    rows.append(
        row(
            "server",
            f"session memory (/healthz sessions.bytes) after {runs}",
            memory["session_bytes"] / mib,
            memory["session_max_bytes"] / mib,
            "--session-max-bytes",
            "MiB",
            "≤ the cap",
            memory["session_bytes"] <= memory["session_max_bytes"],
        )
    )
    return rows


def import_ms(code: str, runs: int = 5) -> float:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        samples.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(samples)


Row = dict[str, Any]


def row(
    section: str,
    measure: str,
    ours: float,
    base: float | None,
    base_name: str,
    unit: str,
    target: str,
    ok: bool | None,
) -> Row:
    ratio = ours / base if base else None
    return {
        "section": section,
        "measure": measure,
        "masai": ours,
        "baseline": base,
        "baseline_name": base_name,
        "ratio": ratio,
        "unit": unit,
        "target": target,
        "met": ok,
    }


async def collect(quick: bool) -> tuple[list[Row], dict[str, Any], list[str]]:
    rows: list[Row] = []
    raw: dict[str, Any] = {}

    # 1-2. event pipeline, masai vs the reference, and LangGraph's custom stream
    ours = run_pipeline(sys.executable, quick)
    reference = run_pipeline(reference_python(), quick)
    raw["pipeline"] = {"masai": ours, "reference": reference}
    repeats = 1 if quick else 5
    for mode, key, yielding in (
        ("tight loop", "cpu_us_per_event", False),
        ("yield per emit", "cpu_us_per_event_yielding", True),
    ):
        for n, value in ours[key].items():
            ref = reference[key][n]
            rows.append(
                row(
                    "pipeline",
                    f"CPU/event, {int(n):,} events, {mode}",
                    value,
                    ref,
                    "masai-framework 0.6.5",
                    "µs",
                    "≤ 1/5",
                    value <= ref / 5,
                )
            )
            lg = await langgraph_baseline.custom_stream_cpu(int(n), yielding, repeats)
            rows.append(
                row(
                    "pipeline",
                    f"CPU/event, {int(n):,} events, {mode}",
                    value,
                    lg,
                    "LangGraph custom stream",
                    "µs",
                    "",
                    None,
                )
            )
    largest = max(ours["cpu_us_per_event"], key=int)
    for mode, key in (("tight loop", ""), ("yield per emit", "_yielding")):
        # What the tool costs by itself; "above the floor" is what each pipeline adds to it.
        floor, ref_floor = ours[f"floor_us_per_event{key}"], reference[f"floor_us_per_event{key}"]
        rows.append(
            row(
                "pipeline",
                f"the tool alone (no stream), {mode}",
                floor,
                ref_floor,
                "the tool alone, reference venv",
                "µs",
                "",
                None,
            )
        )
        rows.append(
            row(
                "pipeline",
                f"CPU/event above that floor, {int(largest):,} events, {mode}",
                ours[f"cpu_us_per_event{key}"][largest] - floor,
                reference[f"cpu_us_per_event{key}"][largest] - ref_floor,
                "masai-framework 0.6.5",
                "µs",
                "",
                None,
            )
        )
    for pct in ("p50_us", "p99_us"):
        rows.append(
            row(
                "pipeline",
                f"emit→chunk {pct[:3]} at 1 event/ms",
                ours["latency"][pct],
                reference["latency"][pct],
                "masai-framework 0.6.5",
                "µs",
                "",
                None,
            )
        )
    rows.append(
        row(
            "pipeline",
            "100 concurrent streams" if not quick else "concurrent streams",
            ours["concurrent_events_per_s"],
            reference["concurrent_events_per_s"],
            "masai-framework 0.6.5",
            "events/s",
            "",
            None,
        )
    )
    idle = f"CPU of {ours['idle_streams']:,} idle streams over {ours['idle_seconds']:g} s"
    rows.append(
        row(
            "pipeline",
            idle,
            ours["idle_cpu_s"],
            reference["idle_cpu_s"],
            "masai-framework 0.6.5",
            "CPU s",
            "~0",
            ours["idle_cpu_s"] <= 0.01 * ours["idle_seconds"],
        )
    )
    rows.append(
        row(
            "pipeline",
            f"peak buffered events, {ours['burst']:,}-event burst",
            ours["peak_buffered"],
            reference["peak_buffered"],
            "masai-framework 0.6.5",
            "events",
            "≤ 256 (bound)",
            ours["peak_buffered"] <= 256,
        )
    )

    # 3. agent loop
    for iterations in (10, 100):
        mine = await agent_loop.agent_loop_us(iterations, repeats * 2 + 1)
        theirs = await langgraph_baseline.agent_loop_us(iterations, repeats * 2 + 1)
        raw.setdefault("agent_loop", {})[str(iterations)] = {"masai": mine, "langgraph": theirs}
        rows.append(
            row(
                "agent loop",
                f"per iteration, {iterations} iterations",
                mine,
                theirs,
                "LangGraph 2-node graph",
                "µs",
                "≤ 1/10",
                mine <= theirs / 10,
            )
        )

    # 4. over HTTP
    raw["http"] = http = run_http(quick)
    mine_http, base_http = http["masai"], http["sse-starlette"]
    idle_rss, base_idle, idle_streams = mine_http["idle"], base_http["idle"], http["idle_streams"]
    label = f"{http['streams']} clients × {http['events']:,} events, 1/ms"
    rows.append(
        row(
            "http",
            f"events/s, {label}",
            mine_http["events_per_s"],
            base_http["events_per_s"],
            "sse-starlette",
            "events/s",
            "≥ 3×",
            mine_http["events_per_s"] >= 3 * base_http["events_per_s"],
        )
    )
    for pct in ("p50_ms", "p99_ms"):
        rows.append(
            row(
                "http",
                f"emit→receive {pct[:3]}, {label}",
                mine_http[pct],
                base_http[pct],
                "sse-starlette",
                "ms",
                "≤ 1/5" if pct == "p99_ms" else "",
                mine_http[pct] <= base_http[pct] / 5 if pct == "p99_ms" else None,
            )
        )
    saturated = f"{http['streams']} clients × {3 * http['events']:,} events, back to back"
    mine_sat, base_sat = mine_http["saturated"], base_http["saturated"]
    rows.append(
        row(
            "http",
            f"events/s, {saturated}",
            mine_sat["events_per_s"],
            base_sat["events_per_s"],
            "sse-starlette",
            "events/s",
            "",
            None,
        )
    )
    rows.append(
        row(
            "http",
            f"emit→receive p99, {saturated}",
            mine_sat["p99_ms"],
            base_sat["p99_ms"],
            "sse-starlette",
            "ms",
            "",
            None,
        )
    )
    light = f"{http['light_streams']} clients × {http['events']:,} events, 1/ms (light load)"
    for pct in ("p50_ms", "p99_ms"):
        rows.append(
            row(
                "http",
                f"emit→receive {pct[:3]}, {light}",
                mine_http["light"][pct],
                base_http["light"][pct],
                "sse-starlette",
                "ms",
                "",
                None,
            )
        )
    rows.append(
        row(
            "http",
            f"server RSS, {idle_streams:,} idle SSE connections",
            idle_rss["rss_mb"],
            base_idle["rss_mb"],
            "sse-starlette",
            "MB",
            "≤ 150",
            idle_rss["rss_mb"] <= 150,
        )
    )

    # 5. the server: sync tools, keys and limits, session memory
    raw["server"] = serve = run_serve(quick)
    serve["gate"] = await gate_cost.gate_cost_us(5 if quick else 30, 200 if quick else 500)
    server_rows, notes = serve_rows(serve)
    rows += server_rows

    # 6. import time
    bare = import_ms("pass")
    masai_ms = import_ms("import masai") - bare
    server_ms = import_ms("import masai.server") - bare
    runtime_ms = import_ms("from masai import AgentManager") - bare
    raw["imports"] = {
        "bare_ms": bare,
        "masai_ms": masai_ms,
        "server_ms": server_ms,
        "runtime_ms": runtime_ms,
    }
    rows.append(
        row(
            "import",
            "import masai (on top of bare Python)",
            masai_ms,
            bare,
            "python -c pass",
            "ms",
            "≤ 150",
            masai_ms <= 150,
        )
    )
    rows.append(
        row(
            "import",
            "from masai import AgentManager (the agent runtime too)",
            runtime_ms,
            bare,
            "python -c pass",
            "ms",
            "",
            None,
        )
    )
    rows.append(
        row(
            "import",
            "import masai.server (on top of bare Python)",
            server_ms,
            bare,
            "python -c pass",
            "ms",
            "",
            None,
        )
    )
    return rows, raw, notes


def table(rows: list[Row]) -> str:
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


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="CI smoke mode (seconds)")
    parser.add_argument("--json", type=Path, default=HERE / "results" / "latest.json")
    args = parser.parse_args()
    rows, raw, notes = asyncio.run(collect(args.quick))
    machine = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": _cpu_name(),
        "quick": args.quick,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    report = {"machine": machine, "rows": rows, "raw": raw, "notes": notes}
    args.json.write_text(json.dumps(report, indent=2))
    sys.stdout.write(table(rows) + "\n\n")
    for note in notes:
        sys.stdout.write(f"note: {note}\n")
    sys.stdout.write(f"machine: {machine}\nJSON: {args.json}\n")
    return 0


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    sys.exit(main())
