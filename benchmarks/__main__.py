"""Run every benchmark, baselines included, in one go: ``python -m benchmarks [--quick]``.

Prints a table of medians with our/baseline ratios and the targets, and writes the numbers as
JSON (``benchmarks/results/latest.json`` by default). ``--quick`` is the CI smoke mode: small
sizes, same code paths, seconds not minutes; its numbers are not for quoting.

This module measures (here, or by running each benchmark in its own process); ``_report``,
``_server_report`` and ``_redis_report`` turn the numbers into the table's rows.
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

from . import agent_loop, gate_cost, langgraph_baseline
from ._redis_report import redis_rows
from ._report import (
    CPU_MODES,
    Row,
    agent_loop_rows,
    encoder_rows,
    http_rows,
    import_rows,
    pipeline_rows,
    table,
)
from ._server_report import runs_rows, serve_rows
from ._venvs import VENVS, venv_python

HERE = Path(__file__).resolve().parent
REFERENCE = "masai-framework==0.6.5"


def reference_python() -> str:
    """A virtualenv holding only the reference's code: its streaming modules need nothing else,
    so it is installed without its (large) dependency tree."""
    return venv_python(VENVS / "masai-framework-0.6.5", (REFERENCE,), no_deps=True)


def _json_from(command: list[str], quick: bool, **how: Any) -> dict[str, Any]:
    """Run ``command`` (with ``--quick`` in quick mode) and read the JSON it prints."""
    done = subprocess.run(
        [*command, *(["--quick"] if quick else [])],
        capture_output=True,
        text=True,
        check=True,
        **how,
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def run_pipeline(python: str, quick: bool, *options: str) -> dict[str, Any]:
    """The pipeline benchmark under ``python`` (this environment's, or the reference's), run
    from ``/`` without ``PYTHONPATH``: each interpreter imports its own masai."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return _json_from([python, str(HERE / "pipeline.py"), *options], quick, env=env, cwd="/")


#: Extra rounds of the pipeline's CPU measures, alternating masai and the reference, on top of
#: the full run of each: a shared machine's load changes by the second, and one run of each,
#: one after the other, can put them under different loads (up to 2× apart).
CPU_ROUNDS = {True: 4, False: 2}  # (by ``quick``: a full round takes a minute)


def pipeline_cpu(quick: bool) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """Both implementations' full pipeline runs, their CPU numbers replaced by medians over
    those runs and ``CPU_ROUNDS`` more, alternated; and every round's numbers."""
    reference_py = reference_python()
    ours = run_pipeline(sys.executable, quick)
    reference = run_pipeline(reference_py, quick)
    rounds: list[dict[str, Any]] = [{"masai": dict(ours), "reference": dict(reference)}]
    for _ in range(CPU_ROUNDS[quick]):
        rounds.append(
            {
                "masai": run_pipeline(sys.executable, quick, "--cpu-only"),
                "reference": run_pipeline(reference_py, quick, "--cpu-only"),
            }
        )
    for name, result in (("masai", ours), ("reference", reference)):
        for key, value in rounds[-1][name].items():  # (the CPU measures: what every round has)
            samples = [r[name][key] for r in rounds]
            if isinstance(value, dict):
                result[key] = {n: statistics.median(s[n] for s in samples) for n in value}
            else:
                result[key] = statistics.median(samples)
    return ours, reference, rounds


def run_bench(module: str, quick: bool) -> dict[str, Any]:
    """``benchmarks.{module}`` in its own process: its own event loop and CPU (``http_bench``,
    ``serve_bench``, ``runs_bench``, ``redis_bench``; ``runs_bench`` installs LangGraph's server
    into its own virtualenv on first use)."""
    return _json_from([sys.executable, "-m", f"benchmarks.{module}"], quick, cwd=HERE.parent)


def repeats_for(quick: bool) -> int:
    return 1 if quick else 5


async def pipeline(quick: bool) -> tuple[dict[str, Any], list[Row]]:
    """The event pipeline, masai against the reference (each in its own interpreter) and
    against LangGraph's custom stream (in this process)."""
    ours, reference, rounds = pipeline_cpu(quick)
    langgraph: dict[tuple[str, str], float] = {}
    for _, key, yielding, by_hand in CPU_MODES:
        if by_hand:
            continue  # (LangGraph's custom stream has no hand-attributed counterpart)
        for n in ours[key]:
            langgraph[key, n] = await langgraph_baseline.custom_stream_cpu(
                int(n), yielding, repeats_for(quick)
            )
    rows = pipeline_rows(ours, reference, langgraph, quick)
    return {"masai": ours, "reference": reference, "cpu_rounds": rounds}, rows


async def agent_loops(quick: bool) -> dict[str, dict[str, float]]:
    """µs per iteration of the agent loop, masai's and a LangGraph graph's, by iterations."""
    loops: dict[str, dict[str, float]] = {}
    repeats = repeats_for(quick) * 2 + 1
    for iterations in (10, 100):
        mine = await agent_loop.agent_loop_us(iterations, repeats)
        theirs = await langgraph_baseline.agent_loop_us(iterations, repeats)
        loops[str(iterations)] = {"masai": mine, "langgraph": theirs}
    return loops


def import_ms(code: str, runs: int = 5) -> float:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        samples.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(samples)


def import_times() -> dict[str, float]:
    """Import times in ms, each on top of a bare interpreter's start (``bare_ms``)."""
    bare = import_ms("pass")
    return {
        "bare_ms": bare,
        "masai_ms": import_ms("import masai") - bare,
        "server_ms": import_ms("import masai.server") - bare,
        "runtime_ms": import_ms("from masai import AgentManager") - bare,
    }


async def collect(quick: bool) -> tuple[list[Row], dict[str, Any], list[str]]:
    raw: dict[str, Any] = {}

    # 1-2. event pipeline, masai vs the reference, and LangGraph's custom stream
    raw["pipeline"], pipeline_table = await pipeline(quick)
    rows: list[Row] = list(pipeline_table)

    # 2b. each wire protocol's encoding cost per event, against the spec encoder
    raw["encoders"] = encoders = run_bench("encoders_bench", quick)
    encoders_table, notes = encoder_rows(encoders)
    rows += encoders_table

    # 3. agent loop
    raw["agent_loop"] = loops = await agent_loops(quick)
    rows += agent_loop_rows(loops)

    # 4. over HTTP
    raw["http"] = http = run_bench("http_bench", quick)
    rows += http_rows(http)

    # 5. the server: sync tools, keys and limits, session memory
    raw["server"] = serve = run_bench("serve_bench", quick)
    serve["gate"] = await gate_cost.gate_cost_us(5 if quick else 30, 200 if quick else 500)
    server_rows, server_notes = serve_rows(serve)
    rows += server_rows
    notes += server_notes

    # 6. resumable runs, against LangGraph's Agent Server; the log's cost in process
    raw["runs"] = runs = run_bench("runs_bench", quick)
    run_rows, run_notes = runs_rows(runs)
    rows += run_rows
    notes += run_notes

    # 7. scale-out on Redis: API server + workers against the in-process server
    raw["redis"] = redis = run_bench("redis_bench", quick)
    redis_table, redis_notes = redis_rows(redis)
    rows += redis_table
    notes += redis_notes

    # 8. import time
    raw["imports"] = imports = import_times()
    rows += import_rows(imports)
    return rows, raw, notes


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
