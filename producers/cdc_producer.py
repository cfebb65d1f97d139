"""A Debezium PostgreSQL connector on a `clientes` table, without the database: `python producers/cdc_producer.py -h`.

It keeps the table in memory (id, nombre, email) and writes to `pgserver1.public.clientes` what Debezium would:
first a snapshot (op `r`, every row at the snapshot's LSN), then a realistic mix of inserts (`c`), updates (`u`),
deletes (`d`, followed by a tombstone: same key, no value) and primary-key changes (a delete of the old key, its
tombstone and a create of the new key, all at one LSN, as Debezium emits an update of the key columns). LSNs grow
with every change; keys are the primary key, so Kafka keeps one row's changes in one partition, in order.

Encodings (`--format`), as the converters write them:
  json          JsonConverter with schemas.enable=false: the envelope object
  json-schema   JsonConverter with schemas.enable=true: {"schema": ..., "payload": envelope}
  avro          AvroConverter: Confluent wire format with the schema ids of lambdas/bridge/schemas (201 key, 202 value)

`--final-csv PATH` writes the table as it is after the run (id,nombre,email, ordered by id): what
`python -m athena_queries run cdc_current_clientes --local -o csv` must print once the changes reached the lake.

Connection settings and exit statuses are those of producers/kafka_producer.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse  # noqa: E402
import csv  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any, TextIO  # noqa: E402

from producers.kinesis_writer import ProducerError  # noqa: E402

TOPIC = "pgserver1.public.clientes"
SERVER, DATABASE, SCHEMA, TABLE = "pgserver1", "tienda", "public", "clientes"
FORMATS = ("json", "json-schema", "avro")
KEY_SCHEMA_ID, VALUE_SCHEMA_ID = 201, 202
# Mix of live changes; the rest of each step's probability goes to inserts.
OP_WEIGHTS = {"update": 0.38, "delete": 0.12, "pk_change": 0.05}
FIRST_NAMES = ("Ana", "Luis", "María", "José", "Lucía", "Carlos", "Sofía", "Javier", "Elena", "Pablo", "Marta", "Diego")
LAST_NAMES = ("García", "López", "Martínez", "Sánchez", "Pérez", "Gómez", "Ruiz", "Díaz", "Moreno", "Álvarez")
DOMAINS = ("example.com", "correo.es", "mail.test")
_FIRST_LSN = 23_000_000
_DEBEZIUM_VERSION = "2.7.3.Final"


@dataclass(frozen=True)
class ChangeMessage:
    """One Kafka message of the connector: key and value bytes (value None for a tombstone) and what it means."""

    key: bytes
    value: bytes | None
    op: str | None  # None for a tombstone
    row_id: int


@dataclass
class ClientesConnector:
    """The table and the connector's position; each method returns the messages Debezium would write for it."""

    seed: int | None = None
    format: str = "json"
    rows: dict[int, dict[str, Any]] = field(default_factory=dict)
    lsn: int = _FIRST_LSN
    clock_ms: int = 1_767_225_600_000  # 2026-01-01T00:00:00Z
    next_id: int = 1

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ProducerError(f"unknown format {self.format!r}; expected one of {', '.join(FORMATS)}")
        self.rng = random.Random(self.seed)
        if self.format == "avro":
            from lambdas.bridge.wire import encode_avro

            self._encode_avro = encode_avro

    # -- the table ------------------------------------------------------------------------------------------------

    def seed_rows(self, count: int) -> None:
        """Rows present before the connector starts (what the snapshot reads)."""
        for _ in range(count):
            row = self._new_row()
            self.rows[row["id"]] = row

    def snapshot(self) -> list[ChangeMessage]:
        """Every row as op r, all at the snapshot's LSN (Debezium's initial snapshot)."""
        self._tick()
        return [self._message("r", None, row) for _, row in sorted(self.rows.items())]

    def step(self) -> list[ChangeMessage]:
        """One live change, picked with OP_WEIGHTS (an insert when the table is empty)."""
        roll = self.rng.random()
        if self.rows and roll < OP_WEIGHTS["update"]:
            return self.update(self.rng.choice(sorted(self.rows)))
        roll -= OP_WEIGHTS["update"]
        if self.rows and roll < OP_WEIGHTS["delete"]:
            return self.delete(self.rng.choice(sorted(self.rows)))
        roll -= OP_WEIGHTS["delete"]
        if self.rows and roll < OP_WEIGHTS["pk_change"]:
            return self.change_key(self.rng.choice(sorted(self.rows)))
        return self.insert()

    def insert(self) -> list[ChangeMessage]:
        self._tick()
        row = self._new_row()
        self.rows[row["id"]] = row
        return [self._message("c", None, row)]

    def update(self, row_id: int) -> list[ChangeMessage]:
        self._tick()
        before = self.rows[row_id]
        after = dict(before)
        if self.rng.random() < 0.5 or before["email"] is None:
            after["email"] = self._email(after["nombre"])
        else:
            after["nombre"] = self._name()
        self.rows[row_id] = after
        return [self._message("u", before, after)]

    def delete(self, row_id: int) -> list[ChangeMessage]:
        self._tick()
        before = self.rows.pop(row_id)
        return [self._message("d", before, None), self._tombstone(row_id)]

    def change_key(self, row_id: int) -> list[ChangeMessage]:
        """UPDATE clientes SET id = <new> WHERE id = <old>: delete + tombstone of the old key, create of the new."""
        self._tick()
        before = self.rows.pop(row_id)
        after = {**before, "id": self.next_id}
        self.next_id += 1
        self.rows[after["id"]] = after
        return [self._message("d", before, None), self._tombstone(row_id), self._message("c", None, after)]

    def final_csv(self) -> str:
        """The table now, as `athena_queries run cdc_current_clientes -o csv` prints it."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["id", "nombre", "email"])
        for row_id, row in sorted(self.rows.items()):
            writer.writerow([row_id, row["nombre"], "" if row["email"] is None else row["email"]])
        return out.getvalue()

    # -- Debezium's messages --------------------------------------------------------------------------------------

    def _tick(self) -> None:
        self.lsn += self.rng.randint(40, 4000)
        self.clock_ms += self.rng.randint(5, 900)

    def _message(self, op: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> ChangeMessage:
        row_id = (after or before or {})["id"]
        source = {
            "version": _DEBEZIUM_VERSION,
            "connector": "postgresql",
            "name": SERVER,
            "ts_ms": self.clock_ms - 3,
            "snapshot": "true" if op == "r" else "false",
            "db": DATABASE,
            "sequence": json.dumps([str(self.lsn - 8), str(self.lsn)]),
            "schema": SCHEMA,
            "table": TABLE,
            "txId": 700 + self.lsn // 1000,
            "lsn": self.lsn,
            "xmin": None,
        }
        envelope = {"before": before, "after": after, "source": source, "op": op, "ts_ms": self.clock_ms}
        return ChangeMessage(self._key(row_id), self._value(envelope), op, row_id)

    def _tombstone(self, row_id: int) -> ChangeMessage:
        return ChangeMessage(self._key(row_id), None, None, row_id)

    def _key(self, row_id: int) -> bytes:
        key = {"id": row_id}
        if self.format == "avro":
            return self._encode_avro(key, KEY_SCHEMA_ID)
        if self.format == "json-schema":
            return _json({"schema": _KEY_SCHEMA, "payload": key})
        return _json(key)

    def _value(self, envelope: dict[str, Any]) -> bytes:
        if self.format == "avro":
            return self._encode_avro(envelope, VALUE_SCHEMA_ID)
        if self.format == "json-schema":
            return _json({"schema": _ENVELOPE_SCHEMA, "payload": envelope})
        return _json(envelope)

    def _new_row(self) -> dict[str, Any]:
        name = self._name()
        row = {"id": self.next_id, "nombre": name, "email": None if self.rng.random() < 0.1 else self._email(name)}
        self.next_id += 1
        return row

    def _name(self) -> str:
        return f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}"

    def _email(self, name: str) -> str:
        first = name.split()[0].lower().translate(str.maketrans("áéíóú", "aeiou"))
        return f"{first}{self.rng.randint(1, 999)}@{self.rng.choice(DOMAINS)}"


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _struct(name: str, fields: list[tuple[str, str, bool]], optional: bool = False) -> dict[str, Any]:
    return {
        "type": "struct",
        "fields": [{"type": t, "optional": o, "field": f} for f, t, o in fields],
        "optional": optional,
        "name": name,
    }


_KEY_SCHEMA = _struct(f"{TOPIC}.Key", [("id", "int32", False)])
_ROW_FIELDS = [("id", "int32", False), ("nombre", "string", False), ("email", "string", True)]
_ENVELOPE_SCHEMA = {
    "type": "struct",
    "fields": [
        {**_struct(f"{TOPIC}.Value", _ROW_FIELDS, True), "field": "before"},
        {**_struct(f"{TOPIC}.Value", _ROW_FIELDS, True), "field": "after"},
        {
            **_struct(
                "io.debezium.connector.postgresql.Source",
                [
                    ("version", "string", False),
                    ("connector", "string", False),
                    ("name", "string", False),
                    ("ts_ms", "int64", False),
                    ("snapshot", "string", True),
                    ("db", "string", False),
                    ("sequence", "string", True),
                    ("schema", "string", False),
                    ("table", "string", False),
                    ("txId", "int64", True),
                    ("lsn", "int64", True),
                    ("xmin", "int64", True),
                ],
            ),
            "field": "source",
        },
        {"type": "string", "optional": False, "field": "op"},
        {"type": "int64", "optional": True, "field": "ts_ms"},
    ],
    "optional": False,
    "name": f"{TOPIC}.Envelope",
}


@dataclass
class CdcSummary:
    snapshot: int = 0
    changes: dict[str, int] = field(default_factory=dict)
    tombstones: int = 0
    sent: int = 0
    failed: int = 0
    rows: int = 0


def produce_cdc(
    connector: ClientesConnector,
    *,
    initial_rows: int,
    changes: int | None,
    bootstrap_servers: str | None,
    rate: float | None = None,
    continuous: bool = False,
    create_topics: bool = False,
    partitions: int = 3,
    stop: threading.Event | None = None,
) -> CdcSummary:
    """Snapshot `initial_rows` rows, then `changes` live changes (or until `stop` with `continuous`), to Kafka."""
    from confluent_kafka import Producer

    from producers.kafka_producer import _check_broker, connection_settings, producer_config

    connection = connection_settings(bootstrap_servers)
    producer = Producer(producer_config(connection, **{"client.id": "streamlake-cdc-producer"}))
    _check_broker(producer, connection, {TOPIC}, create_topics, partitions)
    summary = CdcSummary()
    stop = stop or threading.Event()

    def delivered(error: Any, _message: Any) -> None:
        if error is None:
            summary.sent += 1
        else:
            summary.failed += 1

    def send(messages: list[ChangeMessage]) -> None:
        for message in messages:
            producer.produce(TOPIC, key=message.key, value=message.value, on_delivery=delivered)
            if message.op is None:
                summary.tombstones += 1
            producer.poll(0)

    connector.seed_rows(initial_rows)
    snapshot = connector.snapshot()
    summary.snapshot = len(snapshot)
    send(snapshot)
    done = 0
    started = time.monotonic()
    while not stop.is_set() and (continuous or done < (changes or 0)):
        if changes is not None and done >= changes:
            break
        if rate:
            # Paced against the start, so a slow broker round does not lower the average rate.
            delay = started + done / rate - time.monotonic()
            if delay > 0 and stop.wait(delay):
                break
        messages = connector.step()
        for message in messages:
            if message.op is not None:
                summary.changes[message.op] = summary.changes.get(message.op, 0) + 1
        send(messages)
        done += 1
    producer.flush(30)
    summary.rows = len(connector.rows)
    return summary


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--bootstrap-servers", help="HOST:PORT of the broker (or KAFKA_BOOTSTRAP_SERVERS)")
    parser.add_argument("--format", choices=FORMATS, default="json", help="converter to imitate (default json)")
    parser.add_argument("--rows", type=int, default=20, help="rows in the table before the snapshot (default 20)")
    parser.add_argument("--count", type=int, default=100, help="live changes after the snapshot (default 100)")
    parser.add_argument("--continuous", action="store_true", help="keep changing the table until Ctrl-C")
    parser.add_argument("--rate", type=float, help="changes per second (default: as fast as possible; 2 continuous)")
    parser.add_argument("--seed", type=int, help="random seed: the same seed gives the same changes and table")
    parser.add_argument("--final-csv", type=Path, help="write the table after the run here (id,nombre,email)")
    parser.add_argument("--create-topics", action="store_true", help="create the topic if missing (local brokers)")
    parser.add_argument("--partitions", type=int, default=3, help="partitions of a created topic (default 3)")
    args = parser.parse_args(argv)
    connector = ClientesConnector(seed=args.seed, format=args.format)
    stop = threading.Event()
    try:
        summary = produce_cdc(
            connector,
            initial_rows=args.rows,
            changes=None if args.continuous else args.count,
            bootstrap_servers=args.bootstrap_servers,
            rate=args.rate or (2.0 if args.continuous else None),
            continuous=args.continuous,
            create_topics=args.create_topics,
            partitions=args.partitions,
            stop=stop,
        )
    except ProducerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        stop.set()
        summary = CdcSummary(rows=len(connector.rows))
    if args.final_csv:
        args.final_csv.write_text(connector.final_csv(), encoding="utf-8")
    print(
        f"{TOPIC}: snapshot {summary.snapshot} rows, changes {summary.changes}, tombstones {summary.tombstones}; "
        f"sent {summary.sent}, failed {summary.failed}; {summary.rows} rows in the table now",
        file=out,
    )
    return 0 if summary.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
