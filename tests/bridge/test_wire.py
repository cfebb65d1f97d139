"""Message values: plain JSON, Confluent wire format with Avro or JSON Schema, and what happens to anything else."""

from __future__ import annotations

import json
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambdas.bridge import avro
from lambdas.bridge.wire import (
    SchemaRegistry,
    UndecodableMessageError,
    decode_value,
    default_registry,
    encode_avro,
    encode_json_schema,
    wire_message,
)
from lambdas.schemas import InvalidEventError

REGISTRY = default_registry()
# The event schemas; 201/202 are the Debezium key and envelope of pgserver1.public.clientes (tests/cdc).
AVRO_IDS = [i for i in REGISTRY.ids() if REGISTRY.get(i).kind == "avro" and i < 200]


def reason_of(value: bytes | None) -> str:
    with pytest.raises(InvalidEventError) as caught:
        decode_value(value, REGISTRY)
    return caught.value.reason


def test_shipped_schemas_load_by_id():
    assert REGISTRY.ids() == [1, 2, 3, 101, 102, 201, 202]
    assert [REGISTRY.get(i).kind for i in REGISTRY.ids()] == ["avro", "avro", "avro", "json", "json", "avro", "avro"]


def test_plain_json_is_read_as_is():
    assert decode_value(b'{"a": 1}', REGISTRY) == {"a": 1}


def test_avro_wire_format_round_trips_every_type_our_schemas_use():
    record = {
        "event_id": None,
        "timestamp": "2026-11-20T09:01:02.345Z",
        "level": "ERROR",
        "service": "gateway",
        "message": "ñandú ✓ multi-byte text",
        "host": "h1",
        "trace_id": None,
        "attributes": {"k": "v", "region": "eu"},
    }
    assert decode_value(encode_avro(record, 2), REGISTRY) == record


def test_json_schema_wire_format_is_validated_against_its_schema():
    good = {"student_id": "s", "event_type": "login"}
    assert decode_value(encode_json_schema(good, 101), REGISTRY) == good
    bad = {"student_id": 7, "event_type": "login"}
    assert reason_of(encode_json_schema(bad, 101)) == "JSON Schema 101 (student-event): student_id must be string"
    missing = {"event_type": "login"}
    assert reason_of(encode_json_schema(missing, 101)).endswith("missing required property student_id")
    wrong_item = {"level": "INFO", "service": "s", "message": "m", "tags": ["ok", 3]}
    assert reason_of(encode_json_schema(wrong_item, 102)).endswith("tags[1] must be string")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "tombstone: the message has no value"),
        (b"", "empty record"),
        (b"\x00\x00\x01", "wire format header truncated: 3 bytes, a magic byte and a 4-byte schema id need 5"),
        (wire_message(7, b"{}"), "schema id 7 is not in lambdas/bridge/schemas (known: 1, 2, 3, 101, 102, 201, 202)"),
        (wire_message(1, b""), "Avro schema 1 (student-event): truncated union branch at byte 0"),
        (
            wire_message(1, b"\x04"),
            "Avro schema 1 (student-event): union branch 2 at byte 0 does not exist (the union has 2)",
        ),
        (
            wire_message(1, b"\x00\x00\x06ab"),
            "Avro schema 1 (student-event): string at byte 3 needs 3 bytes, only 2 remain",
        ),
        (wire_message(102, b"[1]"), "JSON Schema 102 (log-event): expected a JSON object, got an array"),
        (b"\xff\xfe", "not UTF-8: invalid byte at position 0"),
    ],
)
def test_undecodable_values_say_precisely_why(value, reason):
    assert reason_of(value) == reason


def test_trailing_bytes_after_an_avro_record_are_refused():
    record = {"student_id": "s", "event_type": "login", "channel": "sms"}
    assert reason_of(encode_avro(record, 3) + b"\x00").endswith("1 trailing byte(s) after the datum, from byte 8")


def test_schema_file_names_must_start_with_the_id(tmp_path):
    (tmp_path / "student.avsc").write_text('"string"')
    with pytest.raises(ValueError, match="named <schema id>-<name>.avsc"):
        SchemaRegistry.from_directory(tmp_path)


# --------------------------------------------------------------------------------------------------------------------
# The Avro decoder on its own
# --------------------------------------------------------------------------------------------------------------------


def test_avro_decoder_reads_the_types_of_the_specification():
    schema = avro.parse_schema(
        {
            "type": "record",
            "name": "All",
            "fields": [
                {"name": "b", "type": "boolean"},
                {"name": "i", "type": "int"},
                {"name": "l", "type": "long"},
                {"name": "f", "type": "float"},
                {"name": "d", "type": "double"},
                {"name": "raw", "type": "bytes"},
                {"name": "fx", "type": {"type": "fixed", "name": "Four", "size": 4}},
                {"name": "xs", "type": {"type": "array", "items": "long"}},
                {"name": "day", "type": {"type": "int", "logicalType": "date"}},
                {"name": "micros", "type": {"type": "long", "logicalType": "timestamp-micros"}},
                {"name": "again", "type": "Four"},
            ],
        }
    )
    value = {
        "b": True,
        "i": -(2**31),
        "l": 2**63 - 1,
        "f": 1.5,
        "d": -2.25,
        "raw": b"\x00\xff",
        "fx": b"abcd",
        "xs": [1, -1, 300],
        "day": 20412,
        "micros": 1_795_161_600_123_456,
        "again": b"wxyz",
    }
    decoded = avro.decode(avro.encode(value, schema), schema)
    assert decoded == {**value, "day": "2025-11-20", "micros": "2026-11-20T08:00:00.123Z"}


