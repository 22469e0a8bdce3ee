"""The benchmarks keep working: their quick (smoke) mode runs every section and baseline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(900)  # (every benchmark, servers and baselines included: minutes)
def test_quick_benchmark_covers_every_section_and_baseline(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    rows = report["rows"]
    sections = {r["section"] for r in rows}
    assert sections == {"pipeline", "agent loop", "http", "server", "runs", "redis", "import"}
    assert {r["baseline_name"] for r in rows} == {
        "masai-framework 0.6.5",
        "the tool alone, reference venv",
        "LangGraph custom stream",
        "LangGraph 2-node graph",
        "sse-starlette",
        "one run alone",
        "async tool, same burst",
        "RSS before the runs",
        "RSS halfway",
        "the same, no gate",
        "--session-max-bytes",
        "LangGraph Agent Server",
        "bare Starlette SSE",
        "EventStream, no log",
        "python -c pass",
        "in-process server",
        "1 worker",
        "same server",
    }  # (the comparison with the server before keys and limits runs in full mode only)
    for r in rows:
        assert r["masai"] >= 0 and r["baseline"] is not None, r
    # Structural results that do not depend on the machine's speed:
    peak = next(r for r in rows if r["measure"].startswith("peak buffered"))
    assert peak["masai"] <= 256 < peak["baseline"]
    floor = next(r for r in rows if r["baseline_name"] == "bare Starlette SSE")
    assert floor["baseline"] > 0  # the floor under CPU per event was measured, not assumed
    cap = next(r for r in rows if r["baseline_name"] == "--session-max-bytes")
    assert 0 < cap["masai"] <= cap["baseline"]  # session memory stays under its cap
    # Through Redis (API server + workers): nothing lost, every run and control took effect.
    redis = report["raw"]["redis"]
    assert redis["latency"]["redis"]["lost"] == redis["latency"]["redis"]["duplicates"] == 0
    assert redis["latency"]["redis"]["ended"] and redis["latency"]["redis"]["live_events"] > 0
    runs = redis["plan"]["runs"]
    assert all(t["completed"] == runs for t in redis["throughput"].values())
    for kind in ("other", "same"):
        resumed = redis["resume"][kind]
        assert resumed["reconnects"] > 0
        assert (resumed["lost"], resumed["duplicates"], resumed["id_errors"]) == (0, 0, 0)
    for target in ("redis", "in_process"):
        control = redis["control"][target]
        assert control["as_expected"] == control["of"] == 2 * redis["control"]["repeats"]
    assert "| measure | masai |" in done.stdout and report["machine"]["quick"] is True
    assert any("skipped (quick mode)" in note for note in report["notes"])


def test_runs_benchmark_smallest_mode_is_sane() -> None:
    """``runs_bench`` in its smallest mode (masai only: no LangGraph install, seconds): every
    number is positive, and dropping and resuming with ``Last-Event-ID`` lost nothing and
    repeated nothing. Its table rows say "not available" where LangGraph did not run."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.runs_bench", "--quick", "--only", "masai", "log"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    ours, plan = result["masai"], result["plan"]
    assert ours["stream"]["server_cpu_us_per_event"] > 0
    assert ours["stream"]["first_event_ms"] > 0
    resume = ours["resume"]
    assert resume["reconnects"] > 0 and resume["reconnect_p50_ms"] > 0
    assert resume["reconnect_p99_ms"] >= resume["reconnect_p50_ms"]
    assert (resume["duplicates"], resume["losses"], resume["id_errors"]) == (0, 0, 0)
    assert all(t["events"] == plan["events"] for t in resume["per_trial"])
    assert ours["replay"]["events_per_s"] > 0
    viewers = ours["viewers"]
    assert viewers["complete_viewers"] == viewers["viewers"] == plan["viewers"]
    assert viewers["seconds"] > 0 and viewers["server_cpu_s"] > 0 and viewers["lag_p99_ms"] > 0
    log = result["log_cost"]
    assert log["stream_us_per_event"] > 0 and log["runs_follow_us_per_event"] > 0
    assert "unavailable" in result["langgraph"]

    from benchmarks._report import table
    from benchmarks._server_report import runs_rows

    rows, notes = runs_rows(result)
    assert {r["section"] for r in rows} == {"runs"}
    compared = [r for r in rows if r["baseline_name"].startswith("LangGraph")]
    assert compared and all(r["baseline"] is None for r in compared)
    assert all("not available" in r["baseline_name"] for r in compared)
    assert "not available" in table(rows) and any("not available" in n for n in notes)
