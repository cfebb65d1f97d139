"""Faults in the processor's side effects (SNS, S3) and in the processor itself (raising mid-batch), in local mode.

The processor reports the records whose effect failed; the event source mapping retries them and, past its retry
budget, names the batch in the on-failure queue (SQS). Replaying those batches from the stream once the cause is
fixed completes the work: every alert goes out exactly once (de-duplicated on the event id however often a record is
processed), every invalid record is quarantined once per stream position. The lake is written by Firehose straight
from the stream, so none of these faults touch it; each test still checks it holds every record.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lambdas.processor import metric_names
from lambdas.processor.handler import get_effects
from producers.test_producer import produce
from tests.reliability import flaky_handler
from tests.reliability.faults import FailingCalls
from tests.reliability.harness import local_stack, processor_metric, replay_dead_letters
from tests.reliability.ledger import (
    account,
    dead_letters,
    expected_lifecycle,
    lifecycle_mail,
    mail_bodies,
    stream_payloads,
)

pytestmark = pytest.mark.slow


def _send(stack, run_dir: Path, count: int, seed: int):
    summary = produce(
        stack.resources.stream_name,
        count=count,
        family="mixed",
        bad_ratio=0.05,
        seed=seed,
        spikes=10,
        endpoint_url=stack.endpoint.url,
        failure_path=run_dir / "failures.jsonl",
    )
    assert summary.ok
    return summary


def _settle(stack) -> None:
    stack.wait_until_processed(timeout=120)
    stack.wait_for_mail()
    stack.wait_until_delivered(timeout=120)
    assert stack.errors == []


def _alerting(stack, summary) -> list:
    """Valid records that must each be e-mailed once: student notifications (but SMS ones: their one-line text
    carries no reference to find them by). High temperatures and error bursts have a lifecycle: see _lifecycle."""
    expected = []
    for record in summary.records:
        if not record.valid or record.family != "student":
            continue
        event = json.loads(record.data)
        if (event["event_type"] == "grade_posted" or event.get("channel")) and event.get("channel") != "sms":
            expected.append(record)
    return expected


def _lifecycle_as_modelled(stack, summary, run_dir: Path) -> None:
    """The high-temperature and error-burst e-mails are exactly the model's over the stream, each once."""
    valid = {r.data for r in summary.records if r.valid}
    expected = expected_lifecycle(stream_payloads(stack), valid, stack.config)
    assert any(stage == "enter" for stage, _ in expected), "the run should open alerts"
    assert lifecycle_mail(run_dir) == expected


def _assert_mailed_once(run_dir: Path, records: list) -> None:
    bodies = mail_bodies(run_dir)
    assert records
    for record in records:
        assert sum(record.event_id in body for body in bodies) == 1, record.event_id
    assert len(bodies) == len(set(bodies)), "an e-mail went out twice"


def test_sns_throttling_retries_only_the_alerting_records_and_each_alert_goes_out_once(tmp_path, tallies):
    with local_stack("sns-throttle", tmp_path) as stack:
        # GIVEN SNS refuses the first 3 PublishBatch calls (fewer than the mapping's 4 attempts at a batch)
        sns = FailingCalls(get_effects().alerts.sns, "sns.PublishBatch", "Throttling", lambda call: call <= 3)
        # WHEN 600 mixed records arrive
        summary = _send(stack, tmp_path, 600, seed=31)
        _settle(stack)
        # THEN the records whose alert failed were retried, none given up on
        retried = processor_metric(stack, metric_names.RECORDS_RETRIED)
        assert sns.failed == 3 and retried > 0
        assert stack.poller.stats.records_discarded == 0 and dead_letters(stack) == []
        # AND every alert was e-mailed exactly once
        _assert_mailed_once(tmp_path, _alerting(stack, summary))
        _lifecycle_as_modelled(stack, summary, tmp_path)
        tally = account(stack, summary.records, "SNS PublishBatch throttled (transient)")
    assert tally.lost == 0
    tally.retried = int(retried)
    tally.notes = f"{sns.failed} PublishBatch calls failed; {int(retried)} records reported in batchItemFailures"
    tallies.append(tally)


