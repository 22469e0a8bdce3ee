"""The benchmarks keep working: their quick (smoke) mode runs every section and baseline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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
    assert sections == {"pipeline", "agent loop", "http", "server", "import"}
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
        "python -c pass",
    }  # (the comparison with the server before keys and limits runs in full mode only)
    for r in rows:
        assert r["masai"] >= 0 and r["baseline"] is not None, r
    # Structural results that do not depend on the machine's speed:
    peak = next(r for r in rows if r["measure"].startswith("peak buffered"))
    assert peak["masai"] <= 256 < peak["baseline"]
    cap = next(r for r in rows if r["baseline_name"] == "--session-max-bytes")
    assert 0 < cap["masai"] <= cap["baseline"]  # session memory stays under its cap
    assert "| measure | masai |" in done.stdout and report["machine"]["quick"] is True
    assert any("skipped (quick mode)" in note for note in report["notes"])
