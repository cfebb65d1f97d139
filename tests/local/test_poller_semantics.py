"""The local event source mapping, step by step on a fake clock: bisect order, checkpoints that only move forward,
retry and read backoff, record age, batching window and payload limit, and the exact messages it produces.

Expectations are literals taken from the AWS Lambda documentation the poller's docstring cites (bisect splits a
failing batch in two and retries the halves in order; the checkpoint is the last record finished; a batch that
exhausted its retries or is older than the maximum age goes to the on-failure destination with its shard and
sequence range). The stream is an in-memory double of the three Kinesis calls the poller makes, and `time` in
local.poller is replaced by a clock that moves only when the test moves it, so nothing here waits or races.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

import local.poller as poller_module
from local.poller import (
    CheckpointStore,
    EventSourceSettings,
    KinesisEventSourceMapping,
    is_transient_read_error,
    read_backoff,
)
from streamlake.config import load_config
from tests.deployed_tables import TUNED

SHARD = "shardId-000000000000"
STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/events"
START = 1024.0  # binary-exact, so window arithmetic below is exact


class FakeTime:
    """Stands in for the `time` module inside local.poller: wall and monotonic time move together, on demand."""

    def __init__(self) -> None:
        self.now = START

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return 1_800_000_000.0 + self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


def seq(n: int) -> str:
    """Sequence number of record n: fixed width, so string order is arrival order (as Kinesis's are)."""
    return f"49{n:054d}"


class FakeKinesis:
    """One shard in memory: ListShards, GetShardIterator (TRIM_HORIZON / AFTER_SEQUENCE_NUMBER), GetRecords."""

    def __init__(self, clock: FakeTime) -> None:
        self.clock = clock
        self.records: list[dict[str, Any]] = []
        self.read_errors: list[Exception] = []
        self.reads: list[tuple[float, int]] = []  # (time, Limit) of each GetRecords call
        self.closed = False  # a closed shard's last GetRecords has no NextShardIterator

    def put(self, *numbers: int, size: int | None = None) -> None:
        arrival = datetime.fromtimestamp(self.clock.time(), UTC)
        for n in numbers:
            data = json.dumps({"n": n}).encode() if size is None else bytes([48 + n % 10]) * size
            self.records.append(
                {
                    "Data": data,
                    "PartitionKey": f"k{n}",
                    "SequenceNumber": seq(n),
                    "ApproximateArrivalTimestamp": arrival,
                }
            )

    def list_shards(self, StreamName: str) -> dict[str, Any]:  # noqa: N803 - boto3's parameter names
        return {"Shards": [{"ShardId": SHARD}]}

    def get_shard_iterator(self, *, StreamName: str, ShardId: str, ShardIteratorType: str, **kw: Any) -> dict:  # noqa: N803
        if ShardIteratorType == "TRIM_HORIZON":
            return {"ShardIterator": "0"}
        after = kw["StartingSequenceNumber"]
        position = next(i + 1 for i, r in enumerate(self.records) if r["SequenceNumber"] == after)
        return {"ShardIterator": str(position)}

    def get_records(self, *, ShardIterator: str, Limit: int) -> dict[str, Any]:  # noqa: N803
        self.reads.append((self.clock.now, Limit))
        if self.read_errors:
            error = self.read_errors.pop(0)  # None: this read succeeds
            if error is not None:
                raise error
        start = int(ShardIterator)
        records = self.records[start : start + Limit]
        end = start + len(records)
        if self.closed and end == len(self.records):
            return {"Records": records}
        return {"Records": records, "NextShardIterator": str(end)}


class FakeSqs:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def send_message(self, *, QueueUrl: str, MessageBody: str) -> dict:  # noqa: N803
        assert QueueUrl == "https://sqs.local/dlq"
        self.messages.append(json.loads(MessageBody))
        return {}


class RecordingCheckpoints(CheckpointStore):
    def __init__(self) -> None:
        super().__init__()
        self.history: list[str] = []

    def set(self, shard_id: str, sequence_number: str) -> None:
        assert shard_id == SHARD
        self.history.append(sequence_number)
        super().set(shard_id, sequence_number)


class Handler:
    """Records each invocation's record numbers and time; `rule(numbers, records, call)` may raise or answer."""

    def __init__(self, clock: FakeTime, rule=None) -> None:
        self.clock = clock
        self.rule = rule or (lambda numbers, records, call: None)
        self.batches: list[list[int]] = []
        self.times: list[float] = []
        self.events: list[dict] = []

    def __call__(self, event: dict, context: Any) -> Any:
        records = event["Records"]
        numbers = [int(r["kinesis"]["sequenceNumber"][2:]) for r in records]
        self.batches.append(numbers)
        self.times.append(self.clock.now)
        self.events.append(event)
        return self.rule(numbers, records, len(self.batches))


@pytest.fixture
def clock(monkeypatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(poller_module, "time", fake)
    return fake


@pytest.fixture
def stream(clock) -> FakeKinesis:
    return FakeKinesis(clock)


def make(stream: FakeKinesis, handler: Handler, checkpoints=None, sqs=None, **settings) -> KinesisEventSourceMapping:
    return KinesisEventSourceMapping(
        kinesis=stream,
        sqs=sqs or FakeSqs(),
        stream_name="events",
        stream_arn=STREAM_ARN,
        handler=handler,
        function_name="processor",
        on_failure_queue_url="https://sqs.local/dlq",
        settings=EventSourceSettings(**settings),
        checkpoints=checkpoints,
    )


def run_for(mapping: KinesisEventSourceMapping, clock: FakeTime, seconds: float, step: float = 0.001) -> None:
    """Poll as the run loop does, with the clock moving `step` whenever a poll found nothing to invoke."""
    end = clock.now + seconds
    for _ in range(200_000):  # a poller that claims to work forever without invoking anything fails, not hangs
        if clock.now >= end:
            return
        if not mapping.poll():
            clock.advance(step)
    raise AssertionError(f"still polling at {clock.now - START:.3f} s of {seconds} s")


def raise_on(poison: int):
    def rule(numbers, records, call):
        if poison in numbers:
            raise RuntimeError(f"cannot handle record {poison}")

    return rule


# ---------------------------------------------------------------------------------------------------------------
# Bisect, retries and checkpoints
# ---------------------------------------------------------------------------------------------------------------


def test_bisect_runs_the_first_half_first_and_checkpoints_only_move_forward(clock, stream):
    # GIVEN 8 records of which record 5 always fails the function, 3 retries
    stream.put(*range(8))
    handler = Handler(clock, raise_on(5))
    checkpoints = RecordingCheckpoints()
    sqs = FakeSqs()
    mapping = make(stream, handler, checkpoints, sqs, batch_size=8, max_retries=3)

    run_for(mapping, clock, 3.0)

    # THEN the batch is halved, left half first, down to record 5 alone, which gets its first try plus 3 retries
    assert handler.batches == [
        [0, 1, 2, 3, 4, 5, 6, 7],
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [4, 5],
        [4],
        [5],
        [5],
        [5],
        [5],
        [6, 7],
    ]
    # AND the checkpoint moved 3 -> 4 -> 5 (given up on) -> 7, never backwards
    assert checkpoints.history == [seq(3), seq(4), seq(5), seq(7)]
    (message,) = sqs.messages
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert message["requestContext"]["approximateInvokeCount"] == 4
    assert mapping.stats.records_succeeded == 7 and mapping.stats.records_discarded == 1
    assert mapping.stats.batches_discarded == 1 and mapping.stats.function_errors == 7
    assert mapping.stats.invocations == 10


def test_splitting_does_not_use_a_retry_but_each_failure_of_a_single_record_does(clock, stream):
    stream.put(*range(4))
    handler = Handler(clock, raise_on(0))
    sqs = FakeSqs()
    run_for(make(stream, handler, sqs=sqs, batch_size=4, max_retries=0), clock, 1.0)
    # [0..3] fails -> [0,1] fails -> [0] fails: max_retries 0 gives it up at once; then [1], [2, 3]
    assert handler.batches == [[0, 1, 2, 3], [0, 1], [0], [1], [2, 3]]
    assert sqs.messages[0]["requestContext"]["approximateInvokeCount"] == 1


def test_retries_back_off_0_1_0_2_0_4_0_8_then_1_second(clock, stream):
    stream.put(0)
    handler = Handler(clock, raise_on(0))
    run_for(make(stream, handler, batch_size=1, max_retries=6), clock, 6.0)
    assert len(handler.batches) == 7
    gaps = [b - a for a, b in zip(handler.times, handler.times[1:], strict=False)]
    for gap, expected in zip(gaps, [0.1, 0.2, 0.4, 0.8, 1.0, 1.0], strict=True):
        assert expected <= gap + 1e-9 < expected + 0.0021, gaps


def test_without_bisect_the_whole_batch_is_retried_then_discarded(clock, stream):
    stream.put(*range(4))
    handler = Handler(clock, raise_on(2))
    sqs = FakeSqs()
    checkpoints = RecordingCheckpoints()
    run_for(make(stream, handler, checkpoints, sqs, batch_size=4, max_retries=1, bisect_on_error=False), clock, 1.0)
    assert handler.batches == [[0, 1, 2, 3], [0, 1, 2, 3]]
    (message,) = sqs.messages
    assert message["KinesisBatchInfo"]["startSequenceNumber"] == seq(0)
    assert message["KinesisBatchInfo"]["endSequenceNumber"] == seq(3)
    assert message["KinesisBatchInfo"]["batchSize"] == 4
    assert checkpoints.history == [seq(3)]


# ---------------------------------------------------------------------------------------------------------------
# ReportBatchItemFailures
# ---------------------------------------------------------------------------------------------------------------


def _fail_items(*numbers_per_call: tuple[int, ...]):
    """Report these record numbers as failed on call 1, 2, ...; succeed after."""

    def rule(numbers, records, call):
        if call > len(numbers_per_call):
            return {"batchItemFailures": []}
        by_number = {int(r["kinesis"]["sequenceNumber"][2:]): r for r in records}
        return {
            "batchItemFailures": [
                {"itemIdentifier": by_number[n]["kinesis"]["sequenceNumber"]} for n in numbers_per_call[call - 1]
            ]
        }

    return rule


def test_item_failures_retry_from_the_lowest_reported_record_and_checkpoint_what_came_before(clock, stream):
    stream.put(*range(10))
    handler = Handler(clock, _fail_items((8, 6), (7,)))
    checkpoints = RecordingCheckpoints()
    run_for(make(stream, handler, checkpoints, batch_size=10), clock, 1.0)
    assert handler.batches == [list(range(10)), [6, 7, 8, 9], [7, 8, 9]]
    assert checkpoints.history == [seq(5), seq(6), seq(9)]


def test_reporting_the_first_record_checkpoints_nothing_and_retries_everything(clock, stream):
    stream.put(*range(3))
    handler = Handler(clock, _fail_items((0,)))
    checkpoints = RecordingCheckpoints()
    run_for(make(stream, handler, checkpoints, batch_size=3), clock, 1.0)
    assert handler.batches == [[0, 1, 2], [0, 1, 2]]
    assert checkpoints.history == [seq(2)]


@pytest.mark.parametrize(
    "failures",
    [[{"itemIdentifier": ""}], [{"itemIdentifier": "49999"}], [{}], ["not a dict"], [{"itemIdentifier": None}]],
)
def test_an_unusable_item_identifier_retries_the_whole_batch(clock, stream, failures):
    stream.put(*range(3))
    handler = Handler(clock, lambda numbers, records, call: {"batchItemFailures": failures} if call == 1 else None)
    run_for(make(stream, handler, batch_size=3), clock, 1.0)
    assert handler.batches == [[0, 1, 2], [0, 1, 2]]


@pytest.mark.parametrize("response", [None, {}, {"batchItemFailures": []}, {"batchItemFailures": None}, "ok", []])
def test_an_empty_or_missing_failure_list_is_success(clock, stream, response):
    stream.put(*range(3))
    handler = Handler(clock, lambda numbers, records, call: response)
    checkpoints = RecordingCheckpoints()
    run_for(make(stream, handler, checkpoints, batch_size=3), clock, 1.0)
    assert handler.batches == [[0, 1, 2]]
    assert checkpoints.history == [seq(2)]


def test_without_reporting_item_failures_a_response_is_ignored(clock, stream):
    stream.put(*range(3))
    handler = Handler(clock, _fail_items((1,)))
    run_for(make(stream, handler, batch_size=3, report_batch_item_failures=False), clock, 1.0)
    assert handler.batches == [[0, 1, 2]]


# ---------------------------------------------------------------------------------------------------------------
# Maximum record age, batching window, batch size and payload
# ---------------------------------------------------------------------------------------------------------------


def test_records_older_than_the_maximum_age_are_discarded_and_the_rest_processed(clock, stream):
    stream.put(0, 1, 2)
    clock.advance(2.0)
    stream.put(3, 4)
    clock.advance(1.0)  # now 0-2 are 3 s old, 3-4 exactly 1 s: not older than the maximum age
    handler = Handler(clock)
    sqs = FakeSqs()
    checkpoints = RecordingCheckpoints()
    make(stream, handler, checkpoints, sqs, batch_size=10, max_record_age_seconds=1.0).poll()
    assert handler.batches == [[3, 4]]
    (message,) = sqs.messages
    assert message["requestContext"]["condition"] == "RecordAgeExceeded"
    assert message["requestContext"]["approximateInvokeCount"] == 0
    info = message["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (seq(0), seq(2), 3)
    assert checkpoints.history == [seq(2), seq(4)]


def test_a_batch_that_ages_out_while_being_retried_is_discarded(clock, stream):
    stream.put(0)
    handler = Handler(clock, raise_on(0))
    sqs = FakeSqs()
    run_for(make(stream, handler, sqs=sqs, batch_size=1, max_retries=100, max_record_age_seconds=60), clock, 70.0)
    assert [m["requestContext"]["condition"] for m in sqs.messages] == ["RecordAgeExceeded"]
    assert handler.times[-1] - START <= 60.0


def test_the_batching_window_waits_from_the_first_record_until_it_passes(clock, stream):
    stream.put(0, 1, 2)
    handler = Handler(clock)
    mapping = make(stream, handler, batch_size=100, batch_window_seconds=0.5)
    mapping.poll()
    clock.advance(0.25)
    stream.put(3)
    mapping.poll()
    clock.advance(0.125)
    mapping.poll()
    assert handler.batches == []
    clock.advance(0.125)  # 0.5 s since record 0 was read
    mapping.poll()
    assert handler.batches == [[0, 1, 2, 3]]


def test_a_full_batch_does_not_wait_for_the_window(clock, stream):
    stream.put(*range(5))
    handler = Handler(clock)
    mapping = make(stream, handler, batch_size=2, batch_window_seconds=300)
    mapping.poll()
    mapping.poll()
    mapping.poll()
    assert handler.batches == [[0, 1], [2, 3]]


def test_batches_are_cut_at_the_batch_size_and_the_6_mb_payload(clock, stream):
    stream.put(*range(5), size=2_000_000)  # 2,667,178 bytes each in the event: two fit in 6 MiB, three do not
    handler = Handler(clock)
    run_for(make(stream, handler, batch_size=10), clock, 0.1)
    assert handler.batches == [[0, 1], [2, 3], [4]]
    assert {limit for _, limit in stream.reads} == {10_000}


# ---------------------------------------------------------------------------------------------------------------
# Reading: throttled reads back off and are retried; other errors surface
# ---------------------------------------------------------------------------------------------------------------


def _error(code: str, status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetRecords")


@pytest.mark.parametrize(("failures", "seconds"), [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (12, 1.0)])
def test_read_backoff_is_the_written_table(failures, seconds):
    assert read_backoff(failures) == pytest.approx(seconds)


def test_a_throttled_read_is_retried_after_the_backoff_and_nothing_is_lost(clock, stream):
    stream.put(0, 1)
    stream.read_errors = [_error("ProvisionedThroughputExceededException")] * 3
    handler = Handler(clock)
    mapping = make(stream, handler, batch_size=10)
    run_for(mapping, clock, 2.0)
    assert handler.batches == [[0, 1]]
    read_times = [t - START for t, _ in stream.reads[:4]]
    assert read_times[0] == 0.0
    for got, expected in zip(read_times[1:], [0.1, 0.3, 0.7], strict=True):
        assert expected <= got + 1e-9 < expected + 0.0031, read_times
    assert mapping.stats.reads_throttled == 3


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (_error("ProvisionedThroughputExceededException"), True),
        (_error("LimitExceededException"), True),
        (_error("KMSThrottlingException"), True),
        (_error("InternalFailure", 500), True),
        (_error("Whatever", 503), True),
        (_error("Whatever", 500), True),
        (_error("Whatever", 499), False),
        (_error("ExpiredIteratorException"), False),
        (_error("AccessDeniedException"), False),
        (RuntimeError("no response"), False),
    ],
)
def test_which_read_errors_are_transient(error, transient):
    assert is_transient_read_error(error) is transient


def test_a_read_error_that_is_not_transient_surfaces(clock, stream):
    stream.put(0)
    stream.read_errors = [_error("AccessDeniedException")]
    with pytest.raises(ClientError):
        make(stream, Handler(clock)).poll()


# ---------------------------------------------------------------------------------------------------------------
# What the handler and the on-failure queue receive
# ---------------------------------------------------------------------------------------------------------------


def test_the_event_is_lambdas_kinesis_event_shape(clock, stream):
    stream.put(7)
    handler = Handler(clock)
    make(stream, handler, batch_size=1).poll()
    (record,) = handler.events[0]["Records"]
    arrival = 1_800_000_000.0 + START
    assert record == {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": "k7",
            "sequenceNumber": seq(7),
            "data": base64.b64encode(b'{"n": 7}').decode(),
            "approximateArrivalTimestamp": arrival,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{SHARD}:{seq(7)}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:lambda:us-east-1:123456789012:role/local",
        "awsRegion": "us-east-1",
        "eventSourceARN": STREAM_ARN,
    }


def test_the_on_failure_message_names_the_shard_and_sequence_range(clock, stream):
    stream.put(0, 1)
    handler = Handler(clock, lambda numbers, records, call: (_ for _ in ()).throw(RuntimeError("down")))
    sqs = FakeSqs()
    run_for(make(stream, handler, sqs=sqs, batch_size=2, max_retries=0, bisect_on_error=False), clock, 0.1)
    (message,) = sqs.messages
    arrival = datetime.fromtimestamp(1_800_000_000.0 + START, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"
    assert message["KinesisBatchInfo"] == {
        "shardId": SHARD,
        "startSequenceNumber": seq(0),
        "endSequenceNumber": seq(1),
        "approximateArrivalOfFirstRecord": arrival,
        "approximateArrivalOfLastRecord": arrival,
        "batchSize": 2,
        "streamArn": STREAM_ARN,
    }
    assert message["requestContext"]["functionArn"] == "arn:aws:lambda:us-east-1:123456789012:function:processor"
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert message["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert message["version"] == "1.0"


def test_a_restarted_mapping_resumes_after_its_checkpoint_file(clock, stream, tmp_path):
    stream.put(*range(4))
    path = tmp_path / "checkpoints.json"
    first = Handler(clock)
    run_for(make(stream, first, CheckpointStore(path), batch_size=3), clock, 0.01)
    assert json.loads(path.read_text()) == {SHARD: seq(3)}
    stream.put(4, 5)
    second = Handler(clock)
    run_for(make(stream, second, CheckpointStore(path), batch_size=3), clock, 0.01)
    assert first.batches == [[0, 1, 2], [3]] and second.batches == [[4, 5]]


def test_settings_come_from_the_config_keys_the_deployed_mapping_uses():
    settings = EventSourceSettings.from_config(
        load_config({k: v for k, v in TUNED.items() if k.startswith("processor_")})
    )
    assert settings == EventSourceSettings(
        batch_size=250,
        batch_window_seconds=7,
        max_retries=5,
        max_record_age_seconds=7200,
        bisect_on_error=True,
        report_batch_item_failures=True,
    )
    assert EventSourceSettings.from_config(load_config()) == EventSourceSettings(
        batch_size=100, batch_window_seconds=1, max_retries=3, max_record_age_seconds=3600
    )


# ---------------------------------------------------------------------------------------------------------------
# What the first mutation run found unpinned (docs/testing.md): metrics, the exact payload limit, drain and run.
# ---------------------------------------------------------------------------------------------------------------


class FakeMetrics:
    """Collects what the poller publishes, as (namespace, name, value, dimensions, unit)."""

    def __init__(self) -> None:
        self.points: list[tuple[str, str, float, dict, str]] = []

    def put(self, namespace: str, name: str, value: float, dimensions: dict, unit: str = "None") -> None:
        self.points.append((namespace, name, value, dimensions, unit))

    def put_data(self, data: list) -> None:
        for namespace, datum in data:
            dims = {d["Name"]: d["Value"] for d in datum["Dimensions"]}
            self.points.append((namespace, datum["MetricName"], datum["Value"], dims, datum["Unit"]))

    def put_emf_output(self, text: str) -> list[str]:
        return [line for line in text.split("\n") if line]


def _with_metrics(stream: FakeKinesis, handler: Handler, metrics: FakeMetrics, **settings) -> KinesisEventSourceMapping:
    mapping = make(stream, handler, **settings)
    mapping._metrics = metrics  # the constructor's `metrics` argument, set after construction to reuse `make`
    return mapping


def test_invocation_and_iterator_age_metrics_are_lambdas_and_kinesiss(clock, stream):
    stream.put(0)
    clock.advance(2.0)
    stream.put(1)
    clock.advance(0.5)  # record 0 arrived 2.5 s ago, record 1 (the newest read) 0.5 s ago
    metrics = FakeMetrics()
    handler = Handler(
        clock, lambda numbers, records, call: (_ for _ in ()).throw(RuntimeError("x")) if call == 2 else None
    )
    mapping = _with_metrics(stream, handler, metrics, batch_size=10, max_retries=0, bisect_on_error=False)
    mapping.poll()
    function = {"FunctionName": "processor"}
    assert metrics.points == [
        ("AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", 500.0, {"StreamName": "events"}, "Milliseconds"),
        ("AWS/Lambda", "Invocations", 1, function, "Count"),
        ("AWS/Lambda", "Errors", 0, function, "Count"),
        ("AWS/Lambda", "Duration", 0.0, function, "Milliseconds"),
        ("AWS/Lambda", "IteratorAge", 500.0, function, "Milliseconds"),
    ]
    stream.put(2)
    metrics.points.clear()
    mapping.poll()
    assert [(name, value) for _, name, value, _, _ in metrics.points if name in ("Invocations", "Errors")] == [
        ("Invocations", 1),
        ("Errors", 1),
    ]


def test_a_batch_of_exactly_6_mib_is_one_invocation_and_the_next_byte_is_not(clock, stream):
    # 4,000,001 and 717,824 bytes are 5,333,846 + 957,610 = 6,291,456 bytes in the event (base64 plus envelope)
    stream.put(0, size=4_000_001)
    stream.put(1, size=717_824)
    stream.put(2, size=1)
    handler = Handler(clock)
    run_for(make(stream, handler, batch_size=10), clock, 0.01)
    assert handler.batches == [[0, 1], [2]]


def test_poll_says_whether_it_invoked(clock, stream):
    stream.put(0)
    mapping = make(stream, Handler(clock), batch_size=10, batch_window_seconds=1)
    assert mapping.poll() is False, "held back by the window"
    clock.advance(1.0)
    assert mapping.poll() is True
    assert mapping.poll() is False, "nothing left"


def test_drain_finishes_everything_in_the_stream_or_times_out(clock, stream):
    stream.put(*range(5))
    handler = Handler(clock)
    make(stream, handler, batch_size=2).drain(timeout=5)
    assert handler.batches == [[0, 1], [2, 3], [4]]
    stuck = Handler(clock, raise_on(0))
    stream.put(5)
    with pytest.raises(TimeoutError, match="records still pending"):
        make(stream, stuck, batch_size=10, max_retries=10_000, max_record_age_seconds=86_400).drain(timeout=5)


def test_run_polls_until_stopped(clock, stream):
    import threading

    stop = threading.Event()
    stream.put(0, 1)
    handler = Handler(clock, lambda numbers, records, call: stop.set())
    make(stream, handler, batch_size=1).run(stop, idle_sleep=0.001)
    assert handler.batches == [[0]]
    make(stream, handler, batch_size=1).run(stop)  # already stopped: returns without invoking
    assert handler.batches == [[0]]


def test_the_lambda_context_counts_down_and_never_goes_negative():
    import time

    from local.poller import LambdaContext

    assert LambdaContext("f", "arn", timeout_seconds=-5).get_remaining_time_in_millis() == 0
    assert 50_000 < LambdaContext("f", "arn", timeout_seconds=60).get_remaining_time_in_millis() <= 60_000
    ten_seconds_in = LambdaContext("f", "arn", timeout_seconds=60, _started=time.monotonic() - 10)
    assert 40_000 < ten_seconds_in.get_remaining_time_in_millis() <= 50_000


def test_the_default_settings_are_the_deployed_defaults():
    assert EventSourceSettings() == EventSourceSettings(
        batch_size=100,
        batch_window_seconds=0.0,
        max_retries=3,
        max_record_age_seconds=3600,
        bisect_on_error=True,
        report_batch_item_failures=True,
    )


def test_a_closed_shard_is_drained_to_its_end(clock, stream):
    stream.put(0, 1, 2)
    stream.closed = True  # GetRecords answers no NextShardIterator once the end is read
    handler = Handler(clock)
    make(stream, handler, batch_size=10).drain(timeout=5)
    assert handler.batches == [[0, 1, 2]]


def test_iterator_age_of_records_stamped_ahead_of_the_clock_is_zero(clock, stream):
    stream.put(0)
    clock.advance(-2.0)  # the stream's clock runs 2 s ahead of ours
    metrics = FakeMetrics()
    _with_metrics(stream, Handler(clock), metrics, batch_size=10).poll()
    ages = [
        value
        for _, name, value, _, _ in metrics.points
        if name in ("GetRecords.IteratorAgeMilliseconds", "IteratorAge")
    ]
    assert ages == [0.0, 0.0]


def test_one_byte_over_6_mib_is_two_invocations(clock, stream):
    # 5,333,845 + 957,612 = 6,291,457 bytes in the event: one more than the limit
    stream.put(0, size=4_000_000)
    stream.put(1, size=717_825)
    handler = Handler(clock)
    run_for(make(stream, handler, batch_size=10), clock, 0.01)
    assert handler.batches == [[0], [1]]


def test_a_batch_of_exactly_the_batch_size_does_not_wait_for_the_window(clock, stream):
    stream.put(0, 1)
    handler = Handler(clock)
    assert make(stream, handler, batch_size=2, batch_window_seconds=300).poll() is True
    assert handler.batches == [[0, 1]]


def test_records_left_after_a_full_batch_wait_a_window_from_then(clock, stream):
    stream.put(0, 1, 2)
    handler = Handler(clock)
    mapping = make(stream, handler, batch_size=2, batch_window_seconds=1)
    mapping.poll()
    assert handler.batches == [[0, 1]]
    clock.advance(0.5)
    mapping.poll()
    assert handler.batches == [[0, 1]]
    clock.advance(0.5)
    mapping.poll()
    assert handler.batches == [[0, 1], [2]]


def test_the_stream_is_read_again_only_when_less_than_a_batch_is_waiting(clock, stream):
    stream.put(*range(20))
    mapping = make(stream, Handler(clock), batch_size=10)
    mapping.poll()  # reads all 20, invokes 10
    mapping.poll()  # 10 waiting: a full batch, no read
    assert len(stream.reads) == 1
    stream.put(*range(20, 25))
    mapping.poll()  # nothing waiting: reads the 5 new ones
    assert len(stream.reads) == 2


def test_a_throttled_read_after_a_good_one_starts_the_backoff_again(clock, stream):
    stream.put(0)
    throttled = _error("ProvisionedThroughputExceededException")
    stream.read_errors = [throttled, None, throttled]
    run_for(make(stream, Handler(clock), batch_size=10), clock, 1.0)
    times = [t - START for t, _ in stream.reads[:4]]
    assert times[1] == pytest.approx(0.1, abs=0.002)
    assert times[3] - times[2] == pytest.approx(0.1, abs=0.002), times


def test_duration_is_the_handlers_time_in_milliseconds(clock, stream):
    stream.put(0)
    metrics = FakeMetrics()
    handler = Handler(clock, lambda numbers, records, call: clock.advance(0.25))
    _with_metrics(stream, handler, metrics, batch_size=10).poll()
    assert [value for _, name, value, _, _ in metrics.points if name == "Duration"] == [250.0]


def test_lambda_context_and_settings_defaults_are_lambdas():
    import dataclasses

    from local.poller import LambdaContext

    context = LambdaContext("processor", "arn:aws:lambda:us-east-1:123456789012:function:processor")
    assert (context.memory_limit_in_mb, context.timeout_seconds, context.function_version) == (512, 60.0, "$LATEST")
    with pytest.raises(dataclasses.FrozenInstanceError):
        EventSourceSettings().batch_size = 5  # type: ignore[misc]


def test_more_than_a_batch_waiting_is_not_read_again(clock, stream):
    stream.put(*range(25))
    mapping = make(stream, Handler(clock), batch_size=10)
    mapping.poll()  # reads all 25, invokes 10
    mapping.poll()  # 15 waiting: more than a batch, no read
    assert len(stream.reads) == 1


def test_a_function_error_is_caught_when_the_handlers_output_is_captured(clock, stream):
    import io

    from local.metrics import HandlerOutput

    stream.put(0)
    output = HandlerOutput(io.StringIO())
    handler = Handler(clock, lambda numbers, records, call: (_ for _ in ()).throw(RuntimeError("boom")))
    logged: list[str] = []
    mapping = make(stream, handler, batch_size=1, max_retries=0)
    mapping._output, mapping._log = output, logged.append  # local mode's wiring, set after `make`
    mapping.poll()
    assert mapping.stats.function_errors == 1
    assert any("RuntimeError: boom" in line for line in logged)


def test_remaining_time_is_in_milliseconds():
    import time

    from local.poller import LambdaContext

    ahead = LambdaContext("f", "arn", timeout_seconds=2, _started=time.monotonic() + 100)
    assert 101_900 < ahead.get_remaining_time_in_millis() <= 102_000
