"""The current state a saved query rebuilds from the change log equals an independent model of the table.

Changes are written here as a Debezium PostgreSQL connector would (envelopes built by this test, not by the code
under test), go through the bridge's plan, the Firehose transformation and Parquet into a local lake, and the
deployed SQL (athena_queries/cdc_current_state.sql, cdc_current_clientes.sql) runs on DuckDB over it. The expected
table is a plain dict the test updates per operation.
"""

from __future__ import annotations

import io
import json
import tempfile
import zlib
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from athena_queries import get_query
from athena_queries.__main__ import main as athena_main
from athena_queries.local import run
from lambdas.bridge.mapping import KafkaMessage
from producers.cdc_producer import TOPIC, ClientesConnector
from producers.schema_registry import registry_client, registry_decoder
from tests.cdc.lakefill import bridge, land

SOURCE_TABLE = TOPIC_ITEMS = "shop1.inventory.items"
PARTITIONS = 3


ENCODINGS = ("json", "json-schema", "avro")


class DebeziumModel:
    """The table (expected state) and the messages a Debezium PostgreSQL connector writes for each operation.

    Encodings as Debezium's converters write them: JSON without and with the schema/payload wrapper, or Avro in the
    wire format with schemas registered in confluent-kafka's mock registry (a new schema version once a column is
    added, as the Avro converter registers it)."""

    def __init__(self, composite: bool, encoding: str = "json") -> None:
        self.composite = composite
        self.encoding = encoding
        self.registry = registry_client(f"mock://model-{id(self)}", {}) if encoding == "avro" else None
        self.rows: dict[str, dict[str, Any]] = {}  # canonical key JSON -> row
        self.columns = ["name", "qty"]
        self.lsn = 1000
        self.messages: list[KafkaMessage] = []
        self.offsets = [0] * PARTITIONS
        self.version = 0

    def key_of(self, number: int) -> dict[str, Any]:
        return {"tenant": f"t{number % 2}", "id": number} if self.composite else {"id": number}

    @staticmethod
    def text(key: dict[str, Any]) -> str:
        return json.dumps(key, sort_keys=True, separators=(",", ":"))

    def row(self, key: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        row = dict(key)
        for column in self.columns:
            row[column] = self.version if column == "qty" else f"{column}-{self.version}"
        return row

    def emit(self, op: str | None, key: dict[str, Any], before: Any, after: Any, lsn: int) -> None:
        partition = zlib.crc32(self.text(key).encode()) % PARTITIONS
        envelope = {
            "before": before,
            "after": after,
            "source": {"name": "shop1", "schema": "inventory", "table": "items", "lsn": lsn, "ts_ms": 1780000000000},
            "op": op,
            "ts_ms": 1780000000000 + lsn,
        }
        value = None if op is None else self.encode(envelope, False)
        message = KafkaMessage(
            "shop1.inventory.items", partition, self.offsets[partition], None, self.encode(key, True), value
        )
        self.offsets[partition] += 1
        self.messages.append(message)

    def encode(self, document: dict[str, Any], is_key: bool) -> bytes:
        if self.encoding == "json-schema":
            return json.dumps({"schema": {"type": "struct"}, "payload": document}).encode()
        if self.encoding == "json":
            return json.dumps(document).encode()
        schema = self.key_schema() if is_key else self.envelope_schema()
        field = MessageField.KEY if is_key else MessageField.VALUE
        return AvroSerializer(self.registry, json.dumps(schema))(document, SerializationContext(TOPIC_ITEMS, field))

    def key_schema(self) -> dict[str, Any]:
        fields = [{"name": "id", "type": "long"}]
        if self.composite:
            fields.insert(0, {"name": "tenant", "type": "string"})
        return {"type": "record", "name": "Key", "namespace": TOPIC_ITEMS, "fields": fields}

    def envelope_schema(self) -> dict[str, Any]:
        row_fields = [{"name": f["name"], "type": f["type"]} for f in self.key_schema()["fields"]]
        row_fields += [{"name": "name", "type": "string"}, {"name": "qty", "type": "long"}]
        if "colour" in self.columns:
            row_fields.append({"name": "colour", "type": ["null", "string"], "default": None})
        source = {
            "type": "record",
            "name": "Source",
            "namespace": "io.debezium.connector.postgresql",
            "fields": [
                {"name": "name", "type": "string"},
                {"name": "schema", "type": "string"},
                {"name": "table", "type": "string"},
                {"name": "lsn", "type": ["null", "long"]},
                {"name": "ts_ms", "type": "long"},
            ],
        }
        row = {"type": "record", "name": "Value", "fields": row_fields}
        return {
            "type": "record",
            "name": "Envelope",
            "namespace": TOPIC_ITEMS,
            "fields": [
                {"name": "before", "type": ["null", row], "default": None},
                {"name": "after", "type": ["null", "Value"], "default": None},
                {"name": "source", "type": source},
                {"name": "op", "type": "string"},
                {"name": "ts_ms", "type": ["null", "long"], "default": None},
            ],
        }

    def decoder(self):
        return registry_decoder(self.registry) if self.registry is not None else None

    def apply(self, action: str, number: int, other: int) -> None:
        self.lsn += 10
        key = self.key_of(number)
        text = self.text(key)
        if action == "snapshot":
            # An incremental snapshot after live changes: every current row read again, all at one later LSN.
            for row_text, row in sorted(self.rows.items()):
                self.emit("r", json.loads(row_text), None, row, self.lsn)
        elif action == "add_column":
            if "colour" not in self.columns:
                self.columns.append("colour")
        elif text not in self.rows:
            self.rows[text] = self.row(key)
            self.emit("c", key, None, self.rows[text], self.lsn)
        elif action == "update":
            before, self.rows[text] = self.rows[text], self.row(key)
            self.emit("u", key, before, self.rows[text], self.lsn)
        elif action == "delete":
            before = self.rows.pop(text)
            self.emit("d", key, before, None, self.lsn)
            self.emit(None, key, None, None, self.lsn)  # tombstone
        elif action == "pk_change":
            new_key = self.key_of(other)
            if self.text(new_key) in self.rows:
                return
            before = self.rows.pop(text)
            after = {**before, **new_key}
            self.rows[self.text(new_key)] = after
            # Debezium: delete of the old key, its tombstone, create of the new key, all at the update's LSN.
            self.emit("d", key, before, None, self.lsn)
            self.emit(None, key, None, None, self.lsn)
            self.emit("c", new_key, None, after, self.lsn)

    def expected(self) -> dict[str, dict[str, Any]]:
        """Every row with every column the table has now (a column a row was never written with is NULL)."""
        return {k: {c: row.get(c) for c in [*self.key_columns(), *self.columns]} for k, row in self.rows.items()}

    def key_columns(self) -> list[str]:
        return ["tenant", "id"] if self.composite else ["id"]


ACTIONS = st.sampled_from(["insert", "update", "update", "delete", "pk_change", "snapshot", "add_column"])
OPERATIONS = st.lists(st.tuples(ACTIONS, st.integers(0, 7), st.integers(0, 11)), min_size=1, max_size=40)


def current_state(lake_dir: Path, columns: list[str]) -> dict[str, dict[str, Any]]:
    sql = get_query("cdc_current_state").render({"source_table": SOURCE_TABLE})
    result = run(sql, lake_dir)
    rows = {}
    for row_key, row_json, *_ in result.rows:
        image = json.loads(row_json)
        rows[row_key] = {c: image.get(c) for c in columns}
    return rows


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    operations=OPERATIONS,
    composite=st.booleans(),
    encoding=st.sampled_from(ENCODINGS),
    cuts=st.lists(st.integers(1, 12), min_size=1, max_size=10),
    redeliver=st.lists(st.integers(0, 20), max_size=3),
)
def test_current_state_equals_the_model_after_any_change_sequence(operations, composite, encoding, cuts, redeliver):
    # GIVEN a table changed by random inserts, updates, deletes, key changes, snapshots and a new column
    model = DebeziumModel(composite, encoding)
    for action, number, other in operations:
        model.apply(action, number, other)
    # ... delivered in batches of random sizes (keys of several partitions in one batch), some batches twice
    batches, start, index = [], 0, 0
    while start < len(model.messages):
        size = cuts[index % len(cuts)]
        batches.append(model.messages[start : start + size])
        start, index = start + size, index + 1
    for position in redeliver:
        if batches:
            batches.append(batches[position % len(batches)])
    plans = [bridge(batch, [TOPIC_ITEMS], model.decoder()) for batch in batches]
    assert [r.reason for plan in plans for r in plan.rejected] == []
    with tempfile.TemporaryDirectory() as tmp:
        land(Path(tmp), plans)
        # WHEN the deployed current-state query runs on the lake
        actual = current_state(Path(tmp), [*model.key_columns(), *model.columns])
    # THEN it is the model's table: same keys, same rows, deleted and re-keyed rows gone
    assert actual == model.expected()


