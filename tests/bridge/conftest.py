"""Fixtures for the Kafka bridge: moto's Kinesis and S3, a Lambda context, Kinesis throttling at the API level."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from lambdas.quarantine import read_objects

EVENTS = Path(__file__).resolve().parent.parent / "events"
STREAM = "streamlake-events"
BUCKET = "streamlake-lake"


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


@dataclass
class LambdaContext:
    function_name: str = "streamlake-kafka-bridge"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:streamlake-kafka-bridge"
    aws_request_id: str = "5f0d9a52-4c1b-4d2e-8f3a-9b8c7d6e5f40"


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


def read_stream(kinesis: Any, stream: str) -> list[dict[str, Any]]:
    """Every record on the stream (all shards), decoded, with its partition key under `_partition_key`."""
    records = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            response = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            for record in response["Records"]:
                records.append({**json.loads(record["Data"]), "_partition_key": record["PartitionKey"]})
            if not response["Records"]:
                break
            iterator = response.get("NextShardIterator")
    return records


def read_quarantine(s3: Any, bucket: str) -> list[dict[str, Any]]:
    """Every message the bridge quarantined in `bucket`, once per position."""
    listing = s3.list_objects_v2(Bucket=bucket, Prefix="quarantine/stage=bridge/")
    return read_objects(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listing.get("Contents", []))


class Lake:
    """Read side of moto's stream and bucket."""

    def __init__(self) -> None:
        self.kinesis = boto3.client("kinesis")
        self.s3 = boto3.client("s3")

    def stream_records(self, stream: str = STREAM) -> list[dict[str, Any]]:
        return read_stream(self.kinesis, stream)

    def quarantined(self) -> list[dict[str, Any]]:
        return read_quarantine(self.s3, BUCKET)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Lake]:
    """moto Kinesis stream + lake bucket, and the environment the CDK gives the bridge Lambda."""
    for name in ("AWS_ENDPOINT_URL", "KAFKA_TOPIC_FAMILIES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "STREAM_NAME": STREAM,
        "LAKE_BUCKET": BUCKET,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "kafka-bridge",
        "KINESIS_RETRY_BASE_MS": "1",
    }.items():
        monkeypatch.setenv(name, value)
    from lambdas.bridge import handler

    with mock_aws():
        boto3.client("kinesis").create_stream(StreamName=STREAM, ShardCount=2)
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        handler.get_settings.cache_clear()
        handler.get_adapters.cache_clear()
        handler.metrics.clear_metrics()
        yield Lake()
        handler.get_settings.cache_clear()
        handler.get_adapters.cache_clear()
        handler.metrics.clear_metrics()


class _Http:
    status_code = 200
    headers: dict[str, str] = {}


_THROTTLED = {
    "ErrorCode": "ProvisionedThroughputExceededException",
    "ErrorMessage": "Rate exceeded for shard shardId-000000000000 in stream streamlake-events.",
}


class KinesisThrottle:
    """Makes a boto3 Kinesis client behave like a shard over its write limit: PutRecords entries chosen by `refuse`
    are not sent to the service and come back with ErrorCode ProvisionedThroughputExceededException, where Kinesis
    puts them in the response. Everything else really reaches moto."""

    def __init__(self, client: Any, refuse: Callable[[int, int, dict[str, Any]], bool]) -> None:
        self.refuse = refuse  # (call number from 1, entry index in the call, entry) -> refuse?
        self.calls: list[int] = []  # entries per call
        self.refused: list[list[bytes]] = []  # data of the refused entries, per call
        client.meta.events.register("before-parameter-build.kinesis.PutRecords", self._choose)
        client.meta.events.register("before-call.kinesis.PutRecords", self._short_circuit)
        client.meta.events.register("after-call.kinesis.PutRecords", self._merge)

    def _choose(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        call = len(self.calls) + 1
        entries = params["Records"]
        self.calls.append(len(entries))
        refused = {i for i, entry in enumerate(entries) if self.refuse(call, i, entry)}
        self.refused.append([entries[i]["Data"] for i in sorted(refused)])
        context["throttle"] = (refused, len(entries))
        if len(refused) < len(entries):
            params["Records"] = [entry for i, entry in enumerate(entries) if i not in refused]

    def _short_circuit(self, context: dict[str, Any], **_: Any) -> tuple[_Http, dict[str, Any]] | None:
        refused, total = context["throttle"]
        if refused and len(refused) == total:
            # Nothing to send: answer as Kinesis does when every entry was throttled.
            return _Http(), {"FailedRecordCount": total, "Records": [dict(_THROTTLED) for _ in range(total)]}
        return None

    def _merge(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        refused, total = context.pop("throttle")
        if not refused or len(refused) == total:
            return
        accepted = iter(parsed["Records"])
        parsed["Records"] = [dict(_THROTTLED) if i in refused else next(accepted) for i in range(total)]
        parsed["FailedRecordCount"] = len(refused)
