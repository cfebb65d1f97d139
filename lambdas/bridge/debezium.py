"""Debezium change events (CDC topics) into `change` events of the contract (lambdas/schemas.py).

A Debezium connector writes one Kafka message per row change to `<server>.<schema>.<table>`: the key holds the
row's primary key, the value the envelope `{before, after, source, op, ts_ms}` (Debezium's documentation, "Data
change events"). Both come in three encodings, all read here:

- JSON with the converter's `schemas.enable=true`: `{"schema": {...}, "payload": {...}}`; the payload is used;
- JSON with `schemas.enable=false`: the envelope (or key) itself;
- Avro in the Confluent wire format (magic byte 0, 4-byte schema id, Avro binary), decoded by a `ValueDecoder`:
  the bundled schemas of lambdas/bridge/schemas (offline), or the user's schema registry in the standalone bridge
  (producers/schema_registry.py). The deployed bridge lets the event source mapping deserialize Avro through the
  registry and hand over JSON (stacks/kafka_bridge.py), so it only ever sees the first two forms.

A message with a key and no value is the tombstone Debezium writes after a delete so log compaction can drop the
key: it is normal, carries no change, and is skipped (counted, not quarantined).

Ordering. Each change gets a `source_position`, a string whose order is the order of changes to one row:

- PostgreSQL: `lsn:<LSN, 20 digits>`. A row is locked by one transaction at a time, so its changes' WAL positions
  increase; snapshot reads (`r`) carry the snapshot's LSN, which precedes every change streamed after it.
- MySQL: `binlog:<file number>:<position>:<row>` from `source.file` (mysql-bin.000003), `pos` and `row`.
- Otherwise: `ts:<ts_ms>:<Kafka offset>`: the connector's clock, ties broken by the offset (one key always lives
  in one partition, so offsets order one row's changes).

`event_id` is a uuid5 of connector, table, position, op and key: a redelivered change (a retried batch, a connector
restart replaying from its last committed offset) gets the same id, and the processor drops it. The key and op are
part of it because one position can carry several changes: a primary-key update is a delete of the old key and a
create of the new one at the same LSN, and every row of a snapshot shares the snapshot's position.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any, Protocol

from lambdas.bridge.mapping import KafkaMessage
from lambdas.bridge.wire import SchemaRegistry, decode_value
from lambdas.schemas import (
    CHANGE_OPS,
    EVENT_ID_NAMESPACE,
    Event,
    InvalidEventError,
    format_timestamp,
    parse,
)

CHANGE_FAMILY = "change"
# Debezium ops streamlake does not turn into row changes: `t` (truncate) removes every row without naming any, and
# `m` carries a logical decoding message, not a row. Both are quarantined with this explanation.
_UNSUPPORTED_OPS = {
    "t": "op t (truncate) names no rows, so the table's current state cannot follow it; re-snapshot the table",
    "m": "op m is a logical decoding message, not a row change",
}
_BINLOG_FILE_NUMBER = re.compile(r"(\d+)$")
_TOPIC_CHARACTERS = re.compile(r"[A-Za-z0-9._-]{1,249}")


class DecoderUnavailableError(RuntimeError):
    """A decoder's dependency (a schema registry) could not be asked: a side-effect failure, so the batch is retried
    and nothing is quarantined. The record boundary (core.plan_batch) lets this one through."""


class ValueDecoder(Protocol):
    """Turns a Kafka key or value into a JSON object (plain JSON or wire format); InvalidEventError otherwise."""

    def __call__(self, topic: str, data: bytes, is_key: bool) -> dict[str, Any]: ...


def bundled_decoder(registry: SchemaRegistry) -> ValueDecoder:
    """A decoder for plain JSON and for the wire format with the bundled schemas (lambdas/bridge/schemas)."""

    def decode(topic: str, data: bytes, is_key: bool) -> dict[str, Any]:
        return decode_value(data, registry)

    return decode


def unwrap(document: dict[str, Any], what: str) -> dict[str, Any]:
    """The payload of a JSON converter document with `schemas.enable=true`, or the document itself."""
    if set(document) == {"schema", "payload"}:
        payload = document["payload"]
        if not isinstance(payload, dict):
            raise InvalidEventError(f"Debezium {what}: payload must be an object, got {_kind(payload)}")
        return payload
    return document


def canonical_json(value: dict[str, Any]) -> str:
    """Sorted keys, no spaces: the same row key always gives the same text (the current state groups by it).

    Avro `bytes` (binary columns) become base64, as Debezium's JSON converter writes them; the logical types a
    registry's deserializer returns (decimal, date, time, timestamp, uuid) become exact text.
    """
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_json_default)


def source_position(source: dict[str, Any], ts_ms: int, message: KafkaMessage) -> str:
    """The sortable position of a change (see the module docstring)."""
    lsn = source.get("lsn")
    if _is_count(lsn):
        return f"lsn:{lsn:020d}"
    binlog_file, binlog_pos = source.get("file"), source.get("pos")
    if isinstance(binlog_file, str) and _is_count(binlog_pos):
        number = _BINLOG_FILE_NUMBER.search(binlog_file)
        row = source.get("row")
        if number is not None:
            return f"binlog:{int(number[1]):010d}:{binlog_pos:020d}:{row if _is_count(row) else 0:010d}"
    return f"ts:{ts_ms:020d}:{message.offset:020d}"


def change_event_id(connector: str, source_table: str, position: str, op: str, row_key: str) -> str:
    """uuid5 of what identifies one change: a redelivered change gets the same event_id."""
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"cdc:{connector}:{source_table}:{position}:{op}:{row_key}"))


def to_change_event(message: KafkaMessage, decode: ValueDecoder, now: datetime | None = None) -> Event | None:
    """The change a Debezium message carries, None for a tombstone; InvalidEventError (reason, field) otherwise."""
    if message.problem is not None:
        raise InvalidEventError(message.problem)
    if message.value is None:
        return None
    if not message.key:
        raise InvalidEventError(
            "Debezium message without a key: the table has no primary key, so its rows cannot be told apart "
            "(set message.key.columns on the connector)",
            "row_key",
        )
    key = unwrap(decode(message.topic, message.key, True), "key")
    if not key:
        raise InvalidEventError("Debezium key is an empty object", "row_key")
    envelope = unwrap(decode(message.topic, message.value, False), "value")

    if "op" not in envelope or envelope["op"] is None:
        raise InvalidEventError("Debezium envelope has no op", "op")
    op = envelope["op"]
    if not isinstance(op, str):
        raise InvalidEventError(f"op must be a string, got {_kind(op)}", "op")
    if op in _UNSUPPORTED_OPS:
        raise InvalidEventError(_UNSUPPORTED_OPS[op], "op")
    if op not in CHANGE_OPS:
        raise InvalidEventError(f"unknown op {op[:20]!r}; expected one of {', '.join(CHANGE_OPS)}", "op")
    images = {}
    for name in ("before", "after"):
        image = envelope.get(name)
        if image is not None and not isinstance(image, dict):
            raise InvalidEventError(f"{name} must be an object or null, got {_kind(image)}", name)
        images[name] = image
    source = envelope.get("source")
    if source is None:
        source = {}
    if not isinstance(source, dict):
        raise InvalidEventError(f"source must be an object, got {_kind(source)}", "source")

    ts_ms = _first_count(envelope.get("ts_ms"), source.get("ts_ms"), message.timestamp_ms)
    if ts_ms is None:
        raise InvalidEventError("no ts_ms in the envelope or its source, and no Kafka timestamp", "ts_ms")
    connector, source_table = _names(message.topic, source)
    position = source_position(source, ts_ms, message)
    try:
        row_key = canonical_json(key)
        before = canonical_json(images["before"]) if images["before"] is not None else None
        after = canonical_json(images["after"]) if images["after"] is not None else None
    except (TypeError, ValueError) as exc:
        # Parsing is total: a value no JSON text can hold quarantines the message instead of failing the batch.
        raise InvalidEventError(f"Debezium message holds a value JSON cannot represent: {exc}") from None
    commit_ms = _first_count(source.get("ts_ms"), ts_ms)
    record: dict[str, Any] = {
        "event_id": change_event_id(connector, source_table, position, op, row_key),
        "family": CHANGE_FAMILY,
        "timestamp": _timestamp(commit_ms),
        "source": message.source,
        "source_table": source_table,
        "connector": connector,
        "op": op,
        "row_key": row_key,
        "before": before,
        "after": after,
        "source_position": position,
        "ts_ms": ts_ms,
    }
    return parse(record, now=now)


@dataclass
class ChangeSequence:
    """Per batch: the last position seen for each row, so a change older than one already seen is refused.

    Redelivered changes (same position) pass: they are the same event and the processor drops the copy.
    """

    decode: ValueDecoder
    now: datetime | None = None
    tombstones: int = 0
    _last: dict[tuple[str, str], str] = field(default_factory=dict)

    def event(self, message: KafkaMessage) -> Event | None:
        """The message's change (None for a tombstone); InvalidEventError, also when its position goes back."""
        event = to_change_event(message, self.decode, self.now)
        if event is None:
            self.tombstones += 1
            return None
        row = (event.fields["source_table"], event.fields["row_key"])
        position = event.fields["source_position"]
        previous = self._last.get(row)
        if previous is not None and position < previous:
            raise InvalidEventError(
                f"source position goes backwards for row {row[1][:80]} of {row[0]}: {position} after {previous}",
                "source_position",
            )
        self._last[row] = position
        return event