def test_sns_outage_past_the_retry_budget_goes_to_the_dlq_and_replaying_it_sends_each_alert_once(tmp_path, tallies):
    with local_stack("sns-outage", tmp_path) as stack:
        # GIVEN SNS refuses every PublishBatch until the outage ends
        outage = {"on": True}
        sns = FailingCalls(get_effects().alerts.sns, "sns.PublishBatch", "InternalError", lambda _: outage["on"])
        # WHEN 300 mixed records arrive during the outage
        summary = _send(stack, tmp_path, 300, seed=32)
        _settle(stack)
        # THEN the batches with alerts were retried, then named in the on-failure queue (the lake is unaffected)
        letters = dead_letters(stack)
        assert letters and stack.poller.stats.records_discarded == sum(
            m["KinesisBatchInfo"]["batchSize"] for m in letters
        )
        assert {m["requestContext"]["condition"] for m in letters} == {"RetryAttemptsExhausted"}
        # WHEN SNS is back and the operator replays the dead-lettered batches from the stream
        outage["on"] = False
        replayed = replay_dead_letters(stack, letters)
        stack.wait_for_mail()
        # THEN every alert went out exactly once: those sent before the outage were not sent again
        _assert_mailed_once(tmp_path, _alerting(stack, summary))
        # AND every sensor that read hot had its alert opened, no lifecycle message twice. (Not the model's exact
        # messages: the mapping moved past the dead-lettered batches while SNS was down, so their records were
        # applied after later ones when replayed.)
        mailed = lifecycle_mail(tmp_path)
        assert set(mailed.values()) == {1}
        readings = [json.loads(r.data) for r in summary.records if r.valid and r.family == "sensor"]
        threshold = stack.config.thresholds.high_temperature_c
        hot = {r["sensor_id"] for r in readings if r["temperature"] > threshold}
        sensor_of = {r["event_id"]: r["sensor_id"] for r in readings}
        entered = {sensor_of[event_id] for stage, event_id in mailed if stage == "enter" and event_id in sensor_of}
        assert hot and hot == entered
        tally = account(stack, summary.records, "SNS down longer than the retry budget, then DLQ replay")
    assert tally.lost == 0
    tally.retried = len(replayed)
    tally.notes = (
        f"{len(letters)} batches ({len(replayed)} records) in the DLQ after 4 attempts; replayed from the stream "
        f"after the outage ({sns.failed} PublishBatch calls failed)"
    )
    tallies.append(tally)


def test_s3_failures_retry_the_invalid_records_until_they_are_quarantined(tmp_path, tallies):
    with local_stack("s3-quarantine", tmp_path) as stack:
        # GIVEN S3 refuses the processor's first 2 quarantine writes
        s3 = FailingCalls(get_effects().quarantine.s3, "s3.PutObject", "SlowDown", lambda call: call <= 2)
        # WHEN 600 records arrive, 5 % of them invalid
        summary = _send(stack, tmp_path, 600, seed=33)
        _settle(stack)
        # THEN the invalid records were retried, and each is quarantined once at its position
        assert s3.failed == 2 and stack.poller.stats.records_discarded == 0
        tally = account(stack, summary.records, "S3 PutObject (quarantine) failing (transient)")
        assert tally.quarantined == summary.malformed_sent > 0
        tally.retried = int(processor_metric(stack, metric_names.RECORDS_RETRIED))
    assert tally.lost == 0
    tally.notes = f"{s3.failed} quarantine PutObject calls failed; the invalid records were retried until written"
    tallies.append(tally)


def _event_id_ends_with(suffixes: tuple[str, ...]):
    def choose(data: bytes) -> bool:
        try:
            event_id = json.loads(data).get("event_id") or ""
        except (ValueError, AttributeError):
            return False
        return isinstance(event_id, str) and event_id.endswith(suffixes)

    return choose


def test_a_handler_that_raises_mid_batch_is_bisected_retried_and_dead_lettered_without_losing_records(
    tmp_path, tallies
):
    handler = "tests.reliability.flaky_handler.handler"
    with local_stack("handler-crash", tmp_path, handler=handler) as stack:
        # GIVEN a handler that crashes part-way through a batch on some records: twice on those whose event_id ends
        # in 7 (transient), on every attempt on those ending in "ab" (a bug)
        transient, persistent = _event_id_ends_with(("7",)), _event_id_ends_with(("ab",))
        flaky_handler.configure(lambda data: None if persistent(data) else 2 if transient(data) else 0)
        summary = _send(stack, tmp_path, 800, seed=34)
        _settle(stack)
        crashes = sum(flaky_handler.raised.values())
        letters = dead_letters(stack)
        # THEN the mapping bisected each failing batch down to the poison record and dead-lettered only that one
        poison = {r.position["sequence_number"] for r in summary.records if persistent(r.data)}
        lettered = {m["KinesisBatchInfo"]["startSequenceNumber"] for m in letters}
        assert poison and all(m["KinesisBatchInfo"]["batchSize"] == 1 for m in letters)
        assert lettered == poison
        # WHEN the bug is fixed and the dead-lettered records are replayed
        flaky_handler.heal()
        replay_dead_letters(stack, letters)
        stack.wait_for_mail()
        # THEN every alert went out once, although records before each crash were processed several times
        _assert_mailed_once(tmp_path, _alerting(stack, summary))
        tally = account(stack, summary.records, "processor raising mid-batch (bisect, DLQ, replay)")
        skipped = processor_metric(stack, metric_names.DUPLICATE_ALERTS_SKIPPED)
    assert tally.lost == 0 and stack.poller.stats.function_errors > 0
    tally.retried = crashes
    tally.extra["duplicate_alerts_skipped"] = int(skipped)
    tally.notes = (
        f"{crashes} crashed invocations; {len(letters)} poison records dead-lettered alone and replayed; "
        f"{int(skipped)} alerts of re-processed records skipped by event_id"
    )
    tallies.append(tally)
