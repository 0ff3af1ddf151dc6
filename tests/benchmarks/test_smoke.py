"""The benchmarks must keep working: CI runs every one of them at smoke size (seconds, tiny data).

The figures are not asserted (targets are goals, and CI machines are noisy); what is asserted is that
each benchmark measured something real and reported it in the table the full run writes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks.__main__ import BENCHMARKS

ROOT = Path(__file__).resolve().parents[2]


def test_every_benchmark_runs_at_smoke_size_and_reports_rows(tmp_path: Path) -> None:
    output = tmp_path / "performance.md"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--size", "smoke", "--output", str(output)],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    page = output.read_text(encoding="utf-8")
    assert page.startswith("# Performance")
    for name in BENCHMARKS:
        assert f"== {name} (smoke)" in done.stderr
    # Each section contributes at least one data row with a value.
    lines = page.splitlines()
    data_rows = [line for line in lines if line.startswith("| ") and not line.startswith("| Area")]
    assert len(data_rows) >= 2 * len(BENCHMARKS)  # summary + sections
    assert all(line.split("|")[3].strip() for line in data_rows)
