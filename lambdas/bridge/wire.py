"""Kafka message values as JSON objects: plain JSON, or the Confluent Schema Registry wire format.

Confluent's serializers prefix the payload with a magic byte 0 and the 4-byte big-endian schema id; the payload is
Avro binary (Avro serializer) or UTF-8 JSON (JSON Schema serializer). Plain JSON never starts with a 0 byte, so the
first byte tells the two apart.

The bridge does not call a schema registry at run time (no network dependency, nothing to authenticate): the
schemas it accepts live in `lambdas/bridge/schemas/`, one file per schema, named `<schema id>-<name>.avsc` (Avro)
or `<schema id>-<name>.json` (JSON Schema), with the id the registry assigned. A message with an id that is not
there is quarantined with that id in the reason, so adding a schema is: register it, copy it here under its id.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from lambdas.bridge import avro
from lambdas.schemas import InvalidEventError
from lambdas.schemas import decode as decode_json

MAGIC_BYTE = 0
HEADER_SIZE = 5  # magic byte + 4-byte schema id
SCHEMA_DIRECTORY = Path(__file__).resolve().parent / "schemas"
# Bounds the work a hostile JSON Schema payload can cause in the validator below.
_MAX_JSON_DEPTH = 32


class UndecodableMessageError(InvalidEventError):
    """A Kafka message value that is not a JSON object in any format the bridge reads; `reason` says why."""


@dataclass(frozen=True)
class RegisteredSchema:
    """One schema from `schemas/`: its registry id, serializer kind (avro | json), name and parsed form."""

    schema_id: int
    kind: str
    name: str
    parsed: Any  # avro.AvroType for avro, the JSON Schema object for json


class SchemaRegistry:
    """The schemas the bridge accepts, by schema id."""

    def __init__(self, schemas: dict[int, RegisteredSchema]) -> None:
        self._schemas = dict(schemas)

    @classmethod
    def from_directory(cls, directory: Path = SCHEMA_DIRECTORY) -> SchemaRegistry:
        """Load every `<id>-<name>.avsc|.json` file; ValueError naming the file if one is malformed."""
        schemas: dict[int, RegisteredSchema] = {}
        for path in sorted(directory.iterdir()):
            if path.suffix not in (".avsc", ".json"):
                continue
            head, _, name = path.stem.partition("-")
            if not head.isdigit() or not name:
                raise ValueError(f"{path.name}: schema files are named <schema id>-<name>{path.suffix}")
            schema_id = int(head)
            if schema_id in schemas:
                raise ValueError(f"{path.name}: schema id {schema_id} is used by two files")
            text = path.read_text(encoding="utf-8")
            try:
                if path.suffix == ".avsc":
                    schemas[schema_id] = RegisteredSchema(schema_id, "avro", name, avro.parse_schema(text))
                else:
                    schemas[schema_id] = RegisteredSchema(schema_id, "json", name, json.loads(text))
            except (avro.AvroSchemaError, json.JSONDecodeError) as exc:
                raise ValueError(f"{path.name}: {exc}") from exc
        return cls(schemas)

    def get(self, schema_id: int) -> RegisteredSchema | None:
        return self._schemas.get(schema_id)

    def ids(self) -> list[int]:
        return sorted(self._schemas)


@lru_cache(maxsize=1)
def default_registry() -> SchemaRegistry:
    """The schemas shipped in the repository (read once per process)."""
    return SchemaRegistry.from_directory()


def decode_value(value: bytes | None, registry: SchemaRegistry) -> dict[str, Any]:
    """The message value as a JSON object; UndecodableMessageError (or InvalidEventError for bad JSON) otherwise."""
    if value is None:
        raise UndecodableMessageError("tombstone: the message has no value")
    if not value or value[0] != MAGIC_BYTE:
        return decode_json(value)
    if len(value) < HEADER_SIZE:
        raise UndecodableMessageError(
            f"wire format header truncated: {len(value)} bytes, a magic byte and a 4-byte schema id need {HEADER_SIZE}"
        )
    (schema_id,) = struct.unpack(">I", value[1:HEADER_SIZE])
    schema = registry.get(schema_id)
    if schema is None:
        raise UndecodableMessageError(
            f"schema id {schema_id} is not in lambdas/bridge/schemas (known: {', '.join(map(str, registry.ids()))})"
        )
    payload = value[HEADER_SIZE:]
    if schema.kind == "avro":
        try:
            record = avro.decode(payload, schema.parsed)
        except avro.AvroDecodeError as exc:
            raise UndecodableMessageError(f"Avro schema {schema_id} ({schema.name}): {exc.reason}") from None
        if not isinstance(record, dict):
            raise UndecodableMessageError(f"Avro schema {schema_id} ({schema.name}) does not describe a record")
        return record
    try:
        record = decode_json(payload)
    except InvalidEventError as exc:
        raise UndecodableMessageError(f"JSON Schema {schema_id} ({schema.name}): {exc.reason}") from None
    problem = json_schema_problem(record, schema.parsed)
    if problem is not None:
        raise UndecodableMessageError(f"JSON Schema {schema_id} ({schema.name}): {problem}")
    return record


def wire_message(schema_id: int, payload: bytes) -> bytes:
    """Prefix a serialized payload with the wire format header (what Confluent's serializers produce)."""
    return bytes([MAGIC_BYTE]) + struct.pack(">I", schema_id) + payload


def encode_avro(record: dict[str, Any], schema_id: int, registry: SchemaRegistry | None = None) -> bytes:
    """A wire-format Avro message for a shipped schema (for producers, tests and the demo)."""
    schema = (registry or default_registry()).get(schema_id)
    if schema is None or schema.kind != "avro":
        raise ValueError(f"no Avro schema with id {schema_id}")
    return wire_message(schema_id, avro.encode(record, schema.parsed))


def encode_json_schema(record: dict[str, Any], schema_id: int) -> bytes:
    """A wire-format JSON Schema message (the serializer writes plain UTF-8 JSON after the header)."""
    return wire_message(schema_id, json.dumps(record, separators=(",", ":")).encode("utf-8"))


# The subset of JSON Schema our schema files use: type, enum, required, properties, items, maxLength. The event
# contract checks values in depth afterwards; this check only makes a producer's schema violation visible as such.
_JSON_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def json_schema_problem(value: Any, schema: Any, path: str = "", depth: int = 0) -> str | None:
    """First way `value` breaks `schema` (subset of JSON Schema), or None if it conforms."""
    if not isinstance(schema, dict):
        return None
    where = path or "the value"
    if depth > _MAX_JSON_DEPTH:
        return f"{where} is nested deeper than {_MAX_JSON_DEPTH} levels"
    expected = schema.get("type")
    if expected is not None:
        kinds = expected if isinstance(expected, list) else [expected]
        if not any(_JSON_TYPES.get(kind, lambda v: False)(value) for kind in kinds):
            return f"{where} must be {' or '.join(map(str, kinds))}"
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join("null" if v is None else str(v) for v in schema["enum"])
        return f"{where} must be one of {allowed}"
    if isinstance(value, str) and isinstance(schema.get("maxLength"), int) and len(value) > schema["maxLength"]:
        return f"{where} is longer than {schema['maxLength']} characters"
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                return f"missing required property {path + '.' if path else ''}{name}"
        for name, subschema in schema.get("properties", {}).items():
            if name in value:
                problem = json_schema_problem(value[name], subschema, f"{path}.{name}" if path else name, depth + 1)
                if problem:
                    return problem
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            problem = json_schema_problem(item, schema["items"], f"{where}[{index}]", depth + 1)
            if problem:
                return problem
    return None
