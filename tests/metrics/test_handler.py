"""The window-metrics Lambda with Kinesis event shapes, AWS in moto: windows in DynamoDB, the lake and EMF."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.lambdas.kinesis_events import STREAM_ARN, kinesis_event

REGION = "us-east-1"
STREAM = STREAM_ARN.rsplit("/", 1)[1]


@dataclass
class Aws:
    s3: Any
    dynamodb: Any


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    for key, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "WINDOWS_TABLE": "windows",
        "LAKE_BUCKET": "lake",
        "METRICS_WINDOW_SECONDS": "30",
        "METRICS_ALLOWED_LATENESS_SECONDS": "10",
        "HIGH_TEMPERATURE_C": "30",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="lake")
        boto3.client("kinesis", region_name=REGION).create_stream(StreamName=STREAM, ShardCount=1)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(
            TableName="windows",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        from lambdas.metrics.handler import new_execution_environment

        new_execution_environment()
        yield Aws(s3, dynamodb)
        new_execution_environment()


@pytest.fixture
def context() -> Any:
    @dataclass
    class Context:
        function_name: str = "streamlake-window-metrics"
        memory_limit_in_mb: int = 256
        invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:streamlake-window-metrics"
        aws_request_id: str = "d6af9ac6-7b61-11e6-9a41-93e812345678"

    return Context()


def reading(second: int, sensor: str, location: str, temperature: float) -> dict[str, Any]:
    return {
        "sensor_id": sensor,
        "temperature": temperature,
        "humidity": 40.0,
        "location": location,
        "timestamp": f"2026-06-15T12:00:{second:02d}Z" if second < 60 else f"2026-06-15T12:01:{second - 60:02d}Z",
    }


def emf_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]


def test_closed_window_lands_in_the_lake_with_its_kpis_and_late_records_are_counted(
    aws: Aws, context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from lambdas.metrics.handler import handler

    # GIVEN readings of the 12:00:00-12:00:30 window, a poison record, then a reading at 12:00:45 (watermark 12:00:35)
    # and one from 12:00:20, older than that watermark
    event = kinesis_event(
        [
            reading(1, "s1", "lab", 20.0),
            reading(12, "s1", "lab", 34.0),
            reading(20, "s2", "lab", 26.0),
            b"not json",
            reading(45, "s2", "lab", 22.0),
            reading(20, "s3", "lab", 99.0),
        ]
    )

    # WHEN the function gets the batch
    assert handler(event, context) == {}

    # THEN the first window is in the lake: per sensor and per location, the late reading in neither
    keys = [o["Key"] for o in aws.s3.list_objects_v2(Bucket="lake", Prefix="metrics/")["Contents"]]
    start_ms = 1781524800000  # 2026-06-15T12:00:00Z
    assert keys == [f"metrics/window_metrics/year=2026/month=06/day=15/hour=12/window-{start_ms}.json.gz"]
    body = aws.s3.get_object(Bucket="lake", Key=keys[0])["Body"].read()
    rows = {(r["dimension"], r["entity"]): r for r in map(json.loads, gzip.decompress(body).splitlines())}
    assert set(rows) == {("location", "lab"), ("sensor", "s1"), ("sensor", "s2")}
    lab = rows[("location", "lab")]
    assert (lab["count"], lab["min_temperature"], lab["max_temperature"], lab["above_threshold"]) == (3, 20.0, 34.0, 1)
    assert lab["avg_temperature"] == pytest.approx(80.0 / 3)
    assert (lab["window_start"], lab["window_end"]) == ("2026-06-15T12:00:00.000Z", "2026-06-15T12:00:30.000Z")

    # AND EMF: the late record per family, the skipped one, and the window's location KPIs at the window's start
    docs = emf_lines(capsys.readouterr().out)
    late = [d for d in docs if "LateRecords" in d]
    assert [(d["family"], d["LateRecords"]) for d in late] == [("sensor", 1)]
    batch = next(d for d in docs if "RecordsAggregated" in d)
    assert (batch["RecordsAggregated"], batch["RecordsSkipped"], batch["WindowsClosed"]) == (4, 1, 1)
    kpi = next(d for d in docs if "WindowAvgTemperature" in d)
    assert (kpi["location"], kpi["_aws"]["Timestamp"], kpi["WindowMaxTemperature"]) == ("lab", start_ms, 34.0)


def test_a_retried_batch_counts_nothing_twice(aws: Aws, context: Any) -> None:
    from lambdas.metrics.handler import get_runtime, handler

    # GIVEN a batch already processed
    event = kinesis_event([reading(1, "s1", "lab", 20.0), reading(2, "s1", "lab", 21.0)])
    handler(event, context)

    # WHEN Lambda delivers it again (and then its second half, as a bisect would)
    handler(event, context)
    handler({"Records": event["Records"][1:]}, context)

    # THEN the window still holds two readings
    entities = get_runtime().store.window_entities(1781524800000)
    assert {k.dimension: agg.count for k, agg in entities.items()} == {"sensor": 2, "location": 2}
