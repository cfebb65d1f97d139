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


def test_older_reading_does_not_replace_the_latest_state_but_is_counted():
    live = LiveModel()
    live.add_records(
        [
            _record(1, _sensor("s1", 21.0, "2026-11-24T10:00:02.000Z")),
            _record(2, _sensor("s1", 35.0, "2026-11-24T10:00:01.000Z")),  # late
        ]
    )
    [state] = live.sensor_states()
    assert (state["temperature"], state["readings"], state["above_threshold"]) == (21.0, 2, False)
    assert live.totals()["valid"]["sensor"] == 2


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
