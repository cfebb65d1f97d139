"""Issue 15, Kafka bridge: event records of any shape are quarantined, never raised, and nothing they carry is lost."""

from __future__ import annotations

import base64
import json

from lambdas.bridge import handler as bridge
from lambdas.bridge.core import plan_batch
from lambdas.bridge.mapping import DEFAULT_ROUTES, KafkaMessage, messages_from_event
from lambdas.bridge.wire import default_registry

LOGIN = {"event_id": "6f1d1c1e-2b7a-4f43-9a55-0d5b1e6c0a01", "timestamp": "2025-06-01T10:00:00Z"}
LOGIN |= {"student_id": "st-1", "event_type": "login"}


def record(offset: int, **changes) -> dict:
    body = {
        "topic": "estudiante-eventos",
        "partition": 0,
        "offset": offset,
        "timestamp": 1748772000000,
        "timestampType": "CREATE_TIME",
        "key": base64.b64encode(b"st-1").decode(),
        "value": base64.b64encode(json.dumps(LOGIN).encode()).decode(),
        "headers": [],
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


def event(*records: dict) -> dict:
    return {"eventSource": "aws:kafka", "records": {"estudiante-eventos-0": list(records)}}


def test_tombstone_is_quarantined_with_its_key(aws, lambda_context):
    # GIVEN a tombstone (a key and no value) between two good messages
    batch = event(record(0), record(1, key=base64.b64encode(b"st-\x00\xff").decode(), value=None), record(2))
    # WHEN the bridge runs
    result = bridge.handler(batch, lambda_context)
    # THEN the tombstone is in quarantine with its key, the others on the stream
    assert result == {"messages": 3, "written": 2, "quarantined": 1}
    (tombstone,) = aws.quarantined()
    assert tombstone["reason"] == "tombstone: the message has no value"
    assert tombstone["key"] == b"st-\x00\xff"
    assert tombstone["position"] == {"topic": "estudiante-eventos", "partition": 0, "offset": 1}


def test_headers_as_an_object_are_quarantined_not_raised(aws, lambda_context):
    batch = event(record(0, headers={"trace": [1, 2]}), record(1))
    assert bridge.handler(batch, lambda_context) == {"messages": 2, "written": 1, "quarantined": 1}
    (bad,) = aws.quarantined()
    assert bad["reason"] == "Kafka record headers must be a list of {name: [byte, ...]} objects"
    # the whole record as it came is kept, so it can be replayed by hand
    assert json.loads(bad["data"])["headers"] == {"trace": [1, 2]}


def test_record_without_partition_is_quarantined_with_its_place_in_the_event(aws, lambda_context):
    batch = event(record(0, partition=...), record(1, partition="zero"), record(2))
    assert bridge.handler(batch, lambda_context) == {"messages": 3, "written": 1, "quarantined": 2}
    reasons = sorted((q["reason"], q["position"]["event_index"]) for q in aws.quarantined())
    assert reasons == [
        ("Kafka record has no valid partition: 'None'", 0),
        ("Kafka record has no valid partition: 'zero'", 1),
    ]


def test_header_values_that_are_not_bytes_and_odd_timestamps_do_not_raise():
    messages = messages_from_event(
        event(
            record(0, headers=[{"h": [1, "x"]}]),
            record(1, timestamp=float("inf")),
            record(2, timestamp=float("nan"), headers=[{"h": [-1, 255]}]),
            "not an object",
        )
    )
    assert [m.problem for m in messages] == [
        "Kafka header 'h' is not a list of byte values",
        None,
        None,
        "Kafka record is not an object",
    ]
    assert messages[1].timestamp_ms is None and messages[2].headers == (("h", b"\xff\xff"),)


def test_an_unexpected_exception_while_bridging_one_message_quarantines_it_as_internal_error(monkeypatch):
    import lambdas.bridge.core as core

    real = core.to_event

    def flaky(message, *args, **kwargs):
        if message.offset == 1:
            raise ZeroDivisionError("bug")
        return real(message, *args, **kwargs)

    monkeypatch.setattr(core, "to_event", flaky)
    messages = [
        KafkaMessage("estudiante-eventos", 0, offset, None, None, json.dumps(LOGIN).encode()) for offset in range(3)
    ]
    plan = plan_batch(messages, DEFAULT_ROUTES, default_registry())
    assert len(plan.entries) == 2 and plan.internal_errors == 1
    assert [(r.reason, r.position["offset"]) for r in plan.rejected] == [("internal error: ZeroDivisionError", 1)]
