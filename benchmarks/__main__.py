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

from . import agent_loop, langgraph_baseline

HERE = Path(__file__).resolve().parent
REFERENCE = "masai-framework==0.6.5"


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


async def collect(quick: bool) -> tuple[list[Row], dict[str, Any]]:
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

    # 5. import time
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
    return rows, raw


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
    rows, raw = asyncio.run(collect(args.quick))
    machine = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": _cpu_name(),
        "quick": args.quick,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": machine, "rows": rows, "raw": raw}, indent=2))
    sys.stdout.write(table(rows) + "\n\n")
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
