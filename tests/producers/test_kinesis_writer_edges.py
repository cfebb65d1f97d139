"""The writer's edges, pinned with literal values: backoff waits, per-entry errors, request limits, give-up rules.

A scripted PutRecords double answers each call from a list written in the test, and a fake clock records every
sleep, so each expectation is a number typed here (from the AWS PutRecords reference and the module docstring),
never one computed by the writer's own helpers. Runs in well under a second: no moto, no network.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, ReadTimeoutError

from producers.kinesis_writer import (
    BatchLimits,
    KinesisWriteError,
    KinesisWriter,
    ShardPacer,
    TokenBucket,
    backoff_delay,
    explain_client_error,
    read_failures,
    record_size,
    take_batch,
)
from tests.producers.conftest import FakeClock

THROTTLED = "ProvisionedThroughputExceededException"
MIB = 1024 * 1024

# An answer to one entry: None acknowledges it, a string rejects it with that ErrorCode.
EntryAnswer = str | None
Script = Callable[[int, int, dict[str, Any]], EntryAnswer]


class ScriptedKinesis:
    """PutRecords double: `script(call, index, entry)` decides each entry; `errors` fail whole calls first."""

    def __init__(self, script: Script | None = None, errors: list[Exception] | None = None, clock=None) -> None:
        self.script = script or (lambda call, index, entry: None)
        self.errors = list(errors or [])
        self.clock = clock
        self.calls: list[tuple[float | None, list[bytes], dict[str, Any]]] = []
        self.acknowledged: list[bytes] = []
        self._sequence = 0

    def put_records(self, *, Records: list[dict[str, Any]], **stream: Any) -> dict[str, Any]:  # noqa: N803
        self.calls.append((self.clock.now() if self.clock else None, [r["Data"] for r in Records], stream))
        if self.errors:
            raise self.errors.pop(0)
        results = []
        for index, entry in enumerate(Records):
            code = self.script(len(self.calls), index, entry)
            if code is None:
                self._sequence += 1
                self.acknowledged.append(entry["Data"])
                results.append({"SequenceNumber": f"{self._sequence:056d}", "ShardId": "shardId-000000000000"})
            else:
                results.append({"ErrorCode": code, "ErrorMessage": f"{code} for entry {index}"})
        failed = sum(1 for r in results if "ErrorCode" in r)
        return {"FailedRecordCount": failed, "Records": results}

    def sent(self, call: int) -> list[bytes]:
        """Data of the entries of request number `call` (1-based)."""
        return self.calls[call - 1][1]


class FixedRng(random.Random):
    """`uniform(a, b)` returns a fixed point of the interval: 0.0 its start, 1.0 its end."""

    def __init__(self, where: float) -> None:
        super().__init__(0)
        self.where = where

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.where


def writer(client: Any, tmp_path: Path, clock: FakeClock | None = None, **kwargs: Any) -> KinesisWriter:
    kwargs.setdefault("rng", FixedRng(0.0))
    kwargs.setdefault("pace", False)
    return KinesisWriter(client, "events", clock=clock or FakeClock(), failure_path=tmp_path / "failed.jsonl", **kwargs)


def failure_lines(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "failed.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} (test)"}}, "PutRecords")


# ---------------------------------------------------------------------------------------------------------------
# Backoff: "equal jitter", half fixed and half random, doubling from 0.1 s, capped at 5 s.
# ---------------------------------------------------------------------------------------------------------------

# attempt -> (shortest wait, longest wait) with the defaults (base 0.1 s, cap 5 s).
BACKOFF_TABLE = {
    1: (0.05, 0.1),
    2: (0.1, 0.2),
    3: (0.2, 0.4),
    4: (0.4, 0.8),
    5: (0.8, 1.6),
    6: (1.6, 3.2),
    7: (2.5, 5.0),
    8: (2.5, 5.0),
    20: (2.5, 5.0),
}


@pytest.mark.parametrize("attempt", sorted(BACKOFF_TABLE))
def test_backoff_waits_are_the_written_table(attempt):
    low, high = BACKOFF_TABLE[attempt]
    assert backoff_delay(attempt, FixedRng(0.0)) == pytest.approx(low)
    assert backoff_delay(attempt, FixedRng(1.0)) == pytest.approx(high)
    assert backoff_delay(attempt, FixedRng(0.5)) == pytest.approx((low + high) / 2)


def test_custom_base_and_cap_are_honoured():
    assert backoff_delay(1, FixedRng(1.0), base=0.3, cap=10.0) == pytest.approx(0.3)
    assert backoff_delay(3, FixedRng(0.0), base=0.3, cap=10.0) == pytest.approx(0.6)
    assert backoff_delay(4, FixedRng(1.0), base=0.3, cap=1.0) == pytest.approx(1.0)


def test_a_throttled_entry_is_resent_only_after_the_backoff_wait(tmp_path):
    # GIVEN a stream that throttles entry 1 of the first request and entry 0 of the second
    clock = FakeClock()
    answers = {(1, 1): THROTTLED, (2, 0): THROTTLED}
    kinesis = ScriptedKinesis(lambda call, index, entry: answers.get((call, index)), clock=clock)
    w = writer(kinesis, tmp_path, clock, rng=FixedRng(1.0))
    for n in range(3):
        w.add(f"r{n}".encode(), "k")

    w.flush()

    # THEN the writer waited 0.1 s, then 0.2 s (attempts 1 and 2 at their longest), and resent only the rejected one
    assert [sent for _, sent, _ in kinesis.calls] == [[b"r0", b"r1", b"r2"], [b"r1"], [b"r1"]]
    assert clock.sleeps == pytest.approx([0.1, 0.2])
    assert [t for t, _, _ in kinesis.calls] == pytest.approx([1000.0, 1000.1, 1000.3])
    assert kinesis.acknowledged == [b"r0", b"r2", b"r1"]
    assert w.stats.retries == 2 and w.stats.throttled == 2 and w.stats.requests == 3
    assert w.stats.backoffs == pytest.approx([0.1, 0.2])
    assert w.stats.sent == 3 and w.stats.failed == 0


def test_a_whole_request_throttled_waits_before_the_same_request_is_sent_again(tmp_path):
    clock = FakeClock()
    kinesis = ScriptedKinesis(errors=[_client_error("ThrottlingException")], clock=clock)
    w = writer(kinesis, tmp_path, clock)
    w.add(b"a", "k")
    w.add(b"b", "k")
    w.flush()
    assert [sent for _, sent, _ in kinesis.calls] == [[b"a", b"b"], [b"a", b"b"]]
    assert clock.sleeps == pytest.approx([0.05])
    assert w.stats.throttled == 2 and w.stats.retries == 2 and w.stats.sent == 2


def test_the_retry_goes_out_before_any_newer_record(tmp_path):
    # GIVEN requests of at most 2 records; the first request's second entry is throttled once
    kinesis = ScriptedKinesis(lambda call, index, entry: THROTTLED if (call, index) == (1, 1) else None)
    w = writer(kinesis, tmp_path, limits=BatchLimits(max_records=2))
    for n in range(4):
        w.add(f"r{n}".encode(), "k")
    w.flush()
    assert [sent for _, sent, _ in kinesis.calls] == [[b"r0", b"r1"], [b"r1"], [b"r2", b"r3"]]


# ---------------------------------------------------------------------------------------------------------------
# Per-entry errors that are not transient fail at once; transient ones are given up on after max_attempts.
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["KMSAccessDeniedException", "ValidationException", "AccessDeniedException"])
def test_a_per_entry_error_that_is_not_transient_fails_that_entry_at_once(tmp_path, code):
    kinesis = ScriptedKinesis(lambda call, index, entry: code if entry["Data"] == b"bad" else None)
    clock = FakeClock()
    w = writer(kinesis, tmp_path, clock)
    for data in (b"ok1", b"bad", b"ok2"):
        w.add(data, "k")
    w.flush()

    assert len(kinesis.calls) == 1, "nothing retried"
    assert clock.sleeps == []
    assert kinesis.acknowledged == [b"ok1", b"ok2"]
    (line,) = failure_lines(tmp_path)
    assert (line["reason"], line["error_code"], line["attempts"], line["data"]) == (
        "rejected by Kinesis",
        code,
        1,
        "bad",
    )
    assert line["error_message"] == f"{code} for entry 1"
    assert w.stats.failed == 1 and w.stats.sent == 2 and w.stats.retries == 0


@pytest.mark.parametrize("code", [THROTTLED, "InternalFailure"])
def test_transient_entry_errors_are_retried_until_max_attempts_then_written_to_the_failure_file(tmp_path, code):
    kinesis = ScriptedKinesis(lambda call, index, entry: code)
    clock = FakeClock()
    w = writer(kinesis, tmp_path, clock, max_attempts=3)
    w.add(b"x", "k")
    w.flush()

    assert len(kinesis.calls) == 3
    assert clock.sleeps == pytest.approx([0.05, 0.1]), "two waits between three attempts, none after the last"
    (line,) = failure_lines(tmp_path)
    assert (line["reason"], line["error_code"], line["attempts"]) == ("gave up after 3 attempts", code, 3)
    assert w.stats.throttled == (3 if code == THROTTLED else 0)


def test_max_attempts_one_means_no_retry(tmp_path):
    kinesis = ScriptedKinesis(lambda call, index, entry: THROTTLED)
    w = writer(kinesis, tmp_path, max_attempts=1)
    w.add(b"x", "k")
    w.flush()
    assert len(kinesis.calls) == 1
    assert failure_lines(tmp_path)[0]["reason"] == "gave up after 1 attempts"


@pytest.mark.parametrize("value", [0, -1])
def test_bad_writer_settings_are_refused(tmp_path, value):
    with pytest.raises(ValueError, match="shards must be at least 1"):
        KinesisWriter(ScriptedKinesis(), "events", shards=value, failure_path=tmp_path / "f")
    with pytest.raises(ValueError, match="max_attempts must be at least 1"):
        KinesisWriter(ScriptedKinesis(), "events", max_attempts=value, failure_path=tmp_path / "f")


def test_a_request_refused_for_good_stops_the_writer_and_accounts_for_every_record(tmp_path):
    # GIVEN one record per key per request (strict order), so r1 is still buffered when r0's request is refused
    kinesis = ScriptedKinesis(errors=[_client_error("AccessDeniedException")])
    w = writer(kinesis, tmp_path, limits=BatchLimits(max_records=2), strict_order=True)
    w.add(b"r0", "k")
    with pytest.raises(KinesisWriteError, match="access denied writing to 'events'") as raised:
        w.add(b"r1", "k")
    assert raised.value.code == "AccessDeniedException"
    lines = failure_lines(tmp_path)
    assert [line["data"] for line in lines] == ["r0", "r1"]
    assert lines[0]["reason"].startswith("not written: access denied") and lines[0]["attempts"] == 1
    assert lines[1]["reason"].endswith("; never sent") and lines[1]["attempts"] == 0
    assert len(kinesis.calls) == 1
    with pytest.raises(KinesisWriteError):
        w.add(b"later", "k")


def test_missing_credentials_is_one_clear_error(tmp_path):
    w = writer(ScriptedKinesis(errors=[NoCredentialsError()]), tmp_path)
    w.add(b"x", "k")
    with pytest.raises(KinesisWriteError, match="no AWS credentials found") as raised:
        w.flush()
    assert raised.value.code == "NoCredentials"


def test_a_lost_endpoint_is_retried_then_stops_the_writer(tmp_path):
    down = EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
    kinesis = ScriptedKinesis(errors=[down] * 3)
    clock = FakeClock()
    w = writer(kinesis, tmp_path, clock, max_attempts=3)
    w.add(b"x", "k")
    with pytest.raises(KinesisWriteError, match="lost the connection to Kinesis"):
        w.flush()
    assert len(kinesis.calls) == 3 and clock.sleeps == pytest.approx([0.05, 0.1])
    assert [line["data"] for line in failure_lines(tmp_path)] == ["x"]


def test_a_read_timeout_resends_the_whole_request_and_gives_up_without_stopping(tmp_path):
    timeout = ReadTimeoutError(endpoint_url="http://127.0.0.1:1")
    kinesis = ScriptedKinesis(errors=[timeout] * 2)
    w = writer(kinesis, tmp_path, max_attempts=2)
    w.add(b"x", "k")
    w.flush()  # gave up on this request, but the writer is still usable
    assert failure_lines(tmp_path)[0]["reason"] == "gave up after 2 attempts"
    w.add(b"y", "k")
    w.flush()
    assert kinesis.acknowledged == [b"y"]


def test_an_answer_with_the_wrong_number_of_results_is_refused(tmp_path):
    class Short(ScriptedKinesis):
        def put_records(self, **kwargs: Any) -> dict[str, Any]:
            answer = super().put_records(**kwargs)
            return {"FailedRecordCount": 0, "Records": answer["Records"][:-1]}

    w = writer(Short(), tmp_path)
    w.add(b"a", "k")
    w.add(b"b", "k")
    with pytest.raises(KinesisWriteError, match="PutRecords answered 1 results for 2 records"):
        w.flush()


def test_stream_arn_and_name_are_passed_as_the_api_expects(tmp_path):
    for stream, param in (("events", {"StreamName": "events"}), ("arn:aws:kinesis:x:1:stream/e", None)):
        kinesis = ScriptedKinesis()
        w = KinesisWriter(kinesis, stream, pace=False, failure_path=tmp_path / "f", clock=FakeClock())
        w.add(b"a", "k")
        w.flush()
        assert kinesis.calls[0][2] == (param or {"StreamARN": stream})


# ---------------------------------------------------------------------------------------------------------------
# Limits: 1 MiB per record including its key, keys of 1-256 characters, 500 records and 5 MiB per request.
# ---------------------------------------------------------------------------------------------------------------


def test_record_size_counts_the_partition_key_in_utf8_bytes():
    assert record_size(b"abcd", "k") == 5
    assert record_size(b"", "clé") == 4


@pytest.mark.parametrize(
    ("data_bytes", "key", "accepted"),
    [
        (MIB - 1, "k", True),
        (MIB, "k", False),
        (10, "k" * 256, True),
        (10, "k" * 257, False),
        (10, "", False),
    ],
)
def test_a_record_over_the_limits_goes_to_the_failure_file_unsent(tmp_path, data_bytes, key, accepted):
    kinesis = ScriptedKinesis()
    w = writer(kinesis, tmp_path)
    w.add(b"x" * data_bytes, key)
    w.flush()
    assert (len(kinesis.acknowledged) == 1) is accepted
    lines = failure_lines(tmp_path)
    assert len(lines) == (0 if accepted else 1)
    if not accepted:
        assert lines[0]["error_code"] == "ValidationException" and lines[0]["reason"] == "invalid_record"
        assert lines[0]["attempts"] == 0


def test_limits_refuse_values_outside_the_api():
    for bad in ({"max_records": 0}, {"max_records": 501}, {"max_bytes": MIB - 1}, {"max_bytes": 5 * MIB + 1}):
        with pytest.raises(ValueError):
            BatchLimits(**bad)
    BatchLimits(max_records=1, max_bytes=MIB)
    BatchLimits(max_records=500, max_bytes=5 * MIB)


@pytest.mark.parametrize(
    ("shards", "records", "size"), [(1, 500, MIB), (2, 500, 2 * MIB), (5, 500, 5 * MIB), (9, 500, 5 * MIB)]
)
def test_limits_for_shards_are_the_written_table(shards, records, size):
    assert BatchLimits.for_shards(shards) == BatchLimits(max_records=records, max_bytes=size)


def test_take_batch_stops_exactly_at_the_record_and_byte_limits():
    size = {"a": 400, "b": 600, "c": 1}
    items = ["a", "b", "c", "a"]
    limits = BatchLimits(max_records=3, max_bytes=MIB)
    assert take_batch(items, limits, lambda i: size[i], str) == (["a", "b", "c"], ["a"])
    heavy = {"a": 600_000, "b": MIB - 600_000, "c": 1}
    assert take_batch(["a", "b", "c"], limits, lambda i: heavy[i], str) == (["a", "b"], ["c"])
    assert take_batch(["c", "c", "x"], limits, lambda i: 1, str, one_per_key=True) == (["c", "x"], ["c"])
    assert take_batch([], limits, len, str) == ([], [])


def test_a_full_buffer_is_sent_without_waiting_for_linger(tmp_path):
    kinesis = ScriptedKinesis()
    w = writer(kinesis, tmp_path, limits=BatchLimits(max_records=2), linger=60.0)
    w.add(b"a", "k")
    assert w.buffered == 1 and kinesis.calls == []
    assert w.due_in() == pytest.approx(60.0)
    w.add(b"b", "k")
    assert w.buffered == 0 and [sent for _, sent, _ in kinesis.calls] == [[b"a", b"b"]]
    assert w.due_in() is None


def test_linger_sends_a_partial_request_once_the_oldest_record_waited_long_enough(tmp_path):
    clock = FakeClock()
    kinesis = ScriptedKinesis()
    w = writer(kinesis, tmp_path, clock, linger=0.2)
    w.add(b"a", "k")
    clock.t += 0.1
    w.add(b"b", "k")
    assert kinesis.calls == [] and w.due_in() == pytest.approx(0.1)
    clock.t += 0.1
    w.add(b"c", "k")
    assert [sent for _, sent, _ in kinesis.calls] == [[b"a", b"b", b"c"]]


# ---------------------------------------------------------------------------------------------------------------
# Pacing: 1,000 records/s and 1 MiB/s per shard, one second's worth of burst.
# ---------------------------------------------------------------------------------------------------------------


def test_pacer_bursts_half_a_second_and_waits_for_the_missing_tokens():
    # The pacer's buckets hold half a second of the limit (docs/producers.md#pacing): 500 records or 0.5 MiB go at
    # once, anything beyond waits for the tokens it lacks at 1,000 records/s or 1 MiB/s.
    clock = FakeClock()
    pacer = ShardPacer(1, clock)
    pacer.acquire(500, 10)
    assert clock.sleeps == []
    pacer.acquire(250, 10)  # records: 250 missing at 1,000/s
    assert sum(clock.sleeps) >= 0.25 - 1e-9

    by_bytes = FakeClock()
    pacer = ShardPacer(1, by_bytes)
    pacer.acquire(1, MIB // 2)
    assert by_bytes.sleeps == []
    pacer.acquire(1, MIB // 4)  # bytes: a quarter MiB missing at 1 MiB/s
    assert sum(by_bytes.sleeps) >= 0.25 - 1e-9


def test_token_bucket_refills_at_its_rate_up_to_its_capacity():
    bucket = TokenBucket(rate=10, capacity=20, now=0.0)
    bucket.take(20, 0.0)
    assert bucket.delay(5, 0.0) == pytest.approx(0.5)
    assert bucket.delay(5, 0.5) == 0.0
    assert bucket.delay(40, 100.0) == 0.0, "more than capacity waits only for a full bucket"
    assert bucket.tokens == 20
    bucket.take(25, 100.0)
    assert bucket.delay(1, 100.0) == pytest.approx(0.6)


def test_a_paced_writer_sleeps_before_overrunning_the_shard(tmp_path):
    clock = FakeClock()
    kinesis = ScriptedKinesis(clock=clock)
    w = KinesisWriter(kinesis, "events", clock=clock, failure_path=tmp_path / "f", shards=1)
    for n in range(1500):
        w.add(f"{n}".encode(), "k")
    w.flush()
    times = [t for t, _, _ in kinesis.calls]
    assert [len(sent) for _, sent, _ in kinesis.calls] == [500, 500, 500]
    # Half a second of burst at once, then 1,000 records/s: no one-second window (strict, sliding) holds more than
    # the shard's 1,000 records, so the third request waits at least a second after the first.
    assert times[0] == 1000.0
    assert times[1] - times[0] >= 0.5 - 1e-9 and times[2] - times[0] >= 1.0 - 1e-9
    assert times[2] - times[0] < 1.1, "and it does not wait much longer than that"


# ---------------------------------------------------------------------------------------------------------------
# The failure file round-trips and names its problems.
# ---------------------------------------------------------------------------------------------------------------


def test_abort_writes_buffered_and_in_flight_records_with_the_reason(tmp_path):
    w = writer(ScriptedKinesis(), tmp_path, linger=60.0)
    w.add(b"\xff\xfe", "k", event_id="e1")
    assert w.abort("stopped") == 1
    (line,) = failure_lines(tmp_path)
    assert line["reason"] == "stopped; never sent" and line["data"] is None and line["event_id"] == "e1"
    assert read_failures(tmp_path / "failed.jsonl") == [(b"\xff\xfe", "k", "e1")]


def test_a_corrupt_failure_file_line_is_named(tmp_path):
    path = tmp_path / "failed.jsonl"
    path.write_text('{"data_base64": "eA==", "partition_key": "k"}\n\nnot json\n')
    with pytest.raises(Exception, match=r"failed.jsonl:3: not a failure-file line"):
        read_failures(path)


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("ResourceNotFoundException", "stream 'events' does not exist in region eu-west-1"),
        ("ExpiredTokenException", "AWS rejected the credentials (ExpiredTokenException)"),
        ("AccessDenied", "access denied writing to 'events' in region eu-west-1"),
        ("ResourceInUseException", "stream 'events' is not active yet"),
        ("Weird", "Kinesis refused the request (Weird): msg"),
    ],
)
def test_client_errors_are_explained_in_one_line(code, fragment):
    assert fragment in explain_client_error(code, "msg", "events", "eu-west-1")


# ---------------------------------------------------------------------------------------------------------------
# What mutation testing found unpinned (docs/testing.md): latency, the exact byte limit, default limits, files.
# ---------------------------------------------------------------------------------------------------------------


def test_an_ack_carries_the_time_from_add_to_acknowledgement(tmp_path):
    clock = FakeClock()
    acks = []
    kinesis = ScriptedKinesis(lambda call, index, entry: THROTTLED if call == 1 else None, clock=clock)
    w = writer(kinesis, tmp_path, clock, rng=FixedRng(1.0), on_ack=acks.append)
    w.add(b"a", "k", event_id="e1", meta={"n": 1})
    clock.t += 0.25
    w.flush()  # throttled once: acknowledged after the 0.1 s backoff
    (ack,) = acks
    assert ack.latency == pytest.approx(0.35)
    assert (ack.data, ack.partition_key, ack.event_id, ack.meta, ack.attempts) == (b"a", "k", "e1", {"n": 1}, 2)
    assert (ack.shard_id, ack.sequence_number) == ("shardId-000000000000", f"{1:056d}")
    assert list(w.stats.latencies) == pytest.approx([0.35])
    assert w.stats.bytes_sent == 2


def test_a_buffer_of_exactly_the_byte_limit_is_sent_at_once(tmp_path):
    kinesis = ScriptedKinesis()
    w = writer(kinesis, tmp_path, limits=BatchLimits(max_records=500, max_bytes=MIB), linger=60.0)
    w.add(b"x" * (MIB - 2), "k")  # one byte under the limit: waits
    assert kinesis.calls == []
    w.flush()
    kinesis.calls.clear()
    w.add(b"x" * (MIB // 2 - 1), "k")
    assert kinesis.calls == []
    w.add(b"y" * (MIB // 2 - 1), "k")  # MIB bytes with the two keys
    assert len(kinesis.calls) == 1 and w.buffered == 0


def test_unpaced_writers_use_the_api_limits_and_paced_ones_a_second_of_the_shards():
    assert KinesisWriter(ScriptedKinesis(), "s", pace=False, failure_path=Path("f")).limits == BatchLimits(500, 5 * MIB)
    assert KinesisWriter(ScriptedKinesis(), "s", shards=1, failure_path=Path("f")).limits == BatchLimits(500, MIB)
    assert KinesisWriter(ScriptedKinesis(), "s", shards=3, failure_path=Path("f")).limits == BatchLimits(500, 3 * MIB)


def test_the_failure_file_is_created_with_its_directories_and_counts_its_lines(tmp_path):
    path = tmp_path / "deep" / "er" / "failed.jsonl"
    w = KinesisWriter(ScriptedKinesis(), "s", pace=False, failure_path=path, clock=FakeClock())
    assert not path.exists() and w.failures.count == 0
    w.add(b"x", "")  # an empty key can never be written
    assert path.exists() and w.failures.count == 1
    w.close()


def test_the_system_clock_really_sleeps_and_waits():
    import threading
    import time

    from producers.kinesis_writer import SystemClock

    clock = SystemClock()
    started = time.monotonic()
    clock.sleep(0.05)
    clock.sleep(0)
    clock.sleep(-1)  # nothing to wait for: no error
    assert time.monotonic() - started >= 0.05
    event = threading.Event()
    started = time.monotonic()
    assert clock.wait(event, 0.05) is False
    assert time.monotonic() - started >= 0.05
    event.set()
    assert clock.wait(event, 30) is True and clock.wait(event, 0) is True
    assert clock.now() == pytest.approx(time.monotonic(), abs=1.0)


@pytest.mark.parametrize(
    ("code", "counted"),
    [
        ("ProvisionedThroughputExceededException", 1),
        ("ThrottlingException", 1),
        ("KMSThrottlingException", 1),
        ("ServiceUnavailable", 0),
        ("InternalFailure", 0),
    ],
)
def test_only_throttling_request_errors_count_as_throttled(tmp_path, code, counted):
    w = writer(ScriptedKinesis(errors=[_client_error(code)]), tmp_path)
    w.add(b"a", "k")
    w.flush()
    assert w.stats.throttled == counted and w.stats.retries == 1 and w.stats.sent == 1


def test_a_bucket_with_tokens_to_spare_needs_no_wait():
    bucket = TokenBucket(rate=10, capacity=20, now=0.0)
    assert bucket.delay(19.5, 0.0) == 0.0
    assert bucket.delay(20, 0.0) == 0.0


def test_a_buffer_that_jumps_past_the_byte_limit_is_sent_at_once(tmp_path):
    kinesis = ScriptedKinesis()
    w = writer(kinesis, tmp_path, limits=BatchLimits(max_records=500, max_bytes=MIB), linger=60.0)
    w.add(b"x" * 600_000, "k")
    w.add(b"y" * 600_000, "k")  # 1,200,002 bytes buffered: over the limit, the first goes out now
    assert [len(sent) for _, sent, _ in kinesis.calls] == [1]
    assert w.buffered == 1


def test_whole_request_throttling_past_max_attempts_fails_those_records_and_keeps_the_writer(tmp_path):
    kinesis = ScriptedKinesis(errors=[_client_error("ThrottlingException")] * 2)
    w = writer(kinesis, tmp_path, max_attempts=2)
    w.add(b"a", "k")
    w.flush()  # no KinesisWriteError: throttling is not a lost endpoint
    assert failure_lines(tmp_path)[0]["reason"] == "gave up after 2 attempts"
    w.add(b"b", "k")
    w.flush()
    assert kinesis.acknowledged == [b"b"]


def test_the_writer_defaults_are_the_documented_ones(tmp_path):
    w = KinesisWriter(ScriptedKinesis(), "s", failure_path=tmp_path / "f")
    assert (w.max_attempts, w.base_backoff, w.max_backoff, w.linger, w.strict_order) == (8, 0.1, 5.0, 0.2, False)


def test_take_batch_allows_repeated_keys_unless_asked_not_to():
    limits = BatchLimits(max_records=10, max_bytes=MIB)
    assert take_batch(["a", "a"], limits, lambda i: 1, str) == (["a", "a"], [])
    assert take_batch(["a", "a"], limits, lambda i: 1, str, one_per_key=True) == (["a"], ["a"])


def test_limits_acks_and_failures_are_immutable(tmp_path):
    import dataclasses

    acks = []
    w = writer(ScriptedKinesis(), tmp_path, on_ack=acks.append)
    w.add(b"a", "")
    w.add(b"b", "k")
    w.flush()
    failures = []
    w.on_failure = failures.append
    w.add(b"c", "")
    for value, name in ((BatchLimits(), "max_records"), (acks[0], "latency"), (failures[0], "reason")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, name, 1)
