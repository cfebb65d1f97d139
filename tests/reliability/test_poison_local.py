"""Issue 15's outside check, in local mode: a few hundred crafted poison records through `python -m local up`'s stack.

Every record ends where the contract's verdict, taken here at the top of the test's stack, puts it: accepted ones in
the lake's tables (and nowhere in errors/), refused ones in quarantine/ with the same reason and in Firehose's
errors/processing-failed/. No batch fails, no runner raises or restarts, nothing is lost.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lambdas.schemas import judge
from producers.test_producer import produce
from tests.reliability.harness import local_stack
from tests.reliability.ledger import Tally, firehose_errors, lake_rows, landed_once_per_event_id
from tests.reliability.poison import crafted_records

pytestmark = pytest.mark.slow
COUNT = 300


def test_crafted_poison_records_land_or_are_quarantined_as_the_contract_says(tmp_path, tallies):
    records = crafted_records(COUNT)
    with local_stack("poison", tmp_path) as stack:
        summary = produce(
            stack.resources.stream_name,
            records=[(data, f"poison-{i}", None) for i, data in enumerate(records)],
            endpoint_url=stack.endpoint.url,
            failure_path=tmp_path / "failures.jsonl",
        )
        stack.wait_until_processed(timeout=120)
        stack.wait_until_delivered(timeout=120)
        quarantined = {q["position"]["sequence_number"]: q for q in stack.quarantined()}
        poller, errors, restarts = stack.poller.stats, list(stack.errors), stack.runner_restarts

    assert summary.ok and summary.sent == COUNT
    assert (errors, restarts, poller.function_errors, poller.records_discarded) == ([], 0, 0, 0)
    now = datetime.now(UTC)
    verdicts = {s.position["sequence_number"]: (s.data, judge(s.data, now=now)) for s in summary.records}
    accepted = {v.event.event_id for _, v in verdicts.values() if v.event is not None}
    refused = {seq: v.reason for seq, (_, v) in verdicts.items() if v.event is None}

    landed, copies = landed_once_per_event_id(lake_rows(tmp_path))
    assert landed == accepted and copies == 0
    assert {seq: q["reason"] for seq, q in quarantined.items()} == refused
    assert all(quarantined[seq]["data"] == verdicts[seq][0] for seq in refused)
    failed = firehose_errors(tmp_path, "processing-failed")
    assert sorted(f["data"] for f in failed) == sorted(verdicts[seq][0] for seq in refused)
    assert firehose_errors(tmp_path, "format-conversion-failed") == []

    tallies.append(
        Tally(
            "poison records in local mode (issue 15's outside check)",
            sent=summary.sent,
            landed=len(landed),
            quarantined=len(quarantined),
            lost=summary.sent - len(landed) - len(quarantined),
            notes=f"near-miss timestamps, UUIDs and enumerations, BOM, duplicate keys, nesting 28-36 and 900-1100 "
            f"levels, control characters in alert fields; runner restarts {restarts}",
        )
    )
