"""The fuzz target (tests/fuzz/stages.py) runs for FUZZ_SECONDS (20 by default) from the seed corpus and finds no
crash; every input that once crashed a stage (tests/data/hostile/fuzz/) still passes through every stage.

`make fuzz` runs the same target for longer and keeps its corpus under run/fuzz/.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.seeds import FUZZ_CASES, write_seeds

ROOT = Path(__file__).resolve().parents[2]
DICTIONARY = Path(__file__).resolve().parent / "json.dict"

pytestmark = pytest.mark.slow


def run_target(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.fuzz.stages", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_twenty_seconds_of_coverage_guided_fuzzing_find_no_crash(tmp_path):
    seconds = int(os.environ.get("FUZZ_SECONDS", "20"))
    corpus, artifacts = tmp_path / "corpus", tmp_path / "artifacts"
    artifacts.mkdir()
    assert write_seeds(corpus) > 100
    result = run_target(
        f"-max_total_time={seconds}",
        f"-dict={DICTIONARY}",
        f"-artifact_prefix={artifacts}/",
        "-rss_limit_mb=2048",
        str(corpus),
        timeout=seconds + 120,
    )
    crashes = sorted(p.name for p in artifacts.iterdir())
    assert result.returncode == 0 and crashes == [], (
        f"the fuzzer found a crash: copy {artifacts}/<file> to tests/data/hostile/fuzz/ and fix the stage\n"
        + result.stderr[-4000:]
    )
    runs = re.search(r"Done (\d+) runs in (\d+) second", result.stderr)
    assert runs is not None and int(runs.group(1)) > 0, result.stderr[-2000:]
    print(f"fuzz: {runs.group(1)} executions in {runs.group(2)} s, 0 crashes")


def test_every_input_that_ever_crashed_a_stage_passes_through_all_of_them():
    cases = sorted(p for p in FUZZ_CASES.iterdir() if p.is_file())
    assert cases, "tests/data/hostile/fuzz/ holds the crash inputs found so far"
    result = run_target(*map(str, cases), timeout=120)
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stderr.count("Executed ") == len(cases)
