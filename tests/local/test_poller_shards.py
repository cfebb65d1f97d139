"""One poller per shard (local.poller.KinesisEventSourceMapping.run): each shard is read on a thread of its own, in
sequence order, with its own checkpoint; invocations take turns; a shard poller's error stops the mapping."""

from __future__ import annotations

import base64
import json
import threading
import time

import boto3
import pytest
from moto import mock_aws

from local.poller import CheckpointStore, EventSourceSettings, KinesisEventSourceMapping

STREAM = "sharded"


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        kinesis = boto3.client("kinesis")
        kinesis.create_stream(StreamName=STREAM, ShardCount=2)
        sqs = boto3.client("sqs")
        yield kinesis, sqs, sqs.create_queue(QueueName="dlq")["QueueUrl"]


def _mapping(aws, handler, checkpoints: CheckpointStore) -> KinesisEventSourceMapping:
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
        settings=EventSourceSettings(batch_size=10),
        checkpoints=checkpoints,
    )


def _put(kinesis, count: int) -> dict[str, list[int]]:
    """`count` records with varied keys; returns the numbers each shard got, in the order written."""
    by_shard: dict[str, list[int]] = {}
    for n in range(count):
        answer = kinesis.put_record(StreamName=STREAM, Data=json.dumps({"n": n}).encode(), PartitionKey=f"key-{n}")
        by_shard.setdefault(answer["ShardId"], []).append(n)
    return by_shard


def _wait(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_each_shard_is_polled_on_its_own_thread_in_order_with_its_own_checkpoint(aws, tmp_path):
    # GIVEN a two-shard stream with 200 records spread over both shards
    written = _put(aws[0], 200)
    assert len(written) == 2 and all(written.values())
    seen: dict[str, list[int]] = {}
    threads: dict[str, set[str]] = {}
    inside = []
    concurrent = []

    def handler(event, context):
        inside.append(1)
        if len(inside) > 1:
            concurrent.append(True)
        for record in event["Records"]:
            shard = record["eventID"].split(":")[0]
            seen.setdefault(shard, []).append(json.loads(base64.b64decode(record["kinesis"]["data"]))["n"])
            threads.setdefault(shard, set()).add(threading.current_thread().name)
        time.sleep(0.001)  # a chance for another shard's thread to enter, if invocations did not take turns
        inside.pop()
        return {"batchItemFailures": []}

    checkpoints = CheckpointStore(tmp_path / "checkpoints.json")
    mapping = _mapping(aws, handler, checkpoints)
    stop = threading.Event()
    runner = threading.Thread(target=mapping.run, args=(stop,))
    # WHEN the mapping runs until every record is processed
    runner.start()
    _wait(lambda: mapping.stats.records_succeeded == 200)
    stop.set()
    runner.join(timeout=10)
    # THEN every shard's records were delivered once, in the order written, each shard from a thread of its own
    assert seen == written
    assert threads == {shard: {f"poller-{shard}"} for shard in written}
    # AND invocations never overlapped (one execution environment), and each shard has its own checkpoint
    assert concurrent == []
    assert json.loads((tmp_path / "checkpoints.json").read_text()).keys() == written.keys()


def test_an_error_in_one_shard_poller_stops_the_mapping_and_is_raised(aws, tmp_path):
    # GIVEN a mapping whose reads of one shard fail with an error that is not a throttle (a bug)
    _put(aws[0], 20)
    mapping = _mapping(aws, lambda event, context: None, CheckpointStore())
    broken: list[str] = []
    mapping._kinesis = _FailingReads(aws[0], shard_suffix="000000000001", broken=broken)
    # WHEN it runs THEN run() raises that error (the supervisor restarts the mapping from its checkpoints)
    with pytest.raises(RuntimeError, match="bug reading shardId-000000000001"):
        mapping.run(threading.Event())
    assert broken


class _FailingReads:
    """The Kinesis client, but GetRecords on one shard raises a RuntimeError."""

    def __init__(self, client, shard_suffix: str, broken: list) -> None:
        self._client = client
        self._suffix = shard_suffix
        self._broken = broken
        self._iterators: dict[str, str] = {}

    def get_shard_iterator(self, **kwargs):
        answer = self._client.get_shard_iterator(**kwargs)
        self._iterators[answer["ShardIterator"]] = kwargs["ShardId"]
        return answer

    def get_records(self, **kwargs):
        shard = self._iterators.get(kwargs["ShardIterator"])
        if shard is not None and shard.endswith(self._suffix):
            self._broken.append(shard)
            raise RuntimeError(f"bug reading {shard}")
        answer = self._client.get_records(**kwargs)
        if answer.get("NextShardIterator"):
            self._iterators[answer["NextShardIterator"]] = shard
        return answer

    def __getattr__(self, name):
        return getattr(self._client, name)
