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
        "event_id": "6f1d1c1e-2b7a-4f43-9a55-0d5b1e6c0a01",
        "family": "sensor",
        "timestamp": "2026-11-24T10:00:00Z",
        "sensor_id": "s-1",
        "temperature": 21.5,
        "humidity": 40,
        "location": "Aula 1",
    },
    # The bare lab shape, with a local-time offset: normalised to UTC, family and event_id filled in.
    {
        "sensor_id": "lab-7",
        "temperature": 31,
        "humidity": 55.5,
        "timestamp": "2026-11-24T05:00:01-05:00",
        "location": "Laboratório",
    },
    {
        "event_id": "6f1d1c1e-2b7a-4f43-9a55-0d5b1e6c0a03",
        "family": "student",
        "timestamp": "2026-11-24T10:00:02Z",
        "student_id": "st-9",
        "event_type": "grade_posted",
        "course_id": "MAT101",
        "grade": 85,
    },
    {
        "event_id": "6f1d1c1e-2b7a-4f43-9a55-0d5b1e6c0a04",
        "family": "log",
        "timestamp": "2026-11-24T10:00:03Z",
        "level": "error",
        "service": "api",
        "message": "boom",
        "host": "h1",
        "extra": {"ignored": True},
    },
]
# The transformation rejects these (the processor quarantines them with the reason).
INVALID = [
    b"not json at all",
    b"[1, 2, 3]",
    b"\xff\xfe",
    b'{"family": "sensor", "sensor_id": "s-3", "temperature": NaN}',
    json.dumps({"family": "sensor", "sensor_id": "s-2", "temperature": "hot", "humidity": 1}).encode(),
    json.dumps({"event_id": "e5", "family": "telemetry", "timestamp": "2026-11-24T10:00:04Z"}).encode(),
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
    payloads = [json.dumps(r, ensure_ascii=False).encode() for r in GOOD] + INVALID
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
    assert sensors[0][4] == "2026-11-24T10:00:01.000Z"
    student = con.execute(
        f"SELECT student_id, grade FROM read_parquet('{lake_dir}/processed/family=student/**/*.parquet')"
    ).fetchall()
    assert student == [("st-9", 85.0)]
    [(level,)] = con.execute(
        f"SELECT level FROM read_parquet('{lake_dir}/processed/family=log/**/*.parquet')"
    ).fetchall()
    assert level == "ERROR"
    log_columns = [
        c[0]
        for c in con.execute(
            f"DESCRIBE SELECT * FROM read_parquet('{lake_dir}/processed/family=log/**/*.parquet', "
            "hive_partitioning=false)"
        ).fetchall()
    ]
    assert log_columns == [name for name, _ in lake.table_columns(None)]
    families = {key.split("/")[1] for key in keys(s3, lake.PROCESSED_PREFIX)}
    assert families == {"family=sensor", "family=student", "family=log"}, "invalid records never reach the tables"


def test_records_the_transformation_rejects_go_to_errors_unchanged(aws, tmp_path):
    kinesis, s3 = aws
    put_all(kinesis, INVALID)
    firehose = deliverer(aws, tmp_path)
    firehose.poll()
    firehose.flush()
    by_type = {}
    for key in keys(s3, lake.ERRORS_PREFIX):
        error_type = key.split("/")[1]
        lines = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode().splitlines()
        by_type[error_type] = [json.loads(line) for line in lines]
    assert set(by_type) == {"processing-failed"}
    assert [base64.b64decode(r["rawData"]) for r in by_type["processing-failed"]] == INVALID
    assert {r["errorCode"] for r in by_type["processing-failed"]} == {"Lambda.ProcessingFailed"}
    assert all(r["sequenceNumber"] and r["arrivalTimestamp"] for rs in by_type.values() for r in rs)
    assert firehose.stats.records_failed == len(INVALID)
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
