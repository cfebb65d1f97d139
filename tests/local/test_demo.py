"""`make demo` as a newcomer runs it: one command, every step shown, a clean stop, a run directory left behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_shows_every_step_and_leaves_a_run_directory(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "local", "demo", "--run-dir", str(tmp_path), "--records", "300", "--rate", "600"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    out = result.stdout
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    steps = [
        "[1] starting",
        "[2] producing",
        "[3] processing",
        "[4] alerts",
        "[5] data landing",
        "[6] quarantine",
        "[7] event-time windows",
        "[8] lab queries",
        "stopped cleanly",
    ]
    positions = [out.index(step) for step in steps]
    assert positions == sorted(positions), "steps appear in order"
    for query in ("lab_latest_readings", "lab_avg_temperature_by_sensor", "lab_readings_above_30c"):
        assert f"{query} (" in out and f"{query}: failed" not in out
    assert "Traceback" not in out + result.stderr
    [run_dir] = [p for p in tmp_path.iterdir() if p.name.startswith("demo-")]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["producer"]["sent"] == 300 and summary["processed"] == 300
    assert summary["windows"] and " readings, avg " in out
    assert summary["quarantined"] == summary["producer"]["malformed_sent"] > 0
    assert (run_dir / "mailbox.mbox").stat().st_size > 0 and (run_dir / "logs" / "processor.log").exists()
    assert f"mailbox (open it with any mail client, or `less`): {run_dir / 'mailbox.mbox'}" in out