def _names(topic: str, source: dict[str, Any]) -> tuple[str, str]:
    """(connector, source table) from the envelope's source block, else from the topic name."""
    name, table = source.get("name"), source.get("table")
    container = source.get("schema") or source.get("db")
    if all(isinstance(part, str) and part for part in (name, container, table)):
        qualified = f"{name}.{container}.{table}"
        # Debezium names the topic after these, replacing characters Kafka refuses; so does the fallback below.
        if _TOPIC_CHARACTERS.fullmatch(qualified):
            return name, qualified
    return topic.split(".", 1)[0], topic


def _timestamp(ts_ms: int) -> str:
    moment = datetime(1970, 1, 1, tzinfo=UTC)
    with contextlib.suppress(OverflowError, ValueError, OSError):
        moment = datetime.fromtimestamp(ts_ms / 1000, UTC)
    # Out of datetime's range: the epoch, which parse() refuses as before 2000 with the value in the reason.
    return format_timestamp(moment)


def _first_count(*values: Any) -> int | None:
    return next((v for v in values if _is_count(v)), None)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


def _json_default(value: Any) -> str:
    """Avro values JSON has no type for, as Debezium's JSON converter would write them."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Decimal):
        # Exact text: a float would lose the digits a NUMERIC column holds.
        return format(value, "f")
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number" if isinstance(value, int | float) else type(value).__name__
    )
