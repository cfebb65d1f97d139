"""LiveModel on its own: counting rules, latest state, lag, and that every buffer stays bounded."""

from __future__ import annotations

import base64
import json

from hypothesis import given
from hypothesis import strategies as st

from lambdas.schemas import new_event
from local.web import model
from local.web.model import LiveModel, StreamRecord, claimed_family


def _record(sequence: int, body: dict | bytes, arrival: float = 1000.0, shard: str = "shard-0") -> StreamRecord:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return StreamRecord(shard, str(sequence), arrival, data)


def _sensor(sensor_id: str, temperature: float, timestamp: str) -> dict:
    event = new_event("sensor", source="test", sensor_id=sensor_id, temperature=temperature, humidity=40, location="x")
    event["timestamp"] = timestamp
    return event


def test_invalid_record_counts_under_the_family_it_claims():
    assert claimed_family(b'{"family": "log", "level": "LOUD"}') == "log"
    assert claimed_family(b'{"sensor_id": "s", "temperature": "hot"}') == "sensor"  # the bare lab shape
    assert claimed_family(b'{"family": "weather"}') == "unknown"
    assert claimed_family(b"[1, 2]") == "unknown"
    assert claimed_family(b"\xff\xfe{") == "unknown"


@given(st.binary(max_size=200))
def test_claimed_family_never_raises(data):
    assert claimed_family(data) in model.VIEW_FAMILIES


def test_a_late_reading_does_not_roll_the_state_back():
    live = LiveModel()
    live.add_records([_record(1, _sensor("s1", 21.0, "2026-11-24T10:00:02.000Z"))])
    live.add_records([_record(2, _sensor("s1", 35.0, "2026-11-24T10:00:01.000Z"))])  # late
    [state] = live.sensor_states()
    assert (state["temperature"], state["timestamp"], state["above_threshold"]) == (
        21.0,
        "2026-11-24T10:00:02.000Z",
        False,
    )
    assert live.totals()["in"]["sensor"] == 2


def test_state_comes_from_the_newest_valid_record_and_invalid_ones_only_count_in():
    live = LiveModel()
    broken = _sensor("s1", 21.0, "2026-11-24T10:00:03.000Z")
    broken["humidity"] = "wet"
    student = new_event("student", source="t", student_id="st1", event_type="grade_posted", course_id="CS1", grade=80)
    login = new_event("student", source="t", student_id="st1", event_type="login")
    live.add_records(
        [
            _record(1, _sensor("s1", 22.5, "2026-11-24T10:00:01.000Z")),
            _record(2, student),
            _record(3, login),
            _record(4, broken),
            _record(5, b"not json"),
        ]
    )
    [sensor] = live.sensor_states()
    [state] = live.student_states()
    assert sensor["temperature"] == 22.5
    assert state["last_activity"]["event_type"] == "login" and state["last_grade"]["grade"] == 80
    assert live.totals()["in"] == {"sensor": 2, "student": 2, "log": 0, "change": 0, "unknown": 1}
    assert [e["event"]["event_id"] for e in live.latest_events("student", 5)["student"]] == [
        login["event_id"],
        student["event_id"],
    ]


def test_runner_checkpoint_releases_records_in_order_with_their_lag():
    live = LiveModel(started_at=1000.0)
    live.add_records([_record(n, _sensor("s1", 20.0, "2026-11-24T10:00:00.000Z"), arrival=1000.0) for n in (1, 2, 3)])
    assert live.finished("processor", "shard-0", "2", now=1001.5) == 2
    assert live.finished("processor", "shard-0", None, now=1002.0) == 0
    sample = live.sample(1002.0)
    assert sample["totals"]["processed"]["sensor"] == 2 and sample["rates"]["sensor"]["in"] == 1.5
    assert sample["lag"]["processor"] == {
        "p50_s": 1.5,
        "max_s": 1.5,
        "finished": 2,
        "backlog": 1,
        "oldest_waiting_s": 2.0,
    }
    assert sample["lag"]["lake"]["backlog"] == 3


def test_quarantine_counts_each_source_position_once():
    live = LiveModel()
    line = {
        "reason": "temperature must be a number",
        "position": {"shard_id": "shard-0", "sequence_number": "7"},
        "data_base64": base64.b64encode(b'{"family": "sensor", "temperature": "hot"}').decode(),
    }
    assert live.add_quarantined([line, line]) == 1
    assert live.add_quarantined([line]) == 0  # the same object read again (a retried batch rewrites it)
    summary = live.quarantine_summary()
    assert summary["records"] == 1 and summary["by_family"]["sensor"] == 1
    assert summary["reasons"] == [{"reason": "temperature must be a number", "count": 1}]


def test_buffers_stay_bounded(monkeypatch):
    monkeypatch.setattr(model, "MAX_ENTITIES", 3)
    monkeypatch.setattr(model, "MAX_PENDING", 5)
    monkeypatch.setattr(model, "MAX_SAMPLES", 4)
    live = LiveModel()
    records = [_record(n, _sensor(f"s{n}", 20.0, "2026-11-24T10:00:00.000Z")) for n in range(1, 41)]
    live.add_records(records)
    for second in range(10):
        live.sample(2000.0 + second)
    assert [s["sensor_id"] for s in live.sensor_states()] == ["s38", "s39", "s40"]
    assert len(live.latest_events("sensor", 100)["sensor"]) == model.LATEST_EVENTS
    assert live.totals()["untracked"] == {"processor": 35, "lake": 35}
    assert len(live.samples) == 4
