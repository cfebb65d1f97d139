"""The local Firehose deliverer writes what the deployed one would: raw backup, Parquet per family and hour, and
errors with the reason, and re-reads what it had not written when restarted."""

from __future__ import annotations

import base64
import gzip
import json

import boto3
import duckdb
import pytest
from moto import mock_aws

from local.firehose import ConversionError, FirehoseDeliverer, LakeWriter, to_row
from local.poller import CheckpointStore
from streamlake import lake

STREAM, BUCKET = "events", "lake"

GOOD = [
    {
        "event_id": "e1",
        "family": "sensor",
        "timestamp": "2026-11-24T10:00:00Z",
        "sensor_id": "s-1",
        "temperature": 21.5,
        "humidity": 40,
        "location": "Aula 1",
    },
    {
        "sensor_id": "lab-7",
        "temperature": 31,
        "humidity": 55.5,
        "timestamp": "2026-11-24T10:00:01Z",
        "location": "Laboratório",
    },
    {
        "event_id": "e3",
        "family": "student",
        "timestamp": "2026-11-24T10:00:02Z",
        "student_id": "st-9",
        "event_type": "grade_posted",
        "course_id": "MAT101",
        "grade": "8.5",
    },
    {
        "event_id": "e4",
        "family": "log",
        "timestamp": "2026-11-24T10:00:03Z",
        "level": "ERROR",
        "service": "api",
        "message": "boom",
        "host": "h1",
        "extra": {"ignored": True},
    },
    {"event_id": "e5", "family": "telemetry", "timestamp": "2026-11-24T10:00:04Z"},
]
# jq cannot parse these or index them with .family (NaN is not JSON).
NOT_PARTITIONABLE = [
    b"not json at all",
    b"[1, 2, 3]",
    b'"a string"',
    b"\xff\xfe",
    b'{"family": "sensor", "sensor_id": "s-3", "temperature": NaN}',
]
NOT_CONVERTIBLE = [
    json.dumps({"family": "sensor", "sensor_id": "s-2", "temperature": "hot", "humidity": 1}).encode(),
    json.dumps({"family": "student", "student_id": "x", "grade": [1]}).encode(),
]


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        kinesis, s3 = boto3.client("kinesis"), boto3.client("s3")
        kinesis.create_stream(StreamName=STREAM, ShardCount=1)
        s3.create_bucket(Bucket=BUCKET)
        yield kinesis, s3


def deliverer(aws, tmp_path, checkpoints=None, buffer_seconds=60.0, buffer_bytes=64 << 20) -> FirehoseDeliverer:
    kinesis, s3 = aws
    return FirehoseDeliverer(
        kinesis=kinesis,
        stream_name=STREAM,
        writer=LakeWriter(s3, BUCKET, tmp_path / "lake"),
        delivery_stream_name="delivery",
        buffer_seconds=buffer_seconds,
        buffer_bytes=buffer_bytes,
        checkpoints=checkpoints,
    )


def put_all(kinesis, payloads: list[bytes]) -> None:
    for i, data in enumerate(payloads):
        kinesis.put_record(StreamName=STREAM, Data=data, PartitionKey=str(i))


def keys(s3, prefix: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]


def test_every_record_is_backed_up_raw_and_each_family_lands_as_parquet(aws, tmp_path):
    kinesis, s3 = aws
    payloads = [json.dumps(r, ensure_ascii=False).encode() for r in GOOD] + NOT_PARTITIONABLE + NOT_CONVERTIBLE
    put_all(kinesis, payloads)
    firehose = deliverer(aws, tmp_path)
    firehose.poll()
    written = firehose.flush()

    (raw_key,) = keys(s3, lake.RAW_PREFIX)
    raw = gzip.decompress(s3.get_object(Bucket=BUCKET, Key=raw_key)["Body"].read())
    assert raw.split(b"\n")[:-1] == payloads
    assert set(written) == set(keys(s3, ""))

    lake_dir = tmp_path / "lake"
    con = duckdb.connect()
    sensors = con.execute(
        f"SELECT sensor_id, temperature, humidity, location, timestamp, year, hour "
        f"FROM read_parquet('{lake_dir}/processed/family=sensor/*/*/*/*/*.parquet', hive_partitioning=true) "
        f"ORDER BY sensor_id"
    ).fetchall()
    assert [row[:4] for row in sensors] == [("lab-7", 31.0, 55.5, "Laboratório"), ("s-1", 21.5, 40.0, "Aula 1")]
    student = con.execute(
        f"SELECT student_id, grade FROM read_parquet('{lake_dir}/processed/family=student/**/*.parquet')"
    ).fetchall()
    assert student == [("st-9", 8.5)]
    log_columns = [
        c[0]
        for c in con.execute(
            f"DESCRIBE SELECT * FROM read_parquet('{lake_dir}/processed/family=log/**/*.parquet', "
            "hive_partitioning=false)"
        ).fetchall()
    ]
    assert log_columns == [name for name, _ in lake.table_columns(None)]
    assert keys(s3, "processed/family=unknown/"), "an unknown family is kept apart, not dropped"


