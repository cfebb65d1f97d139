"""Debezium messages through the bridge's plan: encodings, positions, event ids, tombstones and bad envelopes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambdas.bridge.mapping import KafkaMessage
from lambdas.bridge.wire import encode_avro
from lambdas.processor import lifecycle
from lambdas.schemas import parse
from tests.cdc.lakefill import bridge

TOPIC = "pgserver1.public.clientes"
SOURCE = {
    "name": "pgserver1",
    "db": "tienda",
    "schema": "public",
    "table": "clientes",
    "lsn": 33816576,
    "ts_ms": 1780000000000,
}
ROW = {"id": 7, "nombre": "Ana", "email": "ana@example.com"}


def message(value: Any, key: Any = None, offset: int = 5, partition: int = 1, raw: bool = False) -> KafkaMessage:
    key_bytes = json.dumps({"id": 7} if key is None else key).encode()
    value_bytes = value if raw or value is None else json.dumps(value).encode()
    return KafkaMessage(TOPIC, partition, offset, 1780000000000, key_bytes, value_bytes)


def envelope(op: str = "u", **changes: Any) -> dict[str, Any]:
    return {"before": ROW, "after": ROW, "source": SOURCE, "op": op, "ts_ms": 1780000000123, **changes}


def test_json_plain_wrapped_and_avro_give_the_same_change():
    # GIVEN one insert in the three encodings Debezium's converters write
    doc = envelope("c", before=None)
    plain = message(doc)
    wrapped = message({"schema": {"type": "struct"}, "payload": doc}, key={"schema": {}, "payload": {"id": 7}})
    avro_value = {**doc, "source": {**SOURCE, "version": "2.7", "connector": "postgresql", "snapshot": "false"}}
    avro = KafkaMessage(TOPIC, 1, 5, None, encode_avro({"id": 7}, 201), encode_avro(avro_value, 202))
    # WHEN the bridge plans them
    records = [json.loads(bridge([m], [TOPIC]).entries[0].data) for m in (plain, wrapped, avro)]
    # THEN each is the same change event (same id: they are the same change)
    expected = {
        "family": "change",
        "source_table": "pgserver1.public.clientes",
        "connector": "pgserver1",
        "op": "c",
        "row_key": '{"id":7}',
        "after": '{"email":"ana@example.com","id":7,"nombre":"Ana"}',
        "source_position": "lsn:00000000000033816576",
        "ts_ms": 1780000000123,
        "timestamp": "2026-05-28T20:26:40.000Z",
        "source": "kafka:pgserver1.public.clientes/1/5",
    }
    for record in records:
        assert {k: record.get(k) for k in expected} == expected
        assert "before" not in record
    assert len({r["event_id"] for r in records}) == 1


def test_timestamp_is_the_commit_time_from_source_ts_ms():
    doc = envelope(source={**SOURCE, "ts_ms": 1780000000000})
    (entry,) = bridge([message(doc)], [TOPIC]).entries
    assert json.loads(entry.data)["timestamp"] == "2026-05-28T20:26:40.000Z"


@pytest.mark.parametrize(
    ("source", "position"),
    [
        (
            {"name": "s", "db": "d", "table": "t", "file": "mysql-bin.000003", "pos": 154, "row": 2},
            "binlog:0000000003:00000000000000000154:0000000002",
        ),
        ({"name": "s", "db": "d", "table": "t", "lsn": 9}, "lsn:00000000000000000009"),
        ({"name": "s", "db": "d", "table": "t"}, "ts:00000001780000000123:00000000000000000005"),
    ],
)
def test_source_positions_of_postgres_mysql_and_the_ts_ms_fallback(source, position):
    (entry,) = bridge([message(envelope(source=source))], [TOPIC]).entries
    assert json.loads(entry.data)["source_position"] == position


def test_mysql_positions_order_across_binlog_files():
    # mysql-bin.000010 comes after mysql-bin.000009 even where its position is smaller
    positions = []
    for file, pos in (("mysql-bin.000009", 99999), ("mysql-bin.000010", 4)):
        source = {"name": "s", "db": "d", "table": "t", "file": file, "pos": pos, "row": 0}
        positions.append(json.loads(bridge([message(envelope(source=source))], [TOPIC]).entries[0].data))
    assert positions[0]["source_position"] < positions[1]["source_position"]


def test_a_redelivered_change_keeps_its_event_id_and_a_key_change_gets_two():
    # GIVEN the same update delivered twice (other offsets), and a key change: delete 7 + create 8 at one LSN
    first = message(envelope(), offset=5)
    again = message(envelope(), offset=900)
    delete = message(envelope("d", after=None), offset=6)
    create = message(envelope("c", before=None, after={**ROW, "id": 8}), key={"id": 8}, offset=7)
    # WHEN / THEN the copies share an id, the delete and the create do not
    ids = [json.loads(bridge([m], [TOPIC]).entries[0].data)["event_id"] for m in (first, again, delete, create)]
    assert ids[0] == ids[1]
    assert len(set(ids[1:])) == 3


def test_tombstones_are_counted_not_quarantined():
    plan = bridge([message(envelope("d", after=None)), message(None)], [TOPIC])
    assert len(plan.entries) == 1
    assert plan.rejected == []
    assert plan.tombstones == {TOPIC: 1}


@pytest.mark.parametrize(
    ("value", "reason", "field"),
    [
        ({"before": None, "after": ROW, "source": SOURCE}, "Debezium envelope has no op", "op"),
        (envelope("x"), "unknown op 'x'; expected one of c, u, d, r", "op"),
        (
            envelope("t"),
            "op t (truncate) names no rows, so the table's current state cannot follow it; re-snapshot the table",
            "op",
        ),
        (envelope(after=[1, 2]), "after must be an object or null, got an array", "after"),
        (envelope(after="{}"), "after must be an object or null, got a string", "after"),
        (envelope("c", after=None), "missing field after", "after"),
        (envelope("d"), "a delete (op d) has no after image", "after"),
        (envelope(source=[]), "source must be an object, got an array", "source"),
        ({"schema": {}, "payload": 3}, "Debezium value: payload must be an object, got a number", None),
    ],
)
def test_bad_envelopes_are_quarantined_with_reason_and_kafka_position(value, reason, field):
    plan = bridge([message(value)], [TOPIC])
    assert plan.entries == []
    (rejected,) = plan.rejected
    assert (rejected.reason, rejected.field) == (reason, field)
    assert rejected.position == {"topic": TOPIC, "partition": 1, "offset": 5}


def test_a_message_without_key_is_quarantined():
    bare = KafkaMessage(TOPIC, 0, 3, None, None, json.dumps(envelope()).encode())
    (rejected,) = bridge([bare], [TOPIC]).rejected
    assert rejected.reason.startswith("Debezium message without a key")


def test_a_position_going_backwards_for_a_row_is_quarantined_and_the_rest_of_the_batch_lands():
    # GIVEN row 7 at LSN 200, then row 7 at LSN 100 (older), then row 8 at LSN 50 (another row: fine)
    def at(lsn: int, key: int, offset: int) -> KafkaMessage:
        after = {**ROW, "id": key}
        return message(envelope(source={**SOURCE, "lsn": lsn}, after=after), key={"id": key}, offset=offset)

    plan = bridge([at(200, 7, 1), at(100, 7, 2), at(50, 8, 3), at(200, 7, 4)], [TOPIC])
    # THEN the older change is quarantined with both positions; the redelivered LSN 200 is not "backwards"
    assert len(plan.entries) == 3
    (rejected,) = plan.rejected
    assert rejected.reason == (
        'source position goes backwards for row {"id":7} of pgserver1.public.clientes: '
        "lsn:00000000000000000100 after lsn:00000000000000000200"
    )
    assert rejected.position == {"topic": TOPIC, "partition": 1, "offset": 2}


def test_change_records_fail_the_contract_when_fields_are_wrong():
    # The processor and the Firehose transformation re-check change records with the same contract.
    (entry,) = bridge([message(envelope())], [TOPIC]).entries
    record = json.loads(entry.data)
    parse(record)
    for field, bad, reason in (
        ("source_table", "a/b", "source_table 'a/b' may only hold letters, digits and . _ $ - (Debezium topic names)"),
        ("source_position", "7", "source_position '7' is not a streamlake position"),
        ("row_key", "{}", "row_key is empty: a change needs its row's primary key"),
        ("ts_ms", -1, "ts_ms must be a non-negative integer (epoch ms), got -1"),
        ("before", "[1]", "before must be a JSON object, got an array"),
    ):
        with pytest.raises(ValueError) as error:
            parse({**record, field: bad})
        assert str(error.value) == reason


def test_a_lambda_kafka_event_with_registry_deserialized_json_becomes_changes():
    # GIVEN the event a self-managed Kafka event source with a schema registry (record format JSON) delivers: the
    # Avro key and value already turned into JSON, base64-encoded as every Kafka event value; and a tombstone
    import base64

    from lambdas.bridge.mapping import messages_from_event

    def b64(value: Any) -> str:
        return base64.b64encode(json.dumps(value).encode()).decode()

    records = [
        {
            "topic": TOPIC,
            "partition": 0,
            "offset": 41,
            "timestamp": 1780000000000,
            "timestampType": "CREATE_TIME",
            "key": b64({"id": 7}),
            "value": b64(envelope("d", after=None)),
            "headers": [],
        },
        {
            "topic": TOPIC,
            "partition": 0,
            "offset": 42,
            "timestamp": 1780000000000,
            "timestampType": "CREATE_TIME",
            "key": b64({"id": 7}),
            "value": None,
            "headers": [],
        },
    ]
    event = {"eventSource": "SelfManagedKafka", "records": {f"{TOPIC}-0": records}}
    # WHEN the bridge plans the batch
    plan = bridge(messages_from_event(event), [TOPIC])
    # THEN the delete is one change and the tombstone is skipped, nothing quarantined
    (entry,) = plan.entries
    assert json.loads(entry.data)["op"] == "d"
    assert entry.partition_key == '{"id": 7}'
    assert plan.tombstones == {TOPIC: 1} and plan.rejected == []


def test_the_processor_accepts_a_change_and_raises_no_alert():
    from datetime import UTC, datetime

    from lambdas.processor.batch import process_record
    from lambdas.processor.rules import Position, Thresholds

    (entry,) = bridge([message(envelope())], [TOPIC]).entries
    now = datetime(2026, 6, 1, tzinfo=UTC)
    outcome = process_record(entry.data, Position("shardId-0", "1", now), None, Thresholds(30.0, 5, 60), now)
    assert outcome.rejected is None
    assert outcome.event is not None and outcome.event.family == "change"
    assert outcome.alerts == [] and lifecycle.entity_of(outcome.event) is None


def test_avro_logical_types_become_exact_json_text():
    # A registry's Avro deserializer returns Decimal, datetime, date and UUID values; they must not fail the batch.
    import datetime as dt
    import decimal
    import uuid as uuid_module

    from lambdas.bridge.debezium import canonical_json

    row = {
        "price": decimal.Decimal("12345678901234567890.0100"),
        "born": dt.date(1990, 5, 17),
        "seen": dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC),
        "ref": uuid_module.UUID("12345678-1234-5678-1234-567812345678"),
        "blob": b"\x00\xff",
    }
    assert json.loads(canonical_json(row)) == {
        "price": "12345678901234567890.0100",
        "born": "1990-05-17",
        "seen": "2026-01-02T03:04:05.678000+00:00",
        "ref": "12345678-1234-5678-1234-567812345678",
        "blob": "AP8=",
    }