def test_current_clientes_csv_from_the_cli_is_the_producers_final_table(tmp_path):
    # GIVEN the CDC producer's snapshot and 300 live changes of clientes, in Avro, through the bridge into the lake
    connector = ClientesConnector(seed=11, format="avro")
    connector.seed_rows(15)
    changes = connector.snapshot()
    for _ in range(300):
        changes += connector.step()
    messages = [KafkaMessage(TOPIC, c.row_id % 3, i, None, c.key, c.value) for i, c in enumerate(changes)]
    plans = [bridge(messages[i : i + 64], [TOPIC]) for i in range(0, len(messages), 64)]
    land(tmp_path, plans)
    # WHEN the saved query runs from the command line, as CSV
    out = io.StringIO()
    with redirect_stdout(out):
        status = athena_main(["run", "cdc_current_clientes", "--local", "--lake-dir", str(tmp_path), "-o", "csv"])
    # THEN it prints the table the producer holds at the end (its own record, independent of the lake)
    assert status == 0
    assert out.getvalue() == connector.final_csv()
    assert sum(plan.tombstones[TOPIC] for plan in plans) == sum(1 for c in changes if c.value is None) > 0


def test_a_literal_sequence_gives_the_literal_table(tmp_path):
    # GIVEN a snapshot of two rows, an update, a key change of 2 -> 7 and a delete of 1, written by hand
    model = DebeziumModel(composite=False)
    model.rows = {'{"id":1}': {"id": 1, "name": "a", "qty": 1}, '{"id":2}': {"id": 2, "name": "b", "qty": 2}}
    model.apply("snapshot", 0, 0)
    model.apply("update", 1, 0)
    model.apply("pk_change", 2, 7)
    model.apply("delete", 1, 0)
    land(tmp_path, [bridge(model.messages, ["shop1.inventory.items"])])
    # WHEN / THEN only row 7 is left, with row 2's columns
    assert current_state(tmp_path, ["id", "name", "qty"]) == {'{"id":7}': {"id": 7, "name": "b", "qty": 2}}
