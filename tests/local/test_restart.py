"""Restarts mid-stream: the processor and Firehose runners stop (or crash) while the producer keeps sending, then
resume from their checkpoints. Nothing the stream acknowledged is lost; nothing is e-mailed or landed twice."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from local.mailbox import read_mailbox
from local.stack import LocalOptions, LocalStack
from producers.test_producer import produce
from streamlake.config import load_config
from tests.reliability.ledger import expected_lifecycle, lifecycle_mail, stream_payloads


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


@pytest.mark.parametrize("kill", [False, True], ids=["clean-stop", "crash"])
def test_restarting_the_runners_mid_stream_loses_and_duplicates_nothing(tmp_path, kill):
    # GIVEN a local stack and a producer sending 1,200 records at 600 records/s
    config = load_config({})
    with LocalStack(config, LocalOptions(tmp_path, buffer_seconds=0.5, alarm_interval_seconds=1.0)) as stack:
        result = {}
        producer = threading.Thread(
            target=lambda: result.setdefault(
                "summary",
                produce(
                    stack.resources.stream_name,
                    count=1200,
                    family="sensor",
                    rate=600,
                    seed=3,
                    endpoint_url=stack.endpoint.url,
                    spikes=0,
                ),
            )
        )
        producer.start()
        # WHEN the runners stop (or crash, dropping Firehose's unwritten buffer) mid-stream, once the processor
        # has finished some records ...
        _wait(lambda: stack.poller.stats.records_succeeded >= 100, 60, "the first records processed")
        stack.stop_runners(kill=kill)
        processed_at_stop = stack.poller.stats.records_succeeded
        # ... with records in flight: on the stream, not processed (a backlog, or the producer still sending) ...
        _wait(lambda: stack.stream_record_count() > processed_at_stop, 30, "records the stopped processor has not read")
        # ... and they start again
        stack.start_runners()
        producer.join()
        summary = result["summary"]
        stack.wait_until_processed(timeout=120)
        stack.wait_for_mail()
        stack.wait_until_delivered(timeout=120)
        assert stack.errors == []
        stream = stream_payloads(stack)

    # THEN every acknowledged record is in the lake exactly once
    assert summary.ok and summary.sent == 1200
    sent = [json.loads(r.data) for r in summary.records]
    rows = duckdb.sql(f"SELECT event_id FROM read_parquet('{tmp_path}/lake/processed/**/*.parquet')").fetchall()
    landed = Counter(event_id for (event_id,) in rows)
    assert sorted(landed) == sorted(r["event_id"] for r in sent)
    assert set(landed.values()) == {1}
    # AND the high-temperature e-mails are those of the independent model over the stream, each exactly once
    # (replayed records are neither alerted on nor counted twice)
    expected = expected_lifecycle(stream, {r.data for r in summary.records}, config)
    assert any(stage == "enter" for stage, _ in expected)
    assert lifecycle_mail(Path(tmp_path)) == expected
    bodies = [m.get_content() for m in read_mailbox(Path(tmp_path) / "mailbox.mbox") if m["To"].startswith("alerts")]
    assert len(bodies) == sum(expected.values())
