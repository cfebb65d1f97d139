"""The event contract's parser: strict, precise about what is wrong, and accepting of odd but legal input."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lambdas.schemas import InvalidEventError, derive_event_id, format_timestamp, parse
from tests.lambdas.strategies import broken_records, payloads, valid_records

NOW = datetime(2026, 1, 2, tzinfo=UTC)


def lab(**changes):
    record = {
        "sensor_id": "s1",
        "temperature": 21.5,
        "humidity": 40,
        "timestamp": "2025-06-01T10:00:00",
        "location": "Lab",
    }
    record.update(changes)
    return record


@pytest.mark.parametrize(
    ("payload", "field", "reason"),
    [
        (b"\xff\xfe", None, "not UTF-8: invalid byte at position 0"),
        (b"{oops", None, "not JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
        (b'{"temperature": NaN}', None, "not JSON: NaN is not a JSON number"),
        (b"[1, 2]", None, "expected a JSON object, got an array"),
        (b"   ", None, "empty record"),
        (json.dumps(lab(humidity=101)).encode(), "humidity", "humidity 101 % is outside 0..100 %"),
        (json.dumps(lab(humidity=-0.5)).encode(), "humidity", "humidity -0.5 % is outside 0..100 %"),
        (json.dumps(lab(temperature=400)).encode(), "temperature", "temperature 400 °C is outside -55..125 °C"),
        (json.dumps(lab(temperature="21")).encode(), "temperature", "temperature must be a number, got a string"),
        (json.dumps(lab(temperature=True)).encode(), "temperature", "temperature must be a number, got a boolean"),
        (
            b'{"sensor_id":"s","temperature":1e400,"humidity":1,"timestamp":"2025-01-01","location":"x"}',
            "temperature",
            "temperature is not a finite number (too large for a double)",
        ),
        (json.dumps(lab(sensor_id=None)).encode(), "sensor_id", "missing field sensor_id"),
        (json.dumps(lab(location="  ")).encode(), "location", "location is empty"),
        (json.dumps(lab(timestamp="yesterday")).encode(), "timestamp", "timestamp is not ISO-8601: 'yesterday'"),
        (
            json.dumps(lab(timestamp=1700000000)).encode(),
            "timestamp",
            "timestamp must be an ISO-8601 string, got a number",
        ),
        (
            json.dumps(lab(timestamp="2030-01-01T00:00:00Z")).encode(),
            "timestamp",
            "timestamp '2030-01-01T00:00:00Z' is more than a day in the future",
        ),
        (json.dumps(lab(event_id="abc")).encode(), "event_id", "event_id is not a UUID: 'abc'"),
        (
            json.dumps(lab(family="weather")).encode(),
            "family",
            "unknown family 'weather'; expected one of sensor, student, log, change",
        ),
        (
            json.dumps(
                {"family": "student", "timestamp": "2025-01-01", "student_id": "a", "event_type": "party"}
            ).encode(),
            "event_type",
            "unknown event_type 'party'; expected one of login, logout, assignment_submitted, grade_posted, "
            "course_enrolled",
        ),
        (
            json.dumps(
                {
                    "family": "student",
                    "timestamp": "2025-01-01",
                    "student_id": "a",
                    "event_type": "grade_posted",
                    "course_id": "c",
                }
            ).encode(),
            "grade",
            "missing field grade",
        ),
        (
            json.dumps(
                {
                    "family": "student",
                    "timestamp": "2025-01-01",
                    "student_id": "a",
                    "event_type": "grade_posted",
                    "course_id": "c",
                    "grade": 101,
                }
            ).encode(),
            "grade",
            "grade 101 is outside 0..100",
        ),
        (
            json.dumps(
                {"family": "student", "timestamp": "2025-01-01", "student_id": "a", "event_type": "login", "grade": 50}
            ).encode(),
            "grade",
            "grade is only allowed on grade_posted events, not login",
        ),
        (
            json.dumps(
                {
                    "family": "student",
                    "timestamp": "2025-01-01",
                    "student_id": "a",
                    "event_type": "assignment_submitted",
                }
            ).encode(),
            "course_id",
            "missing field course_id",
        ),
        (
            json.dumps(
                {"family": "log", "timestamp": "2025-01-01", "level": "LOUD", "service": "a", "message": "m"}
            ).encode(),
            "level",
            "unknown level 'LOUD'; expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
        ),
    ],
)
def test_each_rejection_names_field_and_reason(payload, field, reason):
    with pytest.raises(InvalidEventError) as caught:
        parse(payload, now=NOW)
    assert (caught.value.field, caught.value.reason) == (field, reason)


def test_odd_but_legal_input_is_accepted_and_normalised():
    event = parse(
        json.dumps(
            lab(sensor_id="sensör-北京", location="São Paulo 🌡", temperature=-40, timestamp="2025-06-01T10:00:00-05:00")
        ).encode(),
        now=NOW,
    )
    assert event.family == "sensor"
    assert event.fields["sensor_id"] == "sensör-北京" and event.fields["location"] == "São Paulo 🌡"
    assert event.fields["temperature"] == -40.0
    assert format_timestamp(event.timestamp) == "2025-06-01T15:00:00.000Z"


def test_log_levels_are_case_insensitive_and_warn_means_warning():
    record = {"family": "log", "timestamp": "2025-01-01T00:00:00Z", "level": "warn", "service": "a", "message": "m"}
    assert parse(record, now=NOW).fields["level"] == "WARNING"


def test_lab_shape_gets_the_same_event_id_every_time():
    assert parse(lab(), now=NOW).event_id == parse(lab(), now=NOW).event_id == derive_event_id(lab())
    assert parse(lab(), now=NOW).event_id != parse(lab(temperature=21.6), now=NOW).event_id


@settings(max_examples=300)
@given(valid_records)
def test_valid_records_parse_and_round_trip(record):
    event = parse(json.dumps(record).encode(), now=NOW)
    assert parse(event.to_json(), now=NOW) == event


@settings(max_examples=300)
@given(payloads)
def test_any_bytes_either_parse_or_raise_invalid_event_with_a_reason(payload):
    try:
        parse(payload, now=NOW)
    except InvalidEventError as error:
        assert error.reason and str(error) == error.reason


@settings(max_examples=200)
@given(broken_records(), st.data())
def test_broken_records_never_raise_anything_but_invalid_event(record, _data):
    with contextlib.suppress(InvalidEventError):
        parse(record, now=NOW)


# Only the canonical 8-4-4-4-12 form (any case, optionally as a URN in any case) is an event id; the braced and
# hyphen-less forms uuid.UUID also takes are refused since issue 15 (tests/lambdas/test_poison.py).
@pytest.mark.parametrize(
    "given",
    [
        "6F1D1C1E-2B7A-4F43-9A55-0D5B1E6C0A01",
        "urn:uuid:6f1d1c1e-2b7a-4f43-9a55-0d5b1e6c0a01",
        "URN:UUID:6F1D1C1E-2b7a-4f43-9a55-0d5b1e6c0a01",
    ],
)
def test_event_ids_are_normalised_to_the_canonical_lowercase_form(given):
    assert parse(lab(event_id=given), now=NOW).event_id == "6f1d1c1e-2b7a-4f43-9a55-0d5b1e6c0a01"