def test_avro_block_encoded_arrays_with_negative_counts_are_read():
    schema = avro.parse_schema({"type": "array", "items": "int"})
    # two blocks: -2 items (then byte size 2), then 1 item, then end
    data = bytes([0x03, 0x04, 0x02, 0x04, 0x02, 0x06, 0x00])
    assert avro.decode(data, schema) == [1, 2, 3]


def test_avro_counts_of_zero_byte_items_are_bounded():
    schema = avro.parse_schema({"type": "array", "items": "null"})
    with pytest.raises(avro.AvroDecodeError, match="holds more than 100000 items"):
        avro.decode(bytes([0xFE, 0xFF, 0xFF, 0xFF, 0x0F, 0x00]), schema)


def test_recursive_avro_schemas_are_bounded_in_depth():
    schema = avro.parse_schema(
        {"type": "record", "name": "Node", "fields": [{"name": "next", "type": ["null", "Node"]}]}
    )
    assert avro.decode(b"\x02\x02\x00", schema) == {"next": {"next": {"next": None}}}
    with pytest.raises(avro.AvroDecodeError, match="nesting deeper than 64"):
        avro.decode(b"\x02" * 200 + b"\x00", schema)


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "record", "name": "R"}, "record R needs a list of fields"),
        ({"type": "enum", "name": "E", "symbols": []}, "enum E needs a non-empty list of string symbols"),
        ({"type": "nope"}, "unknown type 'nope'"),
        ("Missing", "unknown type 'Missing'"),
        ([["null"], "int"], "a union may not directly contain another union"),
    ],
)
def test_invalid_avro_schemas_are_refused(schema, message):
    with pytest.raises(avro.AvroSchemaError, match=message.replace("(", r"\(")):
        avro.parse_schema(schema)


# --------------------------------------------------------------------------------------------------------------------
# Properties: arbitrary bytes never crash the decoder, valid records always round-trip
# --------------------------------------------------------------------------------------------------------------------

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.binary(max_size=300))
def test_arbitrary_bytes_decode_or_fail_with_a_reason(data):
    try:
        value = decode_value(data, REGISTRY)
    except InvalidEventError as exc:
        assert exc.reason and isinstance(exc.reason, str)
    else:
        assert isinstance(value, dict)


@FAST
@given(st.sampled_from([1, 2, 3, 101, 102]), st.binary(max_size=200))
def test_arbitrary_payloads_behind_a_known_schema_id_decode_or_fail_with_a_reason(schema_id, payload):
    try:
        value = decode_value(wire_message(schema_id, payload), REGISTRY)
    except UndecodableMessageError as exc:
        assert exc.reason.startswith(("Avro schema", "JSON Schema"))
    else:
        assert isinstance(value, dict)


@FAST
@given(st.sampled_from(AVRO_IDS), st.data())
def test_avro_mutations_of_valid_messages_decode_or_fail_with_a_reason(schema_id, data):
    record = {
        "event_id": None,
        "timestamp": "2026-11-20T09:00:00.000Z",
        "student_id": "s-1",
        "event_type": "grade_posted",
        "course_id": "C1",
        "grade": 75.0,
        "channel": "sms",
        "level": "INFO",
        "service": "svc",
        "message": "hello",
        "host": None,
        "trace_id": None,
        "attributes": {"a": "b"},
    }
    message = bytearray(encode_avro(record, schema_id))
    position = data.draw(st.integers(5, len(message) - 1))
    message[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(5, len(message)))
    try:
        decode_value(bytes(message[:cut]), REGISTRY)
    except UndecodableMessageError as exc:
        assert exc.reason.startswith(f"Avro schema {schema_id}")


student_records = st.fixed_dictionaries(
    {
        "event_id": st.none() | st.uuids().map(str),
        "timestamp": st.none() | st.just("2026-11-20T09:00:00Z"),
        "student_id": st.text(min_size=1, max_size=40),
        "event_type": st.sampled_from(["login", "logout", "assignment_submitted", "grade_posted", "course_enrolled"]),
        "course_id": st.none() | st.text(max_size=20),
        "grade": st.none() | st.floats(allow_nan=False, allow_infinity=False),
        "channel": st.none() | st.sampled_from(["email", "sms"]),
    }
)


@FAST
@given(student_records)
def test_student_records_round_trip_through_the_avro_wire_format(record):
    assert decode_value(encode_avro(record, 1), REGISTRY) == record


@FAST
@given(st.integers(-(2**63), 2**63 - 1))
def test_longs_round_trip_through_zigzag_varints(number):
    schema = avro.parse_schema("long")
    assert avro.decode(avro.encode(number, schema), schema) == number


def test_wire_header_is_big_endian_schema_id():
    assert wire_message(258, b"x") == b"\x00" + struct.pack(">I", 258) + b"x" == b"\x00\x00\x00\x01\x02x"
    assert json.loads(encode_json_schema({"a": 1}, 101)[5:]) == {"a": 1}
