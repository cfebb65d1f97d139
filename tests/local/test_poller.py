"""The local Kinesis event source mapping behaves like Lambda's: batches, partial failures, bisect, retries,
record age, the on-failure queue and checkpoints."""

from __future__ import annotations

import base64
import json
import time

import boto3
import pytest
from moto import mock_aws

import local.poller as poller_module
from local.metrics import HandlerOutput, MetricsSink
from local.poller import CheckpointStore, EventSourceSettings, KinesisEventSourceMapping

STREAM = "events"


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        kinesis = boto3.client("kinesis")
        kinesis.create_stream(StreamName=STREAM, ShardCount=1)
        sqs = boto3.client("sqs")
        queue = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        yield kinesis, sqs, queue


def put(kinesis, count: int, start: int = 0) -> list[str]:
    sequence_numbers = []
    for i in range(start, start + count):
        response = kinesis.put_record(StreamName=STREAM, Data=json.dumps({"n": i}).encode(), PartitionKey=f"k{i % 3}")
        sequence_numbers.append(response["SequenceNumber"])
    return sequence_numbers


class Recorder:
    """A handler that records what it was given and fails according to a rule."""

    def __init__(self, rule=None) -> None:
        self.batches: list[list[int]] = []
        self.events: list[dict] = []
        self.rule = rule or (lambda numbers, records, call: None)

    def __call__(self, event, context):
        records = event["Records"]
        numbers = [json.loads(base64.b64decode(r["kinesis"]["data"]))["n"] for r in records]
        self.batches.append(numbers)
        self.events.append(event)
        return self.rule(numbers, records, len(self.batches))

    def delivered(self) -> list[int]:
        return [n for batch in self.batches for n in batch]


def mapping(aws, handler, checkpoints=None, **settings) -> KinesisEventSourceMapping:
    kinesis, sqs, queue = aws
    arn = kinesis.describe_stream_summary(StreamName=STREAM)["StreamDescriptionSummary"]["StreamARN"]
    return KinesisEventSourceMapping(
        kinesis=kinesis,
        sqs=sqs,
        stream_name=STREAM,
        stream_arn=arn,
        handler=handler,
        function_name="processor",
        on_failure_queue_url=queue,
        settings=EventSourceSettings(**settings),
        checkpoints=checkpoints,
    )


def dlq_messages(aws) -> list[dict]:
    _, sqs, queue = aws
    messages = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return messages
        messages += [json.loads(m["Body"]) for m in batch]
        for m in batch:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])


def test_records_arrive_in_order_in_batches_with_the_lambda_event_shape(aws):
    sequence_numbers = put(aws[0], 250)
    handler = Recorder()
    poller = mapping(aws, handler, batch_size=100)
    poller.drain()
    assert [len(b) for b in handler.batches] == [100, 100, 50]
    assert handler.delivered() == list(range(250))
    first = handler.events[0]["Records"][0]
    assert first["eventSource"] == "aws:kinesis"
    assert first["eventID"] == f"shardId-000000000000:{sequence_numbers[0]}"
    assert first["kinesis"]["sequenceNumber"] == sequence_numbers[0]
    assert first["kinesis"]["partitionKey"] == "k0"
    assert isinstance(first["kinesis"]["approximateArrivalTimestamp"], float)
    assert first["eventSourceARN"].endswith(f":stream/{STREAM}")
    assert not dlq_messages(aws)


def test_a_reported_item_failure_retries_the_batch_from_that_record(aws):
    sequence_numbers = put(aws[0], 10)

    def fail_item_6_once(numbers, records, call):
        if call == 1:
            return {
                "batchItemFailures": [
                    {"itemIdentifier": records[8]["kinesis"]["sequenceNumber"]},
                    {"itemIdentifier": records[6]["kinesis"]["sequenceNumber"]},
                ]
            }
        return {"batchItemFailures": []}

    handler = Recorder(fail_item_6_once)
    checkpoints = CheckpointStore()
    mapping(aws, handler, checkpoints=checkpoints, batch_size=10).drain()
    assert handler.batches == [list(range(10)), [6, 7, 8, 9]]
    assert checkpoints.get("shardId-000000000000") == sequence_numbers[-1]
    assert not dlq_messages(aws)


def test_a_failure_with_an_unknown_identifier_retries_the_whole_batch(aws):
    put(aws[0], 5)
    handler = Recorder(
        lambda numbers, records, call: {"batchItemFailures": [{"itemIdentifier": ""}]} if call == 1 else None
    )
    mapping(aws, handler, batch_size=10).drain()
    assert handler.batches == [list(range(5)), list(range(5))]


def test_a_function_error_bisects_until_the_poison_record_is_alone_then_it_goes_to_the_dlq(aws):
    sequence_numbers = put(aws[0], 8)

    def poison_5(numbers, records, call):
        if 5 in numbers:
            raise RuntimeError("cannot handle record 5")

    handler = Recorder(poison_5)
    poller = mapping(aws, handler, batch_size=8, max_retries=2)
    poller.drain()
    sizes_with_poison = [len(b) for b in handler.batches if 5 in b]
    assert sizes_with_poison == [8, 4, 2, 1, 1, 1], "halved to one record, then the first try plus 2 retries"
    assert sorted(n for b in handler.batches if 5 not in b for n in b) == [0, 1, 2, 3, 4, 6, 7]
    (message,) = dlq_messages(aws)
    info = message["KinesisBatchInfo"]
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert message["requestContext"]["approximateInvokeCount"] == 3
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == sequence_numbers[5]
    assert info["batchSize"] == 1 and info["shardId"] == "shardId-000000000000"
    assert poller.stats.records_succeeded == 7 and poller.stats.records_discarded == 1


