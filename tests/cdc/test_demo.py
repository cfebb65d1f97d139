"""`make demo ARGS=--cdc` end to end: connector -> real local Kafka broker -> standalone bridge -> stream ->
processor and Firehose -> lake -> the saved current-state query, before and after a delete."""

from __future__ import annotations

import argparse
import csv

import pytest

from local.cdc_demo import run_cdc_demo

pytestmark = pytest.mark.slow


def test_cdc_demo_current_state_equals_the_connectors_table_before_and_after_a_delete(tmp_path, capsys):
    # GIVEN the demo's arguments (fresh run directory, free port, a 1 s Firehose buffer)
    args = argparse.Namespace(context=[], run_dir=str(tmp_path), buffer_seconds=1.0, port=None, seed=5)
    # WHEN it runs
    status = run_cdc_demo(args)
    # THEN the lake's current state matched the producer's table both times, and the delete removed one row
    out = capsys.readouterr().out
    assert status == 0, out
    (run_dir,) = tmp_path.iterdir()
    before = list(csv.reader((run_dir / "clientes-lake-before.csv").open(encoding="utf-8")))
    after = list(csv.reader((run_dir / "clientes-lake-after.csv").open(encoding="utf-8")))
    assert before[0] == after[0] == ["id", "nombre", "email"]
    assert len(after) == len(before) - 1
    assert before[1] not in after  # the demo deletes the lowest id
    assert (run_dir / "clientes-lake-after.csv").read_text() == (run_dir / "clientes-expected-after.csv").read_text()
    assert "0 quarantined" in out