def test_records_that_cannot_be_partitioned_or_converted_go_to_errors_with_the_reason(aws, tmp_path):
    kinesis, s3 = aws
    put_all(kinesis, NOT_PARTITIONABLE + NOT_CONVERTIBLE)
    firehose = deliverer(aws, tmp_path)
    firehose.poll()
    firehose.flush()
    by_type = {}
    for key in keys(s3, lake.ERRORS_PREFIX):
        error_type = key.split("/")[1]
        lines = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode().splitlines()
        by_type[error_type] = [json.loads(line) for line in lines]
    assert [base64.b64decode(r["rawData"]) for r in by_type["partitioning-failed"]] == NOT_PARTITIONABLE
    assert [base64.b64decode(r["rawData"]) for r in by_type["format-conversion-failed"]] == NOT_CONVERTIBLE
    reasons = [r["errorMessage"] for r in by_type["format-conversion-failed"]]
    assert "temperature" in reasons[0] and "'hot'" in reasons[0]
    assert "grade" in reasons[1]
    assert "NaN is not valid JSON" in by_type["partitioning-failed"][-1]["errorMessage"]
    assert all(r["sequenceNumber"] and r["arrivalTimestamp"] for rs in by_type.values() for r in rs)
    assert firehose.stats.records_failed == len(NOT_PARTITIONABLE + NOT_CONVERTIBLE)
    assert firehose.stats.records_delivered == 0


def test_nothing_is_written_before_the_buffer_interval_and_everything_after(aws, tmp_path):
    kinesis, s3 = aws
    put_all(kinesis, [json.dumps(GOOD[0]).encode()])
    firehose = deliverer(aws, tmp_path, buffer_seconds=0.3)
    firehose.poll()
    assert keys(s3, "") == []
    import time

    time.sleep(0.35)
    firehose.poll()
    assert len(keys(s3, lake.table_prefix("sensor"))) == 1


def test_the_size_condition_flushes_early(aws, tmp_path):
    kinesis, s3 = aws
    put_all(kinesis, [json.dumps(GOOD[0]).encode()] * 20)
    firehose = deliverer(aws, tmp_path, buffer_seconds=3600, buffer_bytes=1000)
    firehose.poll()
    assert len(keys(s3, lake.table_prefix("sensor"))) == 1


def test_a_deliverer_killed_before_writing_rereads_its_buffer_on_restart(aws, tmp_path):
    kinesis, s3 = aws
    store = tmp_path / "firehose-checkpoints.json"
    put_all(kinesis, [json.dumps({**GOOD[0], "sensor_id": f"s-{i}"}).encode() for i in range(5)])
    first = deliverer(aws, tmp_path, checkpoints=CheckpointStore(store))
    first.poll()  # buffered, then "killed": never flushed
    put_all(kinesis, [json.dumps({**GOOD[0], "sensor_id": "s-5"}).encode()])
    second = deliverer(aws, tmp_path, checkpoints=CheckpointStore(store))
    second.poll()
    second.flush()
    third = deliverer(aws, tmp_path, checkpoints=CheckpointStore(store))
    third.poll()
    assert third.flush() == [], "everything written was checkpointed"
    rows = duckdb.sql(
        f"SELECT sensor_id FROM read_parquet('{tmp_path}/lake/processed/**/*.parquet') ORDER BY sensor_id"
    ).fetchall()
    assert [r[0] for r in rows] == [f"s-{i}" for i in range(6)]


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"temperature": True}, "bool"),
        ({"temperature": {"c": 1}}, "dict"),
        ({"temperature": "1e400"}, "not finite"),
    ],
)
def test_conversion_rejects_values_a_double_column_cannot_hold(record, message):
    with pytest.raises(ConversionError, match=message):
        to_row(record, [("temperature", "double")])


def test_conversion_turns_scalars_into_strings_like_the_openx_serde():
    row = to_row(
        {"location": 12, "host": False, "message": {"a": 1}},
        [("location", "string"), ("host", "string"), ("message", "string"), ("missing", "string")],
    )
    assert row == {"location": "12", "host": "false", "message": '{"a": 1}', "missing": None}
