"""The standalone bridge's schema registry decoder (confluent-kafka's mock registry, in process)."""

from __future__ import annotations

import json

import pytest
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from lambdas.bridge.mapping import KafkaMessage
from producers.schema_registry import RegistryUnavailableError, registry_client, registry_decoder
from tests.cdc.lakefill import bridge

TOPIC = "mysql1.shop.order_lines"
KEY_SCHEMA = {
    "type": "record",
    "name": "Key",
    "namespace": TOPIC,
    "fields": [{"name": "order_id", "type": "long"}, {"name": "line", "type": "int"}],
}
ROW = {
    "type": "record",
    "name": "Value",
    "namespace": TOPIC,
    "fields": [
        {"name": "order_id", "type": "long"},
        {"name": "line", "type": "int"},
        {"name": "sku", "type": "string"},
    ],
}
ENVELOPE_SCHEMA = {
    "type": "record",
    "name": "Envelope",
    "namespace": TOPIC,
    "fields": [
        {"name": "before", "type": ["null", ROW], "default": None},
        {"name": "after", "type": ["null", f"{TOPIC}.Value"], "default": None},
        {
            "name": "source",
            "type": {
                "type": "record",
                "name": "Source",
                "namespace": "io.debezium.connector.mysql",
                "fields": [
                    {"name": "name", "type": "string"},
                    {"name": "db", "type": "string"},
                    {"name": "table", "type": "string"},
                    {"name": "ts_ms", "type": "long"},
                    {"name": "file", "type": "string"},
                    {"name": "pos", "type": "long"},
                    {"name": "row", "type": "int"},
                ],
            },
        },
        {"name": "op", "type": "string"},
        {"name": "ts_ms", "type": ["null", "long"], "default": None},
    ],
}


def serialized(client, schema, value, field):
    serializer = AvroSerializer(client, json.dumps(schema))
    return serializer(value, SerializationContext(TOPIC, field))


def test_avro_with_a_composite_key_from_the_registry_becomes_a_change():
    # GIVEN a MySQL change whose key and value schemas exist only in the registry (not bundled)
    client = registry_client("mock://cdc-test", {})
    key = serialized(client, KEY_SCHEMA, {"order_id": 42, "line": 3}, MessageField.KEY)
    value = serialized(
        client,
        ENVELOPE_SCHEMA,
        {
            "before": None,
            "after": {"order_id": 42, "line": 3, "sku": "A-1"},
            "source": {
                "name": "mysql1",
                "db": "shop",
                "table": "order_lines",
                "ts_ms": 1780000000000,
                "file": "binlog.000012",
                "pos": 8812,
                "row": 1,
            },
            "op": "c",
            "ts_ms": 1780000000050,
        },
        MessageField.VALUE,
    )
    message = KafkaMessage(TOPIC, 0, 9, None, key, value)
    # WHEN the bridge plans it with the registry decoder; THEN it is a change with the composite key
    (entry,) = bridge([message], [TOPIC], registry_decoder(client)).entries
    record = json.loads(entry.data)
    assert record["row_key"] == '{"line":3,"order_id":42}'
    assert record["after"] == '{"line":3,"order_id":42,"sku":"A-1"}'
    assert record["source_position"] == "binlog:0000000012:00000000000000008812:0000000001"
    assert record["source_table"] == "mysql1.shop.order_lines"


def test_an_unknown_schema_id_is_quarantined_with_the_id():
    client = registry_client("mock://cdc-unknown", {})
    message = KafkaMessage(TOPIC, 0, 1, None, b'{"id": 1}', b"\x00\x00\x00\x30\x39payload")
    (rejected,) = bridge([message], [TOPIC], registry_decoder(client)).rejected
    assert rejected.reason == "Avro value: schema id 12345 is not in the schema registry"


def test_an_unreachable_registry_fails_the_batch_instead_of_quarantining():
    # Nothing listens on port 9: the registry is down, the messages are fine, so the batch must be retried.
    decoder = registry_decoder(registry_client("https://127.0.0.1:9", {}))
    message = KafkaMessage(TOPIC, 0, 1, None, b'{"id": 1}', b"\x00\x00\x00\x00\x01\x02")
    with pytest.raises(RegistryUnavailableError):
        bridge([message], [TOPIC], decoder)


def test_registry_credentials_go_together():
    with pytest.raises(ValueError, match="go together"):
        registry_client("https://registry.example.com", {"SCHEMA_REGISTRY_USERNAME": "key"})
