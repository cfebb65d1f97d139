"""The Kinesis producer against moto: everything arrives exactly once, within limits, throttling retried."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from lambdas.schemas import parse
from producers.generators import EventGenerator
from producers.kinesis_writer import MAX_BYTES_PER_REQUEST, MAX_RECORD_BYTES, MIB, KinesisWriter, read_failures
from producers.shard_emulator import THROTTLED, RejectingKinesis, ShardLimitedKinesis
from producers.test_producer import produce
from tests.producers.conftest import FakeClock, all_records, create_stream, read_stream


def _produce(kinesis: Any, stream: str, tmp_path: Path, **kwargs: Any):
    kwargs.setdefault("client", kinesis)
    kwargs.setdefault("failure_path", tmp_path / "failed.jsonl")
    return produce(stream, **kwargs)


def test_every_record_arrives_exactly_once_with_its_exact_bytes(kinesis, stream, tmp_path):
    # GIVEN a mixed workload with malformed records
    # WHEN it is produced into moto's Kinesis
    summary = _produce(kinesis, stream, tmp_path, count=1_500, family="mixed", bad_ratio=0.1, seed=1)

    # THEN the stream holds exactly the acknowledged records, byte for byte
    assert summary.ok and summary.sent == 1_500 and summary.failed == 0
    assert Counter(all_records(kinesis, stream)) == Counter((r.key, r.data) for r in summary.records)
    assert 0 < summary.malformed_sent < 300
    valid = [r for r in summary.records if r.valid]
    assert [parse(r.data).event_id for r in valid] == summary.event_ids
    assert summary.p50_ms is not None and summary.p99_ms >= summary.p50_ms


def test_partition_keys_spread_records_over_all_shards(kinesis, tmp_path):
    stream = create_stream(kinesis, shards=4)
    summary = _produce(kinesis, stream, tmp_path, count=800, family="mixed", seed=2)

    per_shard = {shard: len(records) for shard, records in read_stream(kinesis, stream).items()}
    assert sum(per_shard.values()) == summary.sent == 800
    assert len(per_shard) == 4 and min(per_shard.values()) > 800 / 4 / 4, per_shard
    assert len({r.key for r in summary.records}) > 40


class RecordingKinesis(RejectingKinesis):
    def __init__(self, client: Any) -> None:
        super().__init__(client, lambda call, index, entry: None)


def test_requests_respect_record_and_byte_limits_with_mixed_sizes_including_a_1_mb_record(kinesis, tmp_path):
    # GIVEN records from 10 bytes to ~1 MB, on a stream wide enough that the 5 MiB request limit binds
    stream = create_stream(kinesis, shards=8)
    rng = random.Random(4)
    sizes = [rng.choice([10, 300, 5_000, 60_000, 400_000]) for _ in range(700)] + [1_000_000]
    rng.shuffle(sizes)
    sizes += [50] * 600  # a run of small records, where the 500-records limit binds
    payloads = [(json.dumps({"n": n, "pad": "x" * size}).encode(), f"key-{n % 37}") for n, size in enumerate(sizes)]
    recorder = RecordingKinesis(kinesis)
    writer = KinesisWriter(recorder, stream, shards=8, failure_path=tmp_path / "failed.jsonl", clock=FakeClock())

    # WHEN they are written
    for data, key in payloads:
        writer.add(data, key)
    writer.flush()

    # THEN no request broke a limit, every record arrived once, and the requests were mostly full
    for request in recorder.requests:
        assert len(request) <= 500
        assert sum(len(r["Data"]) + len(r["PartitionKey"]) for r in request) <= MAX_BYTES_PER_REQUEST
    assert writer.stats.sent == len(payloads) and writer.stats.failed == 0
    assert Counter(all_records(kinesis, stream)) == Counter((k, d) for d, k in payloads)
    sizes_sent = sorted(sum(len(r["Data"]) for r in request) for request in recorder.requests)
    assert sizes_sent[-1] > 4 * MIB, "large records fill requests towards 5 MiB"
    assert max(len(request) for request in recorder.requests) == 500


def test_a_record_over_1_mib_is_never_sent_and_goes_to_the_failure_file(kinesis, stream, tmp_path):
    writer = KinesisWriter(kinesis, stream, failure_path=tmp_path / "failed.jsonl", clock=FakeClock())
    writer.add(b"x" * (MAX_RECORD_BYTES - 3), "key")  # exactly 1 MiB with its key: allowed
    writer.add(b"y" * MAX_RECORD_BYTES, "key")
    writer.add(b"small", "key")
    writer.flush()

    assert writer.stats.sent == 2 and writer.stats.failed == 1
    [line] = (tmp_path / "failed.jsonl").read_text().splitlines()
    assert json.loads(line)["reason"] == "invalid_record"
    assert [data[:1] for _, data in all_records(kinesis, stream)] == [b"x", b"s"]


def _random_rejections(share: float, seed: int, attempts_per_record: int = 3):
    """Reject `share` of the entries at random, but never the same record more than `attempts_per_record` times."""
    rng = random.Random(seed)
    rejected: Counter[bytes] = Counter()

    def reject(call: int, index: int, entry: dict[str, Any]) -> str | None:
        if rejected[entry["Data"]] < attempts_per_record and rng.random() < share:
            rejected[entry["Data"]] += 1
            return THROTTLED if rng.random() < 0.8 else "InternalFailure"
        return None

    return reject


def _per_key(records: list[tuple[str, bytes]]) -> dict[str, list[bytes]]:
    grouped: dict[str, list[bytes]] = defaultdict(list)
    for key, data in records:
        grouped[key].append(data)
    return grouped


def test_throttled_entries_are_retried_alone_with_backoff_and_arrive_once_in_order_per_key(kinesis, stream, tmp_path):
    # GIVEN a stream that rejects a third of the entries at random (throttling or internal failure)
    clock = FakeClock()
    double = RejectingKinesis(kinesis, _random_rejections(0.33, seed=5))

    # WHEN 2,000 records are produced with strict per-key ordering
    summary = _produce(
        double, stream, tmp_path, count=2_000, family="mixed", seed=5, clock=clock, strict_order=True, pace=False
    )

    # THEN every record arrived exactly once and each key's records are in the order they were produced
    assert summary.ok and summary.sent == 2_000 and double.rejected > 400
    assert summary.retries == double.rejected
    stored = all_records(kinesis, stream)
    assert Counter(stored) == Counter((r.key, r.data) for r in summary.records)
    # the same seed regenerates the same event ids in production order
    generator = EventGenerator("mixed", seed=5)
    produced_order = _per_key([(r.key, r.event_id.encode()) for r in (generator.next() for _ in range(2_000))])
    assert _per_key([(key, json.loads(data)["event_id"].encode()) for key, data in stored]) == produced_order
    # only rejected entries were sent again: forwarded entries == records
    assert double.forwarded == 2_000
    # and the writer backed off, the waits growing with consecutive failures
    assert clock.sleeps and max(clock.sleeps) > min(clock.sleeps) * 2


def test_default_mode_keeps_order_per_key_when_a_throttled_shard_rejects_the_rest_of_a_request(kinesis, tmp_path):
    # GIVEN two shards limited like real ones (1,000 records/s each) and a producer that does not pace itself
    stream = create_stream(kinesis, shards=2)
    clock = FakeClock()
    double = ShardLimitedKinesis(kinesis, shards=2, now=clock.now)
    records = [(json.dumps({"seq": n}).encode(), f"k{n % 13}") for n in range(6_000)]
    writer = KinesisWriter(double, stream, shards=2, pace=False, clock=clock, failure_path=tmp_path / "f.jsonl")

    for data, key in records:
        writer.add(data, key)
    writer.flush()

    # THEN the shards throttled it, and still every record arrived once, in order per key
    assert double.rejected > 0 and writer.stats.failed == 0
    stored = all_records(kinesis, stream)
    assert len(stored) == 6_000
    assert _per_key(stored) == _per_key([(k, d) for d, k in records])


def test_pacing_to_the_shard_limit_avoids_throttling(kinesis, stream, tmp_path):
    clock = FakeClock()
    double = ShardLimitedKinesis(kinesis, shards=1, now=clock.now)
    summary = _produce(double, stream, tmp_path, count=5_000, family="sensor", seed=1, clock=clock)

    assert summary.sent == 5_000 and double.rejected == 0
    # Ten 500-record requests, the first at once and then one every 0.505 s (1,000 records per 1.01 s window):
    # 4.545 s, 99 % of the shard's rate.
    assert summary.elapsed == pytest.approx(4.545, abs=0.05)


def test_rate_flag_paces_records_on_the_clock(kinesis, stream, tmp_path):
    clock = FakeClock()
    summary = _produce(kinesis, stream, tmp_path, count=100, rate=20, clock=clock, seed=1)
    assert summary.sent == 100
    assert summary.elapsed == pytest.approx(99 / 20, abs=0.01)
    # a record waits at most the linger before it is sent
    assert summary.p99_ms <= 200 + 1


def test_after_the_last_retry_failures_go_to_the_file_and_nothing_is_lost(kinesis, stream, tmp_path):
    # GIVEN a stream that always rejects records of one key
    double = RejectingKinesis(kinesis, lambda call, index, entry: THROTTLED if entry["PartitionKey"] == "k3" else None)
    clock = FakeClock()
    writer = KinesisWriter(double, stream, clock=clock, failure_path=tmp_path / "failed.jsonl", max_attempts=4)
    records = [(f"record {n}".encode(), f"k{n % 5}") for n in range(50)]

    for data, key in records:
        writer.add(data, key)
    writer.flush()

    # THEN k3's 10 records are in the failure file with the reason, the other 40 arrived
    assert writer.stats.sent == 40 and writer.stats.failed == 10
    lines = [json.loads(line) for line in (tmp_path / "failed.jsonl").read_text().splitlines()]
    assert {line["reason"] for line in lines} == {"gave up after 4 attempts"}
    assert {line["error_code"] for line in lines} == {THROTTLED}
    assert all(line["attempts"] == 4 for line in lines)
    assert sorted(d for d, _, _ in read_failures(tmp_path / "failed.jsonl")) == sorted(
        d for d, k in records if k == "k3"
    )
    assert sorted(all_records(kinesis, stream)) == sorted((k, d) for d, k in records if k != "k3")
    assert len(clock.sleeps) == 3, "one request, three backoffs between its four attempts"


class FlakyKinesis:
    """Fails whole requests with the given exceptions first, then forwards to the real client."""

    def __init__(self, client: Any, errors: list[Exception]) -> None:
        self.client = client
        self.errors = list(errors)

    def put_records(self, **kwargs: Any) -> dict[str, Any]:
        if self.errors:
            raise self.errors.pop(0)
        return self.client.put_records(**kwargs)


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} (test)"}}, "PutRecords")


def test_whole_request_throttling_is_retried(kinesis, stream, tmp_path):
    flaky = FlakyKinesis(kinesis, [_client_error(THROTTLED), _client_error("ServiceUnavailable")])
    writer = KinesisWriter(flaky, stream, clock=FakeClock(), failure_path=tmp_path / "f.jsonl")
    for n in range(10):
        writer.add(f"{n}".encode(), "k")
    writer.flush()
    assert writer.stats.sent == 10 and writer.stats.retries == 20
    assert [d for _, d in all_records(kinesis, stream)] == [f"{n}".encode() for n in range(10)]


def test_losing_the_endpoint_stops_the_writer_and_accounts_for_every_record(kinesis, stream, tmp_path):
    down = EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
    flaky = FlakyKinesis(kinesis, [down] * 100)
    clock = FakeClock()
    summary = _produce(flaky, stream, tmp_path, count=1_200, seed=3, clock=clock, shards=1)

    # THEN it stopped at the first request that could not be delivered, with that request's records in the file
    assert summary.sent == 0 and summary.failed == summary.generated == 500 and not summary.ok
    assert "lost the connection" in summary.error
    assert len((tmp_path / "failed.jsonl").read_text().splitlines()) == 500


def test_a_missing_stream_mid_run_is_one_clear_error(kinesis, tmp_path):
    summary = _produce(kinesis, "deleted-stream", tmp_path, count=10, shards=1)
    assert summary.failed == 10 and "does not exist" in summary.error
    lines = [json.loads(line) for line in (tmp_path / "failed.jsonl").read_text().splitlines()]
    assert len(lines) == 10
    assert all(line["reason"].startswith("not written: stream 'deleted-stream' does not exist") for line in lines)
    assert {line["error_code"] for line in lines} == {"ResourceNotFoundException"}


def test_a_failure_file_can_be_replayed(kinesis, stream, tmp_path):
    double = RejectingKinesis(kinesis, lambda call, index, entry: THROTTLED if call <= 3 else None)
    first = _produce(double, stream, tmp_path, count=30, seed=8, clock=FakeClock(), max_attempts=3)
    assert first.failed == 30 and first.failure_path == str(tmp_path / "failed.jsonl")

    replayed = produce(
        stream,
        client=kinesis,
        records=read_failures(Path(first.failure_path)),
        count=None,
        failure_path=tmp_path / "again.jsonl",
    )
    assert replayed.sent == 30 and replayed.ok
    assert len(all_records(kinesis, stream)) == 30


def test_a_continuous_run_stops_from_another_thread_and_flushes(kinesis, stream, tmp_path):
    # GIVEN a continuous producer in a thread, as the demo runs it
    stop = threading.Event()
    result: dict[str, Any] = {}
    worker = threading.Thread(
        target=lambda: result.update(
            summary=_produce(kinesis, stream, tmp_path, continuous=True, rate=200, linger=30, stop=stop, seed=1)
        )
    )
    worker.start()
    deadline = time.monotonic() + 30  # running, however slow this machine: records arrive
    while not all_records(kinesis, stream) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)

    # WHEN it is told to stop
    stop.set()
    worker.join(20)

    # THEN it flushed what was buffered: everything generated arrived
    summary = result["summary"]
    assert summary.interrupted and summary.ok and 0 < summary.sent == summary.generated
    assert len(all_records(kinesis, stream)) == summary.sent
