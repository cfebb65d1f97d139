"""Issue 15, processor: a hostile record is quarantined with a reason and never fails its batch; alerts built from
hostile text are still messages SNS accepts."""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from lambdas import quarantine
from lambdas.processor.handler import handler
from lambdas.processor.rules import sns_attribute, sns_subject
from lambdas.schemas import new_event
from tests.lambdas.kinesis_events import kinesis_event


def sensor(temperature: float = 21.0, **changes: Any) -> dict[str, Any]:
    fields = {"sensor_id": "s-1", "temperature": temperature, "humidity": 40, "location": "Lab"}
    fields.update(changes)
    return new_event("sensor", source="test", **fields)


def emf(output: str, name: str) -> list[float]:
    return [json.loads(line)[name] for line in output.split("\n") if '"_aws"' in line and f'"{name}"' in line]


def test_timestamps_leaving_datetime_range_and_deep_nesting_are_quarantined_and_the_batch_succeeds(aws, context):
    # GIVEN the records that used to raise OverflowError and RecursionError, between good ones
    year_one = {**sensor(), "timestamp": "0001-01-01T00:00:00+05:00"}
    year_max = {**sensor(), "timestamp": "9999-12-31T23:59:59-05:00"}
    deep = json.dumps(sensor())[:-1].encode() + b', "x": ' + b"[" * 990 + b"]" * 990 + b"}"
    event = kinesis_event([sensor(), year_one, year_max, deep, sensor()])
    # WHEN
    response = handler(event, context)
    # THEN nothing is retried and the three are in quarantine with their reasons
    assert response == {"batchItemFailures": []}
    reasons = sorted(r["reason"] for r in quarantine.read_objects(aws.quarantine_bodies()))
    assert reasons == [
        "not JSON: nested 991 levels deep; the limit is 32",
        "timestamp '0001-01-01T00:00:00+05:00' is before 2000-01-01",
        "timestamp '9999-12-31T23:59:59-05:00' is more than a day in the future",
    ]


def test_an_unexpected_exception_on_one_record_quarantines_it_as_internal_error(aws, context, monkeypatch, capsys):
    # GIVEN enrichment code that fails on one record (a bug)
    import lambdas.processor.batch as batch

    real = batch.student_notification

    def buggy(event):
        if event.fields.get("student_id") == "s-bug":
            raise RuntimeError("bug")
        return real(event)

    monkeypatch.setattr(batch, "student_notification", buggy)
    bug = new_event("student", source="t", student_id="s-bug", event_type="login")
    event = kinesis_event([sensor(), bug, sensor()])
    # WHEN
    response = handler(event, context)
    # THEN the batch succeeds, the record is quarantined as an internal error and counted
    assert response == {"batchItemFailures": []}
    [record] = quarantine.read_objects(aws.quarantine_bodies())
    assert record["reason"] == "internal error: RuntimeError"
    assert json.loads(record["data"])["student_id"] == "s-bug"
    assert emf(capsys.readouterr().out, "InternalErrors") == [[1.0]]


def test_control_characters_from_the_payload_never_reach_the_sns_subject_or_attributes(aws, context):
    # GIVEN a hot reading whose location and sensor id carry line breaks, a BEL, a NUL, bidi and separator characters
    hostile = sensor(
        45.0, sensor_id="s\x00-1\u202e\x1b[31m", location="Lab\r\nBcc: x@example.com\x07\u2028" + "é" * 200
    )
    # WHEN
    assert handler(kinesis_event([hostile]), context) == {"batchItemFailures": []}
    # THEN SNS got a subject and attributes without them, the subject shorter than 100 characters
    [alert] = aws.received_alerts()
    subject = alert["Subject"]
    assert len(subject) < 100 and subject.endswith("...")
    assert subject.startswith("High temperature: 45.0 °C at Lab Bcc: x@example.com ")
    for text in [subject, *(a["Value"] for a in alert["MessageAttributes"].values())]:
        assert not [c for c in text if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")], repr(text)
    assert alert["MessageAttributes"]["sensor_id"]["Value"] == "s-1[31m"


def test_subject_limit_counts_utf16_code_units_as_aws_does():
    # 😀 is two UTF-16 code units: 60 of them are 120 units, so the subject is cut to at most 99 units
    subject = sns_subject("😀" * 60)
    assert subject.endswith("...") and len(subject.encode("utf-16-le")) // 2 <= 99
    assert sns_subject("short\ttext\n") == "short text"
    assert sns_subject("\x00\x01") == "(no subject)"


def test_attribute_values_are_never_empty_and_at_most_256_characters():
    assert sns_attribute("\x00\x07") == "(none)"
    assert sns_attribute("x" * 300) == "x" * 256
    assert sns_attribute("st\u200b-1") == "st-1"