def test_without_bisect_a_failing_batch_is_retried_whole_then_discarded(aws):
    put(aws[0], 4)
    handler = Recorder(lambda numbers, records, call: (_ for _ in ()).throw(RuntimeError("down")))
    mapping(aws, handler, batch_size=4, max_retries=1, bisect_on_error=False).drain()
    assert handler.batches == [[0, 1, 2, 3], [0, 1, 2, 3]]
    (message,) = dlq_messages(aws)
    assert message["KinesisBatchInfo"]["batchSize"] == 4


class _ShiftedTime:
    """local.poller's view of time, `ahead` seconds in the future: records look old without waiting for it."""

    def __init__(self) -> None:
        self.ahead = 0.0

    def time(self) -> float:
        return time.time() + self.ahead

    def monotonic(self) -> float:
        return time.monotonic() + self.ahead

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def test_records_older_than_the_maximum_age_are_discarded_not_processed(aws, monkeypatch):
    clock = _ShiftedTime()
    monkeypatch.setattr(poller_module, "time", clock)
    put(aws[0], 3)
    handler = Recorder()
    poller = mapping(aws, handler, batch_size=10, max_record_age_seconds=60)
    clock.ahead = 61.0  # records 0-2 (moto's arrival times) are now a minute old
    poller.drain()
    clock.ahead = 0.0
    put(aws[0], 2, start=3)
    poller.drain()
    assert handler.delivered() == [3, 4]
    (message,) = dlq_messages(aws)
    assert message["requestContext"]["condition"] == "RecordAgeExceeded"
    assert message["KinesisBatchInfo"]["batchSize"] == 3


def test_the_batching_window_waits_for_more_records_before_invoking(aws):
    put(aws[0], 3)
    handler = Recorder()
    poller = mapping(aws, handler, batch_size=100, batch_window_seconds=0.4)
    started = time.monotonic()
    poller.poll()
    assert handler.batches == []
    deadline = started + 10.0
    while not handler.batches and time.monotonic() < deadline:
        poller.poll()
        time.sleep(0.01)
    assert handler.batches == [[0, 1, 2]]
    assert time.monotonic() - started >= 0.4, "not invoked before the window passed"


def test_a_restarted_mapping_resumes_after_its_checkpoint(aws, tmp_path):
    put(aws[0], 5)
    store = tmp_path / "checkpoints.json"
    first = Recorder()
    mapping(aws, first, checkpoints=CheckpointStore(store), batch_size=10).drain()
    put(aws[0], 3, start=5)
    second = Recorder()
    mapping(aws, second, checkpoints=CheckpointStore(store), batch_size=10).drain()
    assert first.delivered() == [0, 1, 2, 3, 4]
    assert second.delivered() == [5, 6, 7]


def test_handler_emf_output_becomes_cloudwatch_metrics_and_the_rest_is_logged(aws):
    put(aws[0], 2)
    output = HandlerOutput.install()
    logged = []

    def handler(event, context):
        print(json.dumps({"level": "INFO", "message": "hello"}))
        print(
            json.dumps(
                {
                    "_aws": {
                        "Timestamp": int(time.time() * 1000),
                        "CloudWatchMetrics": [
                            {
                                "Namespace": "Streamlake",
                                "Dimensions": [["service"]],
                                "Metrics": [{"Name": "InvalidRecords", "Unit": "Count"}],
                            }
                        ],
                    },
                    "service": "processor",
                    "InvalidRecords": [1.0, 2.0],
                }
            )
        )

    kinesis, sqs, queue = aws
    cloudwatch = boto3.client("cloudwatch")
    arn = kinesis.describe_stream_summary(StreamName=STREAM)["StreamDescriptionSummary"]["StreamARN"]
    poller = KinesisEventSourceMapping(
        kinesis=kinesis,
        sqs=sqs,
        stream_name=STREAM,
        stream_arn=arn,
        handler=handler,
        function_name="processor",
        on_failure_queue_url=queue,
        settings=EventSourceSettings(),
        metrics=MetricsSink(cloudwatch),
        output=output,
        log=logged.append,
    )
    poller.drain()
    assert logged == ['{"level": "INFO", "message": "hello"}']
    stats = cloudwatch.get_metric_statistics(
        Namespace="Streamlake",
        MetricName="InvalidRecords",
        Dimensions=[{"Name": "service", "Value": "processor"}],
        StartTime=time.time() - 600,
        EndTime=time.time() + 60,
        Period=60,
        Statistics=["Sum"],
    )
    assert sum(p["Sum"] for p in stats["Datapoints"]) == 3.0
    invocations = cloudwatch.get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName="Invocations",
        Dimensions=[{"Name": "FunctionName", "Value": "processor"}],
        StartTime=time.time() - 600,
        EndTime=time.time() + 60,
        Period=60,
        Statistics=["Sum"],
    )
    assert sum(p["Sum"] for p in invocations["Datapoints"]) == 1.0
