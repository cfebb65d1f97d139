"""The generators: realistic valid events, recognisable malformed ones, reproducible with a seed."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lambdas.schemas import InvalidEventError, parse
from producers.generators import MALFORMED_KINDS, MALFORMED_MARKER, EventGenerator, malform


@settings(max_examples=25, deadline=None)
@given(
    family=st.sampled_from(["sensor", "student", "log", "mixed", "notification"]),
    seed=st.integers(0, 2**32),
    bad_ratio=st.floats(0, 1),
)
def test_every_valid_record_parses_and_every_malformed_one_is_rejected(family: str, seed: int, bad_ratio: float):
    generator = EventGenerator(family, seed=seed, bad_ratio=bad_ratio)
    for record in (generator.next() for _ in range(60)):
        if record.valid:
            event = parse(record.data)
            assert event.event_id == record.event_id
            assert event.family == record.family
        else:
            with pytest.raises(InvalidEventError):
                parse(record.data)
            assert MALFORMED_MARKER.encode() in record.data and record.malformed.encode() in record.data


def test_every_malformation_kind_appears_and_names_itself():
    generator = EventGenerator("mixed", seed=3, bad_ratio=1.0)
    seen = Counter(generator.next().malformed for _ in range(800))
    assert set(seen) == set(MALFORMED_KINDS)


@pytest.mark.parametrize("kind", MALFORMED_KINDS)
@pytest.mark.parametrize("family", ["sensor", "student", "log"])
def test_each_malformation_of_each_family_fails_the_contract(kind: str, family: str):
    valid = EventGenerator(family, seed=1).next_valid()[1]
    with pytest.raises(InvalidEventError):
        parse(malform(valid, kind))


def test_same_seed_gives_the_same_records_including_event_ids():
    first = [r.event_id for r in (EventGenerator("mixed", seed=42, bad_ratio=0.1).next() for _ in range(200))]
    again = [r.event_id for r in (EventGenerator("mixed", seed=42, bad_ratio=0.1).next() for _ in range(200))]
    other = [r.event_id for r in (EventGenerator("mixed", seed=43, bad_ratio=0.1).next() for _ in range(200))]
    assert first == again
    assert first != other


def test_sensors_drift_near_their_baseline_with_rare_spikes_over_30_degrees():
    generator = EventGenerator("sensor", seed=5)
    readings = [json.loads(generator.next().data) for _ in range(4000)]
    temperatures = [r["temperature"] for r in readings]
    spikes = sum(t > 30 for t in temperatures)
    assert 0 < spikes < len(readings) * 0.03
    normal = [t for t in temperatures if t <= 30]
    assert min(normal) > 10 and max(normal) < 30
    assert len({r["sensor_id"] for r in readings}) == 8


def test_force_spike_makes_the_next_readings_hot():
    generator = EventGenerator("sensor", seed=5)
    generator.force_spike(3)
    assert all(json.loads(generator.next().data)["temperature"] > 30 for _ in range(3))


def test_students_log_in_before_doing_anything_and_grades_follow_submissions():
    generator = EventGenerator("student", seed=9)
    events = [json.loads(generator.next().data) for _ in range(3000)]
    logged_in: set[str] = set()
    submitted: Counter[tuple[str, str]] = Counter()
    for event in events:
        student, kind = event["student_id"], event["event_type"]
        if kind == "login":
            logged_in.add(student)
            continue
        assert student in logged_in, f"{kind} before login"
        if kind == "logout":
            logged_in.discard(student)
        elif kind == "assignment_submitted":
            submitted[(student, event["course_id"])] += 1
        elif kind == "grade_posted":
            assert submitted[(student, event["course_id"])] > 0
            submitted[(student, event["course_id"])] -= 1
    kinds = Counter(e["event_type"] for e in events)
    assert set(kinds) == {"login", "logout", "assignment_submitted", "grade_posted", "course_enrolled"}
    assert any("channel" in e for e in events)


def test_notification_family_is_grades_with_a_channel():
    generator = EventGenerator("notification", seed=2)
    records = [generator.next() for _ in range(50)]
    assert {r.kind for r in records} == {"notification"}
    assert all(json.loads(r.data)["channel"] in {"email", "sms"} for r in records)


def test_logs_have_error_bursts_from_one_service():
    generator = EventGenerator("log", seed=11)
    generator.force_error_burst(10)
    burst = [json.loads(generator.next().data) for _ in range(10)]
    assert len({e["service"] for e in burst}) == 1
    assert all(e["level"] in {"ERROR", "CRITICAL"} for e in burst)
    rest = [json.loads(generator.next().data)["level"] for _ in range(3000)]
    assert Counter(rest).most_common(1)[0][0] == "INFO"


def test_partition_keys_are_the_entity_ids():
    generator = EventGenerator("mixed", seed=1)
    for record in (generator.next() for _ in range(300)):
        event = json.loads(record.data)
        expected = {"sensor": "sensor_id", "student": "student_id", "log": "service"}[event["family"]]
        assert record.key == event[expected]
