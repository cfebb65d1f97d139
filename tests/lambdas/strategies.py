"""hypothesis strategies for records: valid events of every family, broken ones, and arbitrary bytes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from lambdas.schemas import CHANNELS, LOG_LEVELS, STUDENT_EVENT_TYPES, format_timestamp

text = st.text(min_size=1, max_size=30).filter(lambda s: s.strip())
moments = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2026, 1, 1), timezones=st.just(UTC)).map(
    lambda d: d.replace(tzinfo=UTC)
)


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    moment = draw(moments)
    offset = timedelta(minutes=draw(st.integers(-12 * 60, 14 * 60)))
    return draw(
        st.sampled_from(
            [
                format_timestamp(moment),
                moment.astimezone(UTC).astimezone(timezone(offset)).isoformat(),
            ]
        )
    )


@st.composite
def sensor_records(draw: st.DrawFn) -> dict[str, Any]:
    record = {
        "sensor_id": draw(text),
        "temperature": draw(st.floats(-55, 125) | st.integers(-55, 125)),
        "humidity": draw(st.floats(0, 100)),
        "timestamp": draw(timestamps()),
        "location": draw(text),
    }
    if draw(st.booleans()):
        record["family"] = "sensor"
        record["event_id"] = str(draw(st.uuids()))
    return record


@st.composite
def student_records(draw: st.DrawFn) -> dict[str, Any]:
    event_type = draw(st.sampled_from(STUDENT_EVENT_TYPES))
    record = {
        "family": "student",
        "event_id": str(draw(st.uuids())),
        "timestamp": draw(timestamps()),
        "student_id": draw(text),
        "event_type": event_type,
        "course_id": draw(text),
    }
    if event_type == "grade_posted":
        record["grade"] = draw(st.floats(0, 100))
    if draw(st.booleans()):
        record["channel"] = draw(st.sampled_from(CHANNELS))
    return record


@st.composite
def log_records(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "family": "log",
        "event_id": str(draw(st.uuids())),
        "timestamp": draw(timestamps()),
        "level": draw(st.sampled_from(LOG_LEVELS)),
        "service": draw(st.sampled_from(["api", "db", "auth"])),
        "message": draw(text),
    }


valid_records = st.one_of(sensor_records(), student_records(), log_records())

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=10,
)


@st.composite
def broken_records(draw: st.DrawFn) -> dict[str, Any]:
    """A valid record with one field removed or replaced by an arbitrary JSON value."""
    record = draw(valid_records)
    name = draw(st.sampled_from(sorted(record)))
    if draw(st.booleans()):
        del record[name]
    else:
        record[name] = draw(json_values)
    return record


def encode(record: dict[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False).encode("utf-8")


payloads = st.one_of(
    valid_records.map(encode),
    broken_records().map(encode),
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode("utf-8")),
    st.just(b'{"temperature": NaN}'),
    st.integers(100_000, 300_000).map(lambda n: b'{"message": "' + b"x" * n + b'"}'),
)
