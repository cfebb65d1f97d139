"""The stream processor handler, invoked with Kinesis events as Lambda sends them, AWS in moto."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from lambdas import quarantine
from lambdas.processor.handler import handler
from lambdas.schemas import format_timestamp, new_event
from tests.lambdas.kinesis_events import kinesis_event, sequence_numbers

NOW = datetime.now(UTC)


def sensor(temperature: float, sensor_id: str = "sensor-1", location: str = "Lab A", **extra: Any) -> dict[str, Any]:
    return new_event(
        "sensor", source="test", sensor_id=sensor_id, temperature=temperature, humidity=55, location=location, **extra
    )


def test_valid_batch_succeeds_with_no_item_failures(aws, context):
    # GIVEN three normal readings
    event = kinesis_event([sensor(21.5), sensor(22.0), sensor(19.0)])
    # WHEN the handler runs
    response = handler(event, context)
    # THEN nothing is retried, nothing quarantined, nobody e-mailed
    assert response == {"batchItemFailures": []}
    assert aws.quarantine_bodies() == []
    assert aws.received_alerts() == []


def test_poison_record_goes_to_quarantine_and_batch_succeeds(aws, context):
    # GIVEN a batch with one non-JSON record between two valid ones
    event = kinesis_event([sensor(20.0), b"\x00not json", sensor(21.0)])
    # WHEN
    response = handler(event, context)
    # THEN the batch succeeds and the poison record is in quarantine with its bytes, reason and position
    assert response == {"batchItemFailures": []}
    [record] = quarantine.read_objects(aws.quarantine_bodies())
    assert record["data"] == b"\x00not json"
    assert record["reason"].startswith("not JSON")
    assert record["position"]["sequence_number"] == sequence_numbers(event)[1]
    assert record["position"]["shard_id"] == "shardId-000000000000"


def test_high_temperature_email_names_sensor_value_threshold_location_and_time(aws, context):
    # GIVEN a reading above the 30 °C threshold
    reading = sensor(34.25, sensor_id="sensor-kitchen", location="Cocina, planta 2")
    # WHEN
    handler(kinesis_event([reading]), context)
    # THEN one alert arrives and a person can act on it
    [alert] = aws.received_alerts()
    assert "sensor-kitchen" in alert["Subject"] and "34.2" in alert["Subject"]
    body = alert["Message"]
    for expected in ("sensor-kitchen", "Cocina, planta 2", "34.2 °C", "30 °C", reading["timestamp"]):
        assert expected in body
    assert alert["MessageAttributes"]["kind"]["Value"] == "high_temperature"


def test_reading_at_exactly_the_threshold_raises_no_alert(aws, context):
    handler(kinesis_event([sensor(30.0)]), context)
    assert aws.received_alerts() == []


def test_retried_batch_sends_no_duplicate_alert(aws, context):
    # GIVEN a batch with a spike and a recovery that was processed once
    event = kinesis_event([sensor(40.0), sensor(20.0)])
    handler(event, context)
    assert sorted(a["MessageAttributes"]["lifecycle"]["Value"] for a in aws.received_alerts()) == [
        "enter",
        "recovered",
    ]
    # WHEN Lambda delivers the same batch again (e.g. after a timeout)
    response = handler(event, context)
    # THEN no second e-mail
    assert response == {"batchItemFailures": []}
    assert aws.received_alerts() == []


def test_every_grade_posted_becomes_one_student_notification(aws, context):
    grades = [
        new_event("student", source="t", student_id="ana", event_type="grade_posted", course_id="MAT101", grade=85),
        new_event(
            "student",
            source="t",
            student_id="luis",
            event_type="grade_posted",
            course_id="MAT101",
            grade=40,
            channel="sms",
        ),
        new_event("student", source="t", student_id="ana", event_type="login"),
    ]
    handler(kinesis_event(grades), context)
    alerts = {a["MessageAttributes"]["student_id"]["Value"]: a for a in aws.received_alerts()}
    assert set(alerts) == {"ana", "luis"}
    assert "85/100" in alerts["ana"]["Message"] and "MAT101" in alerts["ana"]["Message"]
    assert "passed" in alerts["ana"]["Message"]
    assert alerts["luis"]["MessageAttributes"]["channel"]["Value"] == "sms"
    assert "below the pass mark" in alerts["luis"]["Message"] and "\n" not in alerts["luis"]["Message"]


def test_error_burst_alerts_once_while_it_lasts(aws, context):
    # GIVEN the threshold is 3 errors per 60 s window (conftest) and errors arrive over two invocations
    start = NOW.replace(second=5, microsecond=0) - timedelta(minutes=5)

    def error(i: int, service: str = "payments") -> dict[str, Any]:
        return new_event(
            "log",
            source="t",
            level="ERROR",
            service=service,
            message=f"timeout #{i}",
            timestamp=start + timedelta(seconds=i),
        )

    handler(kinesis_event([error(0), error(1)]), context)
    assert aws.received_alerts() == []
    # WHEN the third and fourth errors of the same window arrive, plus one from another service
    handler(kinesis_event([error(2), error(3), error(4, "search")], first_index=2), context)
    # THEN exactly one burst alert, for payments, naming the line that reached the threshold
    [alert] = aws.received_alerts()
    assert alert["MessageAttributes"]["service"]["Value"] == "payments"
    assert alert["MessageAttributes"]["lifecycle"]["Value"] == "enter"
    assert "timeout #2" in alert["Message"]
    # AND later errors in the same window, and a burst in the next window, do not alert again
    handler(kinesis_event([error(5), error(6), error(60), error(61), error(62)], first_index=5), context)
    assert aws.received_alerts() == []


def test_metrics_are_flushed_once_per_invocation(aws, context, capsys):
    payloads = [sensor(21.0), sensor(35.0), b"{}", new_event("log", source="t", level="INFO", service="a", message="m")]
    handler(kinesis_event(payloads), context)
    documents = [json.loads(line) for line in capsys.readouterr().out.split("\n") if '"_aws"' in line]
    metric_docs = [d for d in documents if "SensorRecords" in d or "InvalidRecords" in d]
    assert len(metric_docs) == 1
    [doc] = metric_docs
    assert doc["SensorRecords"] == [2.0] and doc["LogRecords"] == [1.0] and doc["InvalidRecords"] == [1.0]
    assert doc["AlertsPublished"] == [1.0]
    assert doc["service"] == "processor"
    assert "EndToEndLag" in doc  # its value: tests/lambdas/test_processor_edges.py


def test_lab_shape_record_is_processed_as_a_sensor_reading(aws, context):
    lab = {
        "sensor_id": "s-01",
        "temperature": 31.5,
        "humidity": 60,
        "timestamp": datetime.now().isoformat(),
        "location": "Edificio B",
    }
    response = handler(kinesis_event([lab]), context)
    assert response == {"batchItemFailures": []}
    [alert] = aws.received_alerts()
    assert "s-01" in alert["Message"]


def test_offset_timestamp_is_reported_in_utc(aws, context):
    reading = sensor(33.0)
    reading["timestamp"] = (NOW - timedelta(minutes=1)).astimezone(timezone(timedelta(hours=-5))).isoformat()
    handler(kinesis_event([reading]), context)
    [alert] = aws.received_alerts()
    assert format_timestamp(NOW - timedelta(minutes=1)) in alert["Message"]


def test_enrichment_adds_position_lag_and_derived_values():
    from lambdas.processor.batch import process_record
    from lambdas.processor.rules import Position, Thresholds

    now = datetime(2026, 1, 1, 12, 0, 5, tzinfo=UTC)
    position = Position("shardId-000000000000", "4959", datetime(2026, 1, 1, 12, 0, 1, tzinfo=UTC))
    thresholds = Thresholds(30, 5, 60)
    reading = (
        b'{"sensor_id": "s", "temperature": 32, "humidity": 70, "timestamp": "2026-01-01T12:00:00Z", "location": "x"}'
    )
    grade = json.dumps(
        {
            "family": "student",
            "timestamp": "2026-01-01T12:00:00Z",
            "student_id": "a",
            "event_type": "grade_posted",
            "course_id": "c",
            "grade": 59.5,
        }
    ).encode()

    sensor = process_record(reading, position, None, thresholds, now).enriched
    student = process_record(grade, position, None, thresholds, now).enriched

    assert sensor["shard_id"] == "shardId-000000000000" and sensor["sequence_number"] == "4959"
    assert sensor["ingested_at"] == "2026-01-01T12:00:01.000Z" and sensor["lag_ms"] == 5000
    assert sensor["heat_index_c"] == pytest.approx(40.5, abs=0.5)  # NWS table: 90 °F at 70 % feels like 106 °F
    assert student["passed"] is False
