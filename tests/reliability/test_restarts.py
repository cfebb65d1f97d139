"""Crashes and restarts mid-stream, beyond tests/local/test_restart.py (which restarts the runners, cleanly or with
Firehose's buffer dropped): Firehose killed in the middle of writing a buffer, and the whole local stack - moto
server included - stopped and started again while the producer keeps sending.

What "restart" means for the whole stack: moto keeps every resource in memory, so a new server starts with an empty
stream and bucket (on AWS the stream and bucket would outlive the compute). What persists is the run directory: the
lake as files, the mailbox, the logs. So the test does what an operator does before restarting local mode: the
endpoint refuses writes (the producer backs off and retries), the stack drains what the stream acknowledged into the
lake and mailbox, stops, starts on the same port and run directory, and the producer carries on into the new stream.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from lambdas.schemas import parse
from local.moto_server import free_port
from producers.test_producer import make_client, produce
from tests.reliability.faults import FailingCalls
from tests.reliability.harness import local_stack
from tests.reliability.ledger import (
    Tally,
    account,
    expected_lifecycle,
    lake_rows,
    landed_once_per_event_id,
    lifecycle_mail,
    stream_payloads,
)

pytestmark = pytest.mark.slow


class DeliveryKilledError(Exception):
    """The Firehose process dying part-way through writing a buffer."""


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _producer(target, **kwargs) -> tuple[threading.Thread, dict]:
    result: dict = {}
    thread = threading.Thread(target=lambda: result.setdefault("summary", target(**kwargs)), daemon=True)
    thread.start()
    return thread, result


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the deliverer dies on purpose
def test_firehose_killed_while_writing_a_buffer_rewrites_it_and_the_copies_are_removed_by_event_id(tmp_path, tallies):
    with local_stack("firehose-kill", tmp_path) as stack:
        # GIVEN Firehose dies after writing the raw backup and the log table's object of a buffer, before the
        # sensor table's object and before its checkpoint
        killed = threading.Event()
        written_before_kill: list[str] = []  # keys of the buffer being written

        def kill_mid_write(params, **_):
            key = params["Key"]
            if killed.is_set():
                return
            if key.startswith("raw/"):
                written_before_kill.clear()  # a new buffer: its raw backup is always written first
            elif key.startswith("processed/family=sensor/") and any("family=log/" in k for k in written_before_kill):
                killed.set()
                raise DeliveryKilledError(f"killed before writing {key}")
            written_before_kill.append(key)

        stack.clients["s3"].meta.events.register("before-parameter-build.s3.PutObject", kill_mid_write)
        # WHEN records arrive while that happens
        thread, result = _producer(
            produce,
            stream=stack.resources.stream_name,
            count=1500,
            family="mixed",
            rate=500,
            bad_ratio=0.02,
            seed=41,
            endpoint_url=stack.endpoint.url,
            failure_path=tmp_path / "failures.jsonl",
        )
        _wait(lambda: killed.is_set() and stack.errors, 30, "the deliverer to die mid-write")
        assert "DeliveryKilledError" in stack.errors[0]
        # AND the dead deliverer is replaced (the runners restart from their checkpoints)
        stack.errors.clear()
        stack.stop_runners(kill=True)
        stack.start_runners()
        thread.join(60)
        summary = result["summary"]
        stack.wait_until_processed(timeout=120)
        stack.wait_for_mail()
        stack.wait_until_delivered(timeout=120)
        assert stack.errors == []
        # THEN the buffer was read again from the checkpoint and written whole: the log rows written before the kill
        # are in the lake twice, with the same event_ids, and nothing is missing
        assert summary.ok and summary.sent == 1500
        tally = account(stack, summary.records, "Firehose killed mid-write (raw + 1 table object written)")
        assert tally.lost == 0 and tally.duplicates_removed > 0
        rows = lake_rows(tmp_path, ("event_id", "family"))
        copies = Counter(r["event_id"] for r in rows)
        assert {r["family"] for r in rows if copies[r["event_id"]] > 1} == {"log"}
    tally.retried = tally.duplicates_removed
    tally.notes = (
        f"deliverer died after {len(written_before_kill)} of a buffer's objects; the restarted one re-read the buffer "
        f"from its checkpoint and rewrote it: {tally.duplicates_removed} log rows twice in the lake, one per event_id "
        "when read"
    )
    tallies.append(tally)


def _valid_ids(records) -> set[str]:
    return {parse(r.data).event_id for r in records if r.valid}


def _invalid_positions(records) -> set[str]:
    return {r.position["sequence_number"] for r in records if not r.valid}


def test_the_whole_local_stack_restarted_mid_stream_loses_and_duplicates_nothing_acknowledged(tmp_path, tallies):
    port = free_port()
    acked: list = []
    # GIVEN a producer whose writes the endpoint can refuse (503) while the stack restarts; it retries with backoff
    client = make_client("kinesis", f"http://127.0.0.1:{port}")
    outage = {"on": False}
    refusals = FailingCalls(client, "kinesis.PutRecords", "ServiceUnavailable", lambda _: outage["on"])
    first = local_stack("full-restart", tmp_path, port=port).start()
    try:
        thread, result = _producer(
            produce,
            stream=first.resources.stream_name,
            count=1500,
            family="mixed",
            rate=400,
            bad_ratio=0.03,
            seed=42,
            spikes=10,
            client=client,
            shards=1,
            max_attempts=40,
            failure_path=tmp_path / "failures.jsonl",
            on_sent=acked.append,
        )
        _wait(lambda: len(acked) >= 400, 30, "the first records")
        # WHEN the endpoint starts refusing writes (once a write was refused, none is in flight) ...
        outage["on"] = True
        _wait(lambda: refusals.failed > 0, 10, "a refused write")
        acknowledged_by_first = len(acked)
        # ... the first stack drains what its stream acknowledged, and stops
        first.wait_until_processed(timeout=60)
        first.wait_for_mail()
        first.wait_until_delivered(timeout=60)
        assert first.errors == []
        first_quarantine = {q["position"]["sequence_number"] for q in first.quarantined()}
        first_stream = stream_payloads(first)
    finally:
        first.stop()
    # AND a new stack starts on the same port and run directory, and the endpoint takes writes again
    second = local_stack("full-restart", tmp_path, port=port).start()
    try:
        outage["on"] = False
        thread.join(60)
        summary = result["summary"]
        second.wait_until_processed(timeout=60)
        second.wait_for_mail()
        second.wait_until_delivered(timeout=60)
        assert second.errors == []
        # The new stream holds exactly what was acknowledged after the restart (no stale checkpoint skips any)
        assert second.stream_record_count() == summary.sent - acknowledged_by_first
        assert second.poller.stats.records_succeeded == second.stream_record_count()
        second_quarantine = {q["position"]["sequence_number"] for q in second.quarantined()}
        second_stream = stream_payloads(second)
    finally:
        second.stop()

    # THEN every acknowledged record is in the lake (the run directory's copy) exactly once, or was quarantined by
    # the stack whose stream acknowledged it
    assert summary.ok and summary.sent == 1500 and refusals.failed > 0
    valid = {r.data for r in summary.records if r.valid}
    first_expected = expected_lifecycle(first_stream, valid, first.config)
    before, after = summary.records[:acknowledged_by_first], summary.records[acknowledged_by_first:]
    landed, copies = landed_once_per_event_id(lake_rows(tmp_path))
    assert landed == _valid_ids(summary.records) and copies == 0
    assert _invalid_positions(before) == first_quarantine
    assert _invalid_positions(after) == second_quarantine
    # AND the high-temperature and burst e-mails are the model's over each stack's stream, each once (the mailbox
    # file outlives both stacks; the alert state lived in the first stack's DynamoDB and started again with the
    # second, as a deployment whose table was recreated would)
    assert lifecycle_mail(Path(tmp_path)) == first_expected + expected_lifecycle(second_stream, valid, second.config)
    tallies.append(
        Tally(
            "whole local stack (moto server too) restarted mid-stream",
            sent=summary.sent,
            landed=len(landed),
            quarantined=len(first_quarantine) + len(second_quarantine),
            duplicates_removed=copies,
            retried=refusals.failed,
            lost=summary.sent - len(landed) - len(first_quarantine) - len(second_quarantine),
            notes=(
                f"{acknowledged_by_first} records acknowledged before the restart, drained, then {refusals.failed} "
                "refused writes retried by the producer into the new stack's stream"
            ),
        )
    )
