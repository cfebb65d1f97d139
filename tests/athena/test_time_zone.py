"""Athena evaluates in UTC; the local engine must too, whatever the machine's time zone (TZ) says.

DuckDB takes its session time zone from the process's TZ, so the engine pins `SET TimeZone = 'UTC'`. These checks
run in a subprocess with TZ=America/New_York (UTC-5 in November): they first show the premise (plain DuckDB there
reads hour 5 for 10:00Z), then that every zone-sensitive construct still gives Athena's UTC answer. Without the
pinned zone the hours, dates and texts below would all be New York's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# (Trino expression, Athena's answer as JSON-able text) — UTC by Athena's session time zone.
CHECKS: list[tuple[str, str]] = [
    ("hour(from_iso8601_timestamp('2026-11-24T10:00:00Z'))", "10"),
    ("CAST(CAST(from_iso8601_timestamp('2026-11-24T03:00:00Z') AS DATE) AS VARCHAR)", "2026-11-24"),
    ("date_format(from_iso8601_timestamp('2026-11-24T10:00:00Z'), '%Y-%m-%d %H')", "2026-11-24 10"),
    ("format_datetime(from_iso8601_timestamp('2026-11-24T10:00:00Z'), 'yyyy-MM-dd HH')", "2026-11-24 10"),
    ("to_iso8601(date_trunc('day', from_iso8601_timestamp('2026-11-24T03:00:00Z')))", "2026-11-24T00:00:00.000Z"),
    ("date_diff('day', from_iso8601_timestamp('2026-11-24T03:00:00Z'), TIMESTAMP '2026-11-25 02:00:00')", "0"),
    ("to_iso8601(from_unixtime(1795514400))", "2026-11-24T10:00:00.000Z"),
    ("to_unixtime(TIMESTAMP '2026-11-24 10:00:00')", "1795514400.0"),
    ("day_of_week(from_iso8601_timestamp('2026-11-23T02:00:00Z'))", "1"),
]

_SCRIPT = """
import json, sys, tempfile
from pathlib import Path
import duckdb
from athena_queries import local

checks = json.loads(sys.argv[1])
premise = duckdb.connect().execute(
    "SELECT current_setting('TimeZone'), hour(CAST('2026-11-24T10:00:00Z' AS TIMESTAMPTZ))"
).fetchone()
lake = Path(tempfile.mkdtemp())
(lake / "processed").mkdir()
answers = [str(local.run(f"SELECT {sql}", lake).rows[0][0]) for sql, _ in checks]
print(json.dumps({"premise": list(premise), "answers": answers}))
"""


def test_local_engine_answers_in_utc_under_a_new_york_machine_time_zone():
    # GIVEN a process whose machine time zone is New York
    env = {**os.environ, "TZ": "America/New_York", "PYTHONPATH": str(ROOT)}
    # WHEN the local engine runs the zone-sensitive checks there
    completed = subprocess.run(
        [sys.executable, "-c", _SCRIPT, json.dumps(CHECKS)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    # THEN plain DuckDB there is in New York time (so the test can fail) ...
    assert report["premise"] == ["America/New_York", 5]
    # ... and the engine gives Athena's UTC answers
    assert report["answers"] == [expected for _, expected in CHECKS]
