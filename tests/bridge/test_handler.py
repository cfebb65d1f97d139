"""The bridge Lambda with real MSK and self-managed Kafka (Confluent Cloud) events, against moto's Kinesis and S3."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from lambdas.bridge import handler as bridge
from lambdas.bridge.adapters import KinesisWriteError
from lambdas.bridge.mapping import KafkaMessage, kafka_event_id
from tests.bridge.conftest import KinesisThrottle, load_event


def kafka_event(values: list[bytes], topic: str = "estudiante-eventos", source: str = "SelfManagedKafka") -> dict:
    """A Kafka event of `values` on partition 0 of `topic`, offsets from 0."""
    return {
        "eventSource": source,
        "bootstrapServers": "localhost:9092",
        "records": {
            f"{topic}-0": [
                {
                    "topic": topic,
                    "partition": 0,
                    "offset": offset,
                    "timestamp": 1795161600000 + offset,
                    "timestampType": "CREATE_TIME",
                    "key": None,
                    "value": base64.b64encode(value).decode(),
                    "headers": [],
                }
                for offset, value in enumerate(values)
            ]
        },
    }


def login(student: str) -> bytes:
    return json.dumps({"timestamp": "2026-11-20T10:00:00Z", "student_id": student, "event_type": "login"}).encode()


def by_source(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["source"]: r for r in records}


def test_msk_event_lands_on_the_stream_with_family_source_and_defaults(aws, lambda_context):
    # GIVEN an MSK batch over the three topics, plain JSON
    event = load_event("kafka_msk_event.json")

    # WHEN the bridge handles it
    result = bridge.handler(event, lambda_context)

    # THEN every message is on the stream, stamped with its topic/partition/offset
    assert result == {"messages": 4, "written": 4, "quarantined": 0}
    records = by_source(aws.stream_records())
    assert sorted(records) == [
        "kafka:estudiante-eventos/0/41",
        "kafka:estudiante-eventos/0/42",
        "kafka:notificaciones/0/3",
        "kafka:sistema-logs/1/7",
    ]
    login_event = records["kafka:estudiante-eventos/0/41"]
    assert login_event["event_id"] == "3f1c2b9e-8a47-4d2e-9b61-0c5d7e8f9a10"  # the producer's id is kept
    assert login_event["family"] == "student"
    assert login_event["_partition_key"] == "s-1001"  # the Kafka key: one student's events stay in order
    grade = records["kafka:estudiante-eventos/0/42"]
    assert grade["timestamp"] == "2026-11-20T07:16:30.000Z"  # normalised to UTC
    assert "channel" not in grade
    log = records["kafka:sistema-logs/1/7"]
    assert (log["family"], log["level"], log["host"]) == ("log", "ERROR", "app-3")
    assert log["_partition_key"] == log["event_id"]  # no Kafka key
    # notificaciones: a student event with the default e-mail channel and the Kafka timestamp
    notification = records["kafka:notificaciones/0/3"]
    assert (notification["family"], notification["channel"]) == ("student", "email")
    assert notification["timestamp"] == "2026-11-20T08:06:40.000Z"
    assert aws.quarantined() == []


def test_confluent_event_decodes_avro_and_json_schema_and_quarantines_the_poison_message(aws, lambda_context):
    # GIVEN a Confluent Cloud batch: Avro and JSON Schema wire format, plain JSON, and one message that is not JSON
    event = load_event("kafka_self_managed_event.json")

    # WHEN the bridge handles it
    result = bridge.handler(event, lambda_context)

    # THEN the five good messages are on the stream, decoded
    assert result == {"messages": 6, "written": 5, "quarantined": 1}
    records = by_source(aws.stream_records())
    avro_student = records["kafka:estudiante-eventos/2/1200"]
    assert avro_student["event_id"] == "7b0e4c52-1d3f-4a8e-b2c9-5e6f7a8b9c0d"
    assert (avro_student["event_type"], avro_student["course_id"]) == ("assignment_submitted", "FIS201")
    avro_log = records["kafka:sistema-logs/0/88"]  # timestamp-millis logical type
    assert (avro_log["timestamp"], avro_log["level"], avro_log["trace_id"]) == (
        "2026-11-20T09:01:02.345Z",
        "WARNING",
        "abc-123",
    )
    assert "attributes" not in avro_log  # not part of the contract
    assert records["kafka:sistema-logs/0/89"]["message"] == "recovered"  # JSON Schema wire format
    assert records["kafka:notificaciones/1/15"]["channel"] == "sms"
    assert records["kafka:notificaciones/1/16"]["channel"] == "sms"

    # AND the poison message is in quarantine with its original bytes, position and reason
    (poison,) = aws.quarantined()
    assert poison["position"] == {"topic": "estudiante-eventos", "partition": 2, "offset": 1201}
    assert poison["data"] == b"{not json at all"
    assert poison["reason"].startswith("not JSON:")


def test_redelivered_batch_gives_the_same_event_ids_so_downstream_dedupe_removes_the_copies(aws, lambda_context):
    # GIVEN a batch whose messages mostly carry no event_id
    event = load_event("kafka_msk_event.json")

    # WHEN the event source delivers it twice (an invocation retried after a timeout)
    bridge.handler(event, lambda_context)
    bridge.handler(event, lambda_context)

    # THEN the stream holds each message twice, but under one event_id per message
    records = aws.stream_records()
    assert len(records) == 8
    ids = {r["source"]: set() for r in records}
    for r in records:
        ids[r["source"]].add(r["event_id"])
    assert all(len(v) == 1 for v in ids.values())
    assert len({r["event_id"] for r in records}) == 4
    message = KafkaMessage("notificaciones", 0, 3, None, None, b"{}")
    assert ids["kafka:notificaciones/0/3"] == {kafka_event_id(message)}


def test_redelivered_poison_message_is_quarantined_once(aws, lambda_context):
    event = kafka_event([b"\x00\x00\x00\x00\x63garbage"])
    bridge.handler(event, lambda_context)
    bridge.handler(event, lambda_context)
    (record,) = aws.quarantined()
    assert record["reason"].startswith("schema id 99 is not in lambdas/bridge/schemas")
    assert aws.s3.list_objects_v2(Bucket="streamlake-lake")["KeyCount"] == 1


def test_throttled_entries_are_the_only_ones_retried(aws, lambda_context):
    # GIVEN Kinesis throttles entries 1 and 3 of the first PutRecords call
    writer, _ = bridge.get_adapters()
    throttle = KinesisThrottle(writer.client, lambda call, index, entry: call == 1 and index in (1, 3))
    event = load_event("kafka_msk_event.json")

    # WHEN the bridge handles the batch
    result = bridge.handler(event, lambda_context)

    # THEN the second call carried exactly the two throttled entries, and each message is on the stream once
    assert throttle.calls == [4, 2]
    assert result["written"] == 4
    records = aws.stream_records()
    assert len(records) == 4 and len({r["source"] for r in records}) == 4
    retried = {json.loads(data)["source"] for data in throttle.refused[0]}
    assert retried == {"kafka:estudiante-eventos/0/42", "kafka:notificaciones/0/3"}


def test_persistent_throttling_fails_the_invocation_so_no_offset_is_committed(aws, lambda_context, monkeypatch):
    # GIVEN Kinesis refuses every entry, every time
    monkeypatch.setenv("KINESIS_MAX_ATTEMPTS", "3")
    writer, _ = bridge.get_adapters()
    throttle = KinesisThrottle(writer.client, lambda call, index, entry: True)

    # WHEN the bridge handles a batch THEN the invocation fails after three attempts
    with pytest.raises(KinesisWriteError, match="4 of 4 records not written .* after 3 attempts"):
        bridge.handler(load_event("kafka_msk_event.json"), lambda_context)
    assert throttle.calls == [4, 4, 4]
    assert aws.stream_records() == []


def test_missing_stream_fails_at_once_naming_the_stream(aws, lambda_context, monkeypatch):
    monkeypatch.setenv("STREAM_NAME", "no-such-stream")
    with pytest.raises(KinesisWriteError, match="no-such-stream failed: ResourceNotFoundException"):
        bridge.handler(load_event("kafka_msk_event.json"), lambda_context)


def test_a_batch_larger_than_one_call_is_split_at_500_entries(aws, lambda_context):
    writer, _ = bridge.get_adapters()
    throttle = KinesisThrottle(writer.client, lambda call, index, entry: False)
    result = bridge.handler(kafka_event([login(f"s-{i}") for i in range(1200)]), lambda_context)
    assert result["written"] == 1200
    assert throttle.calls == [500, 500, 200]
    assert len({r["event_id"] for r in aws.stream_records()}) == 1200


def test_topic_map_comes_from_the_environment(aws, lambda_context, monkeypatch):
    # GIVEN a deployment that routes its own topic and not estudiante-eventos
    monkeypatch.setenv("KAFKA_TOPIC_FAMILIES", json.dumps({"campus-logs": "log"}))
    log_line = json.dumps({"timestamp": "2026-11-20T10:00:00Z", "level": "INFO", "service": "s", "message": "m"})

    # WHEN messages arrive on both topics
    bridge.handler(kafka_event([log_line.encode()], topic="campus-logs"), lambda_context)
    bridge.handler(kafka_event([login("s-1")]), lambda_context)

    # THEN the routed topic's message is a log event and the unrouted one (no family of its own) is quarantined
    (record,) = aws.stream_records()
    assert (record["family"], record["source"]) == ("log", "kafka:campus-logs/0/0")
    (rejected,) = aws.quarantined()
    assert "estudiante-eventos has no family in KAFKA_TOPIC_FAMILIES" in rejected["reason"]


def test_message_contradicting_its_topic_family_is_quarantined(aws, lambda_context):
    value = json.dumps({"family": "sensor", "timestamp": "2026-11-20T10:00:00Z", "sensor_id": "x"}).encode()
    result = bridge.handler(kafka_event([value], topic="sistema-logs"), lambda_context)
    assert result["quarantined"] == 1
    (rejected,) = aws.quarantined()
    assert (rejected["field"], rejected["reason"]) == (
        "family",
        "family 'sensor' does not match topic sistema-logs (log)",
    )


def test_invalid_event_is_quarantined_with_the_contract_reason(aws, lambda_context):
    value = json.dumps({"timestamp": "2026-11-20T10:00:00Z", "student_id": "s", "event_type": "grade_posted"})
    bridge.handler(kafka_event([value.encode()]), lambda_context)
    (rejected,) = aws.quarantined()
    assert (rejected["field"], rejected["reason"]) == ("course_id", "missing field course_id")


@pytest.mark.filterwarnings("ignore:No application metrics")  # the invocation fails before any
def test_an_event_that_is_not_from_kafka_is_refused(aws, lambda_context):
    with pytest.raises(ValueError, match="not a Kafka event: eventSource is 'aws:kinesis'"):
        bridge.handler({"eventSource": "aws:kinesis", "Records": []}, lambda_context)


@pytest.mark.filterwarnings("ignore:No application metrics")  # the invocation fails before any
def test_missing_configuration_names_the_variable(aws, lambda_context, monkeypatch):
    monkeypatch.delenv("LAKE_BUCKET")
    with pytest.raises(bridge.SettingsError, match="LAKE_BUCKET is not set"):
        bridge.handler(load_event("kafka_msk_event.json"), lambda_context)


def test_metrics_report_written_and_quarantined_records(aws, lambda_context, capsys):
    bridge.handler(load_event("kafka_self_managed_event.json"), lambda_context)
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    (document,) = emf
    assert document["BridgeRecordsWritten"] == [5.0] or document["BridgeRecordsWritten"] == 5.0
    assert document["BridgeRecordsQuarantined"] in ([1.0], 1.0)
    assert document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Streamlake"
