"""Issue 15: records an outside check used to crash a stage or to get a different verdict from different stages.

Each case here failed before the fix (an exception other than InvalidEventError, or nonsense accepted, or one rule
applied to some fields and not others). Expected reasons are written by hand from the contract in README.md
("Strict formats").
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from lambdas.schemas import InvalidEventError, judge, parse

NOW = datetime(2026, 1, 2, tzinfo=UTC)
GOOD_ID = "6f1d1c1e-2b7a-4f43-9a55-0d5b1e6c0a01"

FAMILY_CHOICES = "expected one of sensor, student, log, change"


def lab(**changes) -> dict:
    record = {"sensor_id": "s1", "temperature": 21.5, "humidity": 40, "timestamp": "2025-06-01T10:00:00Z"}
    record["location"] = "Lab"
    record.update(changes)
    return record


def refused(payload: dict | bytes) -> tuple[str | None, str]:
    data = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
    with pytest.raises(InvalidEventError) as caught:
        parse(data, now=NOW)
    return caught.value.field, caught.value.reason


def nested(depth: int) -> bytes:
    """A lab record whose extra field `x` holds arrays nested so that the whole record is `depth` levels deep."""
    inner = "[" * (depth - 1) + "]" * (depth - 1)
    return json.dumps(lab()).encode()[:-1] + b', "x": ' + inner.encode() + b"}"


# -- 1. crashes -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timestamp", "reason"),
    [
        ("0001-01-01T00:00:00+05:00", "timestamp '0001-01-01T00:00:00+05:00' is before 2000-01-01"),
        ("0001-01-01T00:00:00+23:59", "timestamp '0001-01-01T00:00:00+23:59' is before 2000-01-01"),
        ("9999-12-31T23:59:59-05:00", "timestamp '9999-12-31T23:59:59-05:00' is more than a day in the future"),
        ("9999-12-31T23:59:59.999-23:59", "timestamp '9999-12-31T23:59:59.999-23:59' is more than a day in the future"),
    ],
)
def test_timestamp_whose_utc_conversion_leaves_datetime_range_is_refused_not_raised(timestamp, reason):
    assert refused(lab(timestamp=timestamp)) == ("timestamp", reason)


def test_nesting_beyond_the_limit_is_refused_while_decoding():
    assert refused(nested(33)) == (None, "not JSON: nested 33 levels deep; the limit is 32")
    assert refused(nested(5000)) == (None, "not JSON: nested 5000 levels deep; the limit is 32")


def test_nesting_at_the_limit_is_accepted():
    assert parse(nested(32), now=NOW).fields["sensor_id"] == "s1"


def test_brackets_inside_strings_do_not_count_as_nesting():
    record = lab(note="[" * 100 + '\\"{' * 50)
    assert parse(json.dumps(record).encode(), now=NOW).fields["sensor_id"] == "s1"


# -- 4. nonsense accepted ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "timestamp",
    [
        "2024-06-15x12:00:00Z",
        "2024-06-15_12:00:00Z",
        "2024-06-15T12:00:00.Z",
        "2024-06-15T12:00:00Z\x00",
        "2024-06-15T12:00:00\x00",
        "２０２４-06-15T12:00:00Z",
        "2024-06-15T12:00Z",  # RFC 3339 requires seconds
        "2024-06-15T12:00:00+0200",  # and a colon in the offset
        "2024-06-15T12:00:00+02",
        "20240615T120000Z",
        "2024-W24-6",
        "2024-06-15T12:00:00.1234567890Z",  # more than nanoseconds
        "2024-06-15T12:00:00 Z",
        "2024-06-15TT12:00:00Z",
    ],
)
def test_timestamps_outside_the_documented_forms_are_refused(timestamp):
    assert refused(lab(timestamp=timestamp)) == ("timestamp", f"timestamp is not ISO-8601: {timestamp!r}")


@pytest.mark.parametrize(
    ("timestamp", "reason"),
    [
        ("2024-02-30T12:00:00Z", "timestamp '2024-02-30T12:00:00Z' is not a valid date and time"),
        ("2024-06-15T24:00:00Z", "timestamp '2024-06-15T24:00:00Z' is not a valid date and time"),
        ("2024-06-15T12:00:60Z", "timestamp '2024-06-15T12:00:60Z' is a leap second, which cannot be stored"),
        ("2024-06-15T12:00:00+24:00", "timestamp '2024-06-15T12:00:00+24:00' has an invalid UTC offset"),
        ("2024-06-15T12:00:00+02:60", "timestamp '2024-06-15T12:00:00+02:60' has an invalid UTC offset"),
        ("1999-12-31T23:59:59Z", "timestamp '1999-12-31T23:59:59Z' is before 2000-01-01"),
    ],
)
def test_timestamps_in_the_right_form_but_out_of_range_say_why(timestamp, reason):
    assert refused(lab(timestamp=timestamp)) == ("timestamp", reason)


@pytest.mark.parametrize(
    ("timestamp", "utc"),
    [
        ("2025-06-01T10:00:00Z", datetime(2025, 6, 1, 10, tzinfo=UTC)),
        ("2025-06-01t10:00:00z", datetime(2025, 6, 1, 10, tzinfo=UTC)),
        ("2025-06-01 10:00:00+02:00", datetime(2025, 6, 1, 8, tzinfo=UTC)),
        ("2025-06-01T10:00:00.123456789-03:30", datetime(2025, 6, 1, 13, 30, 0, 123000, tzinfo=UTC)),
        ("2025-06-01T10:00:00.5", datetime(2025, 6, 1, 10, 0, 0, 500000, tzinfo=UTC)),
        ("2025-06-01", datetime(2025, 6, 1, tzinfo=UTC)),
        (" 2025-06-01T10:00:00Z\r\n", datetime(2025, 6, 1, 10, tzinfo=UTC)),
        ("2000-01-01T01:00:00+01:00", datetime(2000, 1, 1, tzinfo=UTC)),
        ("1999-12-31T23:00:00-01:00", datetime(2000, 1, 1, tzinfo=UTC)),
        ("2025-06-01T10:00:00-00:00", datetime(2025, 6, 1, 10, tzinfo=UTC)),
    ],
)
def test_documented_timestamp_forms_are_accepted_and_converted_to_utc(timestamp, utc):
    assert parse(lab(timestamp=timestamp), now=NOW).timestamp == utc


@pytest.mark.parametrize(
    "event_id",
    [
        "0x6f1d1c1e-2b7a-4f43-9a55-0d5b1e6c0a01",
        "+6f1d1c1e-2b7a-4f43-9a55-0d5b1e6c0a01",
        "6f1d1c1e_2b7a_4f43_9a55_0d5b1e6c0a01",
        "６f1d1c1e-2b7a-4f43-9a55-0d5b1e6c0a01",
        "6f1d1c1e-urn:uuid:2b7a-4f43-9a55-0d5b1e6c0a01",
        "{6f1d1c1e-2b7a-4f43-9a55-0d5b1e6c0a01}",
        "6f1d1c1e2b7a4f439a550d5b1e6c0a01",
        "urn:6f1d1c1e-2b7a-4f43-9a55-0d5b1e6c0a01",
        "6f1d1c1e-2b7a-4f43-9a55-0d5b1e6c0a01\x00",
        "6f1d1c1e-2b7a-4f43-9a55-0d5b1e6c0a0",
    ],
)
def test_event_ids_outside_the_canonical_form_are_refused(event_id):
    assert refused(lab(event_id=event_id)) == ("event_id", f"event_id is not a UUID: {event_id!r}")


@pytest.mark.parametrize(
    ("event_id", "kind"),
    [
        ("00000000-0000-0000-0000-000000000000", "nil"),
        ("urn:uuid:00000000-0000-0000-0000-000000000000", "nil"),
        ("FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF", "max"),
    ],
)
def test_nil_and_max_uuids_are_refused_because_every_such_event_would_share_one_id(event_id, kind):
    assert refused(lab(event_id=event_id)) == (
        "event_id",
        f"event_id is the {kind} UUID, a placeholder: every event needs its own id",
    )


@pytest.mark.parametrize(
    "event_id",
    [GOOD_ID, GOOD_ID.upper(), f"urn:uuid:{GOOD_ID}", f"URN:UUID:{GOOD_ID}", f"Urn:Uuid:{GOOD_ID.upper()}"],
)
def test_canonical_uuid_in_any_case_with_or_without_urn_prefix_is_accepted(event_id):
    assert parse(lab(event_id=event_id), now=NOW).event_id == GOOD_ID


# -- 5. one rule per kind of field ---------------------------------------------------------------------------------


def student(**changes) -> dict:
    record = {"family": "student", "timestamp": "2025-06-01T10:00:00Z", "student_id": "a", "event_type": "login"}
    record.update(changes)
    return record


def log(**changes) -> dict:
    record = {"family": "log", "timestamp": "2025-06-01T10:00:00Z", "level": "INFO", "service": "a", "message": "m"}
    record.update(changes)
    return record


@pytest.mark.parametrize(
    ("record", "field", "canonical"),
    [
        (lab(family=" sensor"), "family", "sensor"),
        (lab(family="SENSOR\t"), "family", "sensor"),
        (student(family="Student"), "family", "student"),
        (student(event_type=" login "), "event_type", "login"),
        (student(event_type="LOGIN"), "event_type", "login"),
        (student(channel="SMS"), "channel", "sms"),
        (student(channel=" Email\n"), "channel", "email"),
        (log(level="warn"), "level", "WARNING"),
        (log(level=" Fatal "), "level", "CRITICAL"),
        (log(level="error"), "level", "ERROR"),
    ],
)
def test_every_enumerated_field_is_trimmed_and_matched_in_any_case(record, field, canonical):
    event = parse(record, now=NOW)
    assert (event.family if field == "family" else event.fields[field]) == canonical


@pytest.mark.parametrize(
    ("record", "field", "reason"),
    [
        (lab(family="\u00a0sensor"), "family", f"unknown family '\\xa0sensor'; {FAMILY_CHOICES}"),
        (lab(family="sensor\x00"), "family", f"unknown family 'sensor\\x00'; {FAMILY_CHOICES}"),
        (student(channel="ＳＭＳ"), "channel", "unknown channel 'ＳＭＳ'; expected one of email, sms"),
        (
            student(event_type="lo gin"),
            "event_type",
            "unknown event_type 'lo gin'; expected one of login, logout, assignment_submitted, grade_posted, "
            "course_enrolled",
        ),
    ],
)
def test_only_ascii_whitespace_is_trimmed_and_only_ascii_letters_fold(record, field, reason):
    assert refused(record) == (field, reason)


def test_a_utf8_byte_order_mark_before_a_lab_reading_is_ignored():
    event = parse(b"\xef\xbb\xbf" + json.dumps(lab()).encode(), now=NOW)
    assert event.fields["sensor_id"] == "s1"


def test_a_byte_order_mark_anywhere_else_is_not_ignored():
    assert refused(b" \xef\xbb\xbf" + json.dumps(lab()).encode())[0] is None


def test_duplicate_keys_are_refused_naming_the_key():
    payload = b'{"family":"sensor","sensor_id":"s1","temperature":20,"humidity":40,"timestamp":"2025-06-01",'
    payload += b'"location":"Lab","family":"student"}'
    assert refused(payload) == ("family", "duplicate key 'family': a JSON object names each key once")


def test_duplicate_keys_in_nested_objects_are_refused_too():
    payload = json.dumps(lab()).encode()[:-1] + b', "extra": {"a": 1, "a": 2}}'
    assert refused(payload) == (None, "duplicate key 'a': a JSON object names each key once")


# -- the record boundary ---------------------------------------------------------------------------------------------


def test_judge_turns_an_unexpected_exception_into_an_internal_error_verdict(monkeypatch):
    import lambdas.schemas as schemas

    def broken(record):
        raise KeyError("bug")

    monkeypatch.setitem(schemas._FAMILY_VALIDATORS, "sensor", broken)
    verdict = judge(json.dumps(lab()).encode(), now=NOW)
    assert (verdict.event, verdict.reason, verdict.internal) == (None, "internal error: KeyError", True)


def test_judge_gives_the_reason_parse_raises():
    verdict = judge(json.dumps(lab(humidity=101)).encode(), now=NOW)
    assert (verdict.accepted, verdict.field, verdict.reason, verdict.internal) == (
        False,
        "humidity",
        "humidity 101 % is outside 0..100 %",
        False,
    )
