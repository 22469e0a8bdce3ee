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
    assert {r["section"] for r in rows} == {"pipeline", "agent loop", "http", "import"}
    assert {r["baseline_name"] for r in rows} == {
        "masai-framework 0.6.5",
        "the tool alone, reference venv",
        "LangGraph custom stream",
        "LangGraph 2-node graph",
        "sse-starlette",
        "python -c pass",
    }
    for r in rows:
        assert r["masai"] >= 0 and r["baseline"] is not None, r
    # Structural results that do not depend on the machine's speed:
    peak = next(r for r in rows if r["measure"].startswith("peak buffered"))
    assert peak["masai"] <= 256 < peak["baseline"]
    assert "| measure | masai |" in done.stdout and report["machine"]["quick"] is True
