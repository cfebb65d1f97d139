"""Running the local stack for one reliability scenario."""

from __future__ import annotations

import base64
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from local.stack import LocalOptions, LocalStack
from streamlake.config import Config, load_config


def config_for(scenario: str) -> Config:
    """The default config under a prefix of the scenario's own. moto keeps its state per process, not per server, so
    another test package's moto server that is still up (tests/producers keeps one for the session) may already hold
    a `streamlake-events` stream with records in it; our own names keep the counts exact."""
    return load_config({"prefix": f"rel-{scenario}"[:20]})


def local_stack(scenario: str, run_dir: Path, **options: Any) -> LocalStack:
    """A local stack for `scenario` with a short Firehose buffer (the deployed 60 s would only make tests wait)."""
    settings = {"buffer_seconds": 0.5, "alarm_interval_seconds": 1.0, **options}
    return LocalStack(config_for(scenario), LocalOptions(run_dir, **settings))


def produce_at_the_shard_limit(
    endpoint_url: str, stream: str, count: int, failure_path: Path, *, seed: int = 61, bad_ratio: float = 0.01
) -> Any:
    """The producer as fast as one emulated shard takes records (`count` mixed records, some malformed); returns
    its Summary, with every acknowledged record. Run it in another process (`in_another_process`) to load the stack
    as a user's producer does: its own interpreter, reaching local mode over HTTP."""
    from producers.shard_emulator import ShardLimitedKinesis
    from producers.test_producer import make_client, produce

    shard = ShardLimitedKinesis(make_client("kinesis", endpoint_url), shards=1)
    return produce(
        stream,
        count=count,
        family="mixed",
        bad_ratio=bad_ratio,
        seed=seed,
        client=shard,
        shards=1,
        failure_path=failure_path,
    )


def in_another_process(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`function(*args, **kwargs)` in a fresh interpreter (spawned, so nothing of this process's moto state or its
    in-process routes is inherited); returns what it returns."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(function, *args, **kwargs).result()


def read_range(stack: LocalStack, shard_id: str, first: str, last: str) -> list[dict[str, Any]]:
    """The stream's records of one shard from sequence number `first` to `last`, inclusive."""
    kinesis = stack.clients["kinesis"]
    iterator = kinesis.get_shard_iterator(
        StreamName=stack.resources.stream_name,
        ShardId=shard_id,
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        StartingSequenceNumber=first,
    )["ShardIterator"]
    records: list[dict[str, Any]] = []
    while iterator:
        response = kinesis.get_records(ShardIterator=iterator, Limit=1000)
        for record in response["Records"]:
            if int(record["SequenceNumber"]) > int(last):
                return records
            records.append(record)
        if not response["Records"]:
            return records
        iterator = response.get("NextShardIterator")
    return records


def lambda_event(stack: LocalStack, shard_id: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """A Kinesis event for these records, shaped as the event source mapping delivers it."""
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": r["PartitionKey"],
                    "sequenceNumber": r["SequenceNumber"],
                    "data": base64.b64encode(r["Data"]).decode("ascii"),
                    "approximateArrivalTimestamp": r["ApproximateArrivalTimestamp"].timestamp(),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{shard_id}:{r['SequenceNumber']}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/local",
                "awsRegion": "us-east-1",
                "eventSourceARN": stack.resources.stream_arn,
            }
            for r in records
        ]
    }


def replay_dead_letters(stack: LocalStack, dead_letters: list[dict[str, Any]]) -> list[str]:
    """What an operator does with the on-failure destination once the cause is fixed: read each discarded batch back
    from the stream (the message names shard and sequence range; the records stay for the stream's retention) and
    invoke the processor with it again. Returns the sequence numbers replayed; fails if a replay reports failures."""
    from lambdas.processor.handler import handler
    from local.poller import LambdaContext

    replayed: list[str] = []
    for message in dead_letters:
        info = message["KinesisBatchInfo"]
        records = read_range(stack, info["shardId"], info["startSequenceNumber"], info["endSequenceNumber"])
        assert len(records) == info["batchSize"], info
        context = LambdaContext(stack.resources.processor_function, message["requestContext"]["functionArn"])
        response = handler(lambda_event(stack, info["shardId"], records), context)
        assert response == {"batchItemFailures": []}, response
        replayed += [r["SequenceNumber"] for r in records]
    return replayed


def processor_metric(stack: LocalStack, name: str) -> float:
    """Sum of one of the processor's EMF metrics (lambdas/processor/metric_names.py) in local CloudWatch."""
    from datetime import UTC, datetime, timedelta

    from lambdas.processor import metric_names

    now = datetime.now(UTC)
    points = stack.clients["cloudwatch"].get_metric_statistics(
        Namespace=metric_names.NAMESPACE,
        MetricName=name,
        Dimensions=[{"Name": "service", "Value": metric_names.SERVICE}],
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(minutes=5),
        Period=3600,
        Statistics=["Sum"],
    )["Datapoints"]
    return sum(p["Sum"] for p in points)
