"""Kinesis faults at the API level: throttled and failed writes on the producer's side, throttled reads on the
pipeline's side. Whatever Kinesis acknowledged reaches the lake or quarantine; what it never acknowledged is in the
producer's failure file, and sending that file again completes the data."""

from __future__ import annotations

from typing import Any

import pytest

from producers.kinesis_writer import read_failures
from producers.shard_emulator import RejectingKinesis, ShardLimitedKinesis
from producers.test_producer import make_client, produce
from tests.reliability.faults import KinesisReadLimit, LostResponses
from tests.reliability.harness import local_stack
from tests.reliability.ledger import account, expected_lifecycle, lifecycle_mail, stream_payloads

pytestmark = pytest.mark.slow


def _finish(stack) -> None:
    stack.wait_until_processed(timeout=120)
    stack.wait_for_mail()
    stack.wait_until_delivered(timeout=120)
    assert stack.errors == []


class OfferedRecords:
    """A clock that advances with the records offered to a client: `records / rate` seconds."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.records = 0

    def __call__(self) -> float:
        return self.records / self.rate

    def wrap(self, client: Any) -> Any:
        clock = self

        class Counting:
            def __getattr__(self, name: str) -> Any:
                return getattr(client, name)

            def put_records(self, **kwargs: Any) -> Any:
                try:
                    return client.put_records(**kwargs)
                finally:
                    clock.records += len(kwargs.get("Records", []))

        return Counting()


def test_writes_over_the_shard_limit_are_throttled_retried_and_land_once(tmp_path, tallies):
    with local_stack("put-throttle", tmp_path) as stack:
        # GIVEN a stream that rejects what exceeds 1,000 records/s and 1 MiB/s, and a producer that does not pace.
        # The shard's clock is the producer's offered load, not the wall clock: every record offered (retries too)
        # moves it 1/1,500 s, so the shard sees 1,500 records/s whatever the batch sizes and however fast this
        # machine is (a clock per call throttled nothing when a loaded machine sent small batches).
        offered = OfferedRecords(rate=1500.0)
        shard = offered.wrap(ShardLimitedKinesis(make_client("kinesis", stack.endpoint.url), shards=1, now=offered))
        # WHEN 3,000 records are sent as fast as the producer can
        summary = produce(
            stack.resources.stream_name,
            count=3000,
            family="mixed",
            bad_ratio=0.02,
            seed=21,
            client=shard,
            shards=1,
            pace=False,
            failure_path=tmp_path / "failures.jsonl",
        )
        _finish(stack)
        # THEN the throttled entries were retried until written, and each record is in the lake once
        assert summary.ok and summary.sent == 3000
        assert shard.rejected > 0 and summary.throttled == shard.rejected
        tally = account(stack, summary.records, "Kinesis PutRecords throttled (1-shard limit, producer pacing off)")
    assert tally.lost == 0 and tally.duplicates_removed == 0
    tally.retried = shard.rejected
    tally.notes = f"{shard.rejected} entries throttled and retried by the producer; none reached the stream twice"
    tallies.append(tally)


def test_a_put_whose_response_is_lost_is_sent_again_and_the_copies_are_removed_by_event_id(tmp_path, tallies):
    with local_stack("put-lost", tmp_path) as stack:
        # GIVEN every third PutRecords response is lost after Kinesis wrote the records (a read timeout)
        client = make_client("kinesis", stack.endpoint.url)
        lost = LostResponses(client, lambda call: call % 3 == 1)
        # WHEN 1,500 records are sent, with hot readings among them
        summary = produce(
            stack.resources.stream_name,
            count=1500,
            family="mixed",
            bad_ratio=0.02,
            seed=22,
            spikes=10,
            client=client,
            shards=1,
            failure_path=tmp_path / "failures.jsonl",
        )
        _finish(stack)
        # THEN the producer resent those requests: the stream holds copies, with the same event_ids
        assert summary.ok and summary.sent == 1500 and lost.lost_records > 0
        assert stack.stream_record_count() == summary.sent + lost.lost_records
        tally = account(stack, summary.records, "Kinesis PutRecords response lost after the write")
        # AND the lake has each copy (Firehose is at-least-once); readers keep one row per event_id
        assert tally.lost == 0 and 0 < tally.duplicates_removed <= lost.lost_records
        # AND the processor's high-temperature and burst e-mails are the model's, copies or not (a copy is neither
        # counted again nor alerted on again)
        valid = {r.data for r in summary.records if r.valid}
        expected = expected_lifecycle(stream_payloads(stack), valid, stack.config)
        assert any(stage == "enter" for stage, _ in expected)
        assert lifecycle_mail(tmp_path) == expected
    tally.retried = lost.lost_records
    tally.notes = (
        f"{lost.lost_records} records written twice (response lost, request resent); the copies share the "
        "event_id: lake readers keep one row per event_id, alerts are de-duplicated on it"
    )
    tallies.append(tally)


def test_entries_kinesis_keeps_refusing_go_to_the_failure_file_and_resending_it_completes_the_data(tmp_path, tallies):
    with local_stack("put-refused", tmp_path) as stack:
        # GIVEN a stream that fails one entry in four with InternalFailure on every attempt
        refusing = RejectingKinesis(
            make_client("kinesis", stack.endpoint.url),
            lambda call, index, entry: "InternalFailure" if hash(entry["Data"]) % 4 == 0 else None,
        )
        failures = tmp_path / "failures.jsonl"
        # WHEN 1,000 records are sent with 3 attempts each
        first = produce(
            stack.resources.stream_name,
            count=1000,
            family="mixed",
            bad_ratio=0.02,
            seed=23,
            client=refusing,
            shards=1,
            max_attempts=3,
            failure_path=failures,
        )
        # THEN what was never acknowledged is in the failure file, not silently dropped
        assert first.failed > 0 and first.sent + first.failed == 1000
        unsent = read_failures(failures)
        assert len(unsent) == first.failed
        # WHEN the failure file is sent again once the stream is healthy
        second = produce(
            stack.resources.stream_name,
            records=unsent,
            endpoint_url=stack.endpoint.url,
            failure_path=tmp_path / "failures-2.jsonl",
        )
        _finish(stack)
        assert second.ok and second.sent == first.failed
        tally = account(stack, first.records + second.records, "Kinesis PutRecords entries refused past retries")
    assert tally.sent == 1000 and tally.lost == 0 and tally.duplicates_removed == 0
    tally.retried = first.failed
    tally.notes = (
        f"{first.failed} records refused 3 times went to the producer's failure file and were sent again from it"
    )
    tallies.append(tally)


def test_throttled_reads_are_retried_by_the_processor_and_firehose_and_nothing_is_skipped(tmp_path, tallies):
    with local_stack("get-throttle", tmp_path) as stack:
        # GIVEN the shard's read limit, 5 GetRecords per second shared by the processor and Firehose, and a storm of
        # 12 throttled calls in a row (more than botocore's 3 attempts per call, whichever reader makes them)
        limit = KinesisReadLimit(stack.clients["kinesis"], per_second=5, storm=range(3, 15))
        # WHEN 2,000 records arrive at the shard's write limit
        summary = produce(
            stack.resources.stream_name,
            count=2000,
            family="mixed",
            bad_ratio=0.02,
            seed=24,
            endpoint_url=stack.endpoint.url,
            failure_path=tmp_path / "failures.jsonl",
        )
        _finish(stack)
        # THEN reads were throttled, both readers backed off and read again, and every record arrived once
        assert summary.ok and limit.throttled > 0
        assert stack.poller.stats.reads_throttled + stack.firehose.stats.reads_throttled > 0
        assert stack.poller.stats.records_discarded == 0
        tally = account(stack, summary.records, "Kinesis GetRecords throttled (5 reads/s per shard)")
        limit.remove()
    assert tally.lost == 0 and tally.duplicates_removed == 0
    tally.retried = limit.throttled
    tally.notes = (
        f"{limit.throttled} of {limit.calls} GetRecords calls throttled; "
        f"{stack.poller.stats.reads_throttled + stack.firehose.stats.reads_throttled} reads gave up after "
        "botocore's retries and were backed off and repeated by the runners"
    )
    tallies.append(tally)
