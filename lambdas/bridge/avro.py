"""A small, strict Avro binary decoder for the schemas this repository ships (pure Python, no dependencies).

The Lambda asset carries no third-party packages, so the bridge cannot use fastavro. Avro's binary encoding is
simple enough to decode directly (https://avro.apache.org/docs/current/specification/#binary-encoding): this module
reads every type the specification defines except the `decimal` logical type (returned as raw bytes), and turns
`timestamp-millis`/`timestamp-micros` into ISO-8601 strings so the event contract can read them.

Input comes from Kafka and may be anything, so decoding is defensive: every length and count is checked against
the bytes that remain, recursion depth and the total number of array/map items are bounded, and every failure is
an `AvroDecodeError` that says what was wrong and at which byte.
"""

from __future__ import annotations

import json
import struct
from datetime import UTC, date, datetime, timedelta
from typing import Any

PRIMITIVES = ("null", "boolean", "int", "long", "float", "double", "bytes", "string")
# Deeper than any schema we ship nests; stops a recursive schema from recursing forever on crafted input.
MAX_DEPTH = 64
# Arrays and maps of zero-byte items (null) would otherwise let 10 bytes ask for 2**62 iterations.
MAX_ITEMS = 100_000
_LONG_RANGE = (-(2**63), 2**63 - 1)
_INT_RANGE = (-(2**31), 2**31 - 1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class AvroSchemaError(ValueError):
    """A schema file in the repository is not a valid Avro schema (a bug in the repository, not in the data)."""


class AvroDecodeError(ValueError):
    """The bytes do not decode with the schema; `reason` says why and where."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------------------------------------------------
# Schemas
# --------------------------------------------------------------------------------------------------------------------


class AvroType:
    """One node of a parsed schema."""

    kind: str = ""


class Primitive(AvroType):
    def __init__(self, kind: str, logical: str | None = None) -> None:
        self.kind = kind
        self.logical = logical


class Record(AvroType):
    kind = "record"

    def __init__(self, name: str) -> None:
        self.name = name
        # Filled in after the record is registered, so a field may refer to the record itself.
        self.fields: list[tuple[str, AvroType]] = []


class Enum(AvroType):
    kind = "enum"

    def __init__(self, name: str, symbols: list[str]) -> None:
        self.name = name
        self.symbols = symbols


class Fixed(AvroType):
    kind = "fixed"

    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.size = size


class Array(AvroType):
    kind = "array"

    def __init__(self, items: AvroType) -> None:
        self.items = items


class Map(AvroType):
    kind = "map"

    def __init__(self, values: AvroType) -> None:
        self.values = values


class Union(AvroType):
    kind = "union"

    def __init__(self, branches: list[AvroType]) -> None:
        self.branches = branches


def parse_schema(schema: Any) -> AvroType:
    """Parse an Avro schema given as JSON text or the decoded JSON value; AvroSchemaError if it is not valid."""
    if isinstance(schema, bytes):
        schema = schema.decode("utf-8")
    # JSON text starts with {, [ or "; anything else is a bare type name such as "long".
    if isinstance(schema, str) and schema.lstrip()[:1] in ("{", "[", '"'):
        try:
            schema = json.loads(schema)
        except json.JSONDecodeError as exc:
            raise AvroSchemaError(f"schema is not JSON: {exc}") from None
    return _parse(schema, {}, None)


def _full_name(name: Any, namespace: str | None) -> str:
    if not isinstance(name, str) or not name:
        raise AvroSchemaError(f"named type needs a non-empty string name, got {name!r}")
    if "." in name or not namespace:
        return name
    return f"{namespace}.{name}"


def _parse(schema: Any, names: dict[str, AvroType], namespace: str | None) -> AvroType:
    if isinstance(schema, str):
        if schema in PRIMITIVES:
            return Primitive(schema)
        for candidate in (_full_name(schema, namespace), schema):
            if candidate in names:
                return names[candidate]
        raise AvroSchemaError(f"unknown type {schema!r}")
    if isinstance(schema, list):
        branches = [_parse(branch, names, namespace) for branch in schema]
        if any(isinstance(branch, Union) for branch in branches):
            raise AvroSchemaError("a union may not directly contain another union")
        return Union(branches)
    if not isinstance(schema, dict):
        raise AvroSchemaError(f"a schema is a string, list or object, got {type(schema).__name__}")
    kind = schema.get("type")
    if kind in PRIMITIVES:
        logical = schema.get("logicalType")
        return Primitive(kind, logical if isinstance(logical, str) else None)
    if kind in ("record", "error"):
        name = _full_name(schema.get("name"), schema.get("namespace", namespace))
        record = Record(name)
        names[name] = record
        inner_namespace = name.rsplit(".", 1)[0] if "." in name else None
        fields = schema.get("fields")
        if not isinstance(fields, list):
            raise AvroSchemaError(f"record {name} needs a list of fields")
        for spec in fields:
            if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or "type" not in spec:
                raise AvroSchemaError(f"record {name} has a field without a name or type: {spec!r}")
            record.fields.append((spec["name"], _parse(spec["type"], names, inner_namespace)))
        return record
    if kind == "enum":
        name = _full_name(schema.get("name"), schema.get("namespace", namespace))
        symbols = schema.get("symbols")
        if not isinstance(symbols, list) or not symbols or not all(isinstance(s, str) for s in symbols):
            raise AvroSchemaError(f"enum {name} needs a non-empty list of string symbols")
        names[name] = Enum(name, symbols)
        return names[name]
    if kind == "fixed":
        name = _full_name(schema.get("name"), schema.get("namespace", namespace))
        size = schema.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise AvroSchemaError(f"fixed {name} needs a non-negative integer size")
        names[name] = Fixed(name, size)
        return names[name]
    if kind == "array":
        return Array(_parse(schema.get("items"), names, namespace))
    if kind == "map":
        return Map(_parse(schema.get("values"), names, namespace))
    if isinstance(kind, dict | list) or (isinstance(kind, str) and kind not in PRIMITIVES):
        # {"type": {"type": "array", ...}} and {"type": "SomeNamedType"} are both legal wrappings.
        return _parse(kind, names, namespace)
    raise AvroSchemaError(f"unknown schema type {kind!r}")


# --------------------------------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------------------------------


def decode(data: bytes, schema: AvroType) -> Any:
    """Decode one Avro-encoded datum that must use every byte of `data`; AvroDecodeError otherwise."""
    reader = _Reader(data)
    value = reader.value(schema, 0)
    if reader.pos != len(data):
        raise AvroDecodeError(f"{len(data) - reader.pos} trailing byte(s) after the datum, from byte {reader.pos}")
    return value


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.items = 0

    def long(self, bounds: tuple[int, int] = _LONG_RANGE, what: str = "long") -> int:
        start = self.pos
        result = 0
        shift = 0
        while True:
            if self.pos >= len(self.data):
                raise AvroDecodeError(f"truncated {what} at byte {start}")
            byte = self.data[self.pos]
            self.pos += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
            shift += 7
            if shift >= 70:
                raise AvroDecodeError(f"{what} at byte {start} is longer than 10 bytes")
        value = (result >> 1) ^ -(result & 1)  # zig-zag
        if not bounds[0] <= value <= bounds[1]:
            raise AvroDecodeError(f"{what} at byte {start} is out of range ({value})")
        return value

    def take(self, count: int, what: str) -> bytes:
        if count < 0:
            raise AvroDecodeError(f"negative length {count} for {what} at byte {self.pos}")
        if self.pos + count > len(self.data):
            raise AvroDecodeError(
                f"{what} at byte {self.pos} needs {count} bytes, only {len(self.data) - self.pos} remain"
            )
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def string(self, what: str = "string") -> str:
        start = self.pos
        raw = self.take(self.long(what=f"{what} length"), what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise AvroDecodeError(f"{what} at byte {start} is not UTF-8") from None

    def count(self, what: str) -> int:
        """The item count of the next array/map block (0 ends the value)."""
        start = self.pos
        count = self.long(what=f"{what} block count")
        if count < 0:
            # A negative count is followed by the block's size in bytes, which we do not need.
            count = -count
            if self.long(what=f"{what} block size") < 0:
                raise AvroDecodeError(f"negative {what} block size at byte {start}")
        self.items += count
        if self.items > MAX_ITEMS:
            raise AvroDecodeError(f"{what} at byte {start} holds more than {MAX_ITEMS} items")
        return count

    def value(self, schema: AvroType, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise AvroDecodeError(f"nesting deeper than {MAX_DEPTH} at byte {self.pos}")
        if isinstance(schema, Primitive):
            return self.primitive(schema)
        if isinstance(schema, Record):
            return {name: self.value(field, depth + 1) for name, field in schema.fields}
        if isinstance(schema, Union):
            start = self.pos
            index = self.long(what="union branch")
            if not 0 <= index < len(schema.branches):
                raise AvroDecodeError(
                    f"union branch {index} at byte {start} does not exist (the union has {len(schema.branches)})"
                )
            return self.value(schema.branches[index], depth + 1)
        if isinstance(schema, Enum):
            start = self.pos
            index = self.long(what="enum index")
            if not 0 <= index < len(schema.symbols):
                raise AvroDecodeError(f"enum index {index} at byte {start} is not a symbol of {schema.name}")
            return schema.symbols[index]
        if isinstance(schema, Fixed):
            return self.take(schema.size, f"fixed {schema.name}")
        if isinstance(schema, Array):
            items: list[Any] = []
            while count := self.count("array"):
                items.extend(self.value(schema.items, depth + 1) for _ in range(count))
            return items
        if isinstance(schema, Map):
            entries: dict[str, Any] = {}
            while count := self.count("map"):
                for _ in range(count):
                    key = self.string("map key")
                    entries[key] = self.value(schema.values, depth + 1)
            return entries
        raise AvroDecodeError(f"unsupported schema node {type(schema).__name__}")  # pragma: no cover

    def primitive(self, schema: Primitive) -> Any:
        kind = schema.kind
        if kind == "null":
            return None
        if kind == "boolean":
            start = self.pos
            byte = self.take(1, "boolean")[0]
            if byte > 1:
                raise AvroDecodeError(f"boolean at byte {start} is {byte}, not 0 or 1")
            return byte == 1
        if kind == "int":
            value = self.long(_INT_RANGE, "int")
            return _date(value) if schema.logical == "date" else value
        if kind == "long":
            value = self.long()
            if schema.logical in ("timestamp-millis", "timestamp-micros"):
                return _timestamp(value, 1000 if schema.logical == "timestamp-millis" else 1_000_000)
            return value
        if kind == "float":
            return struct.unpack("<f", self.take(4, "float"))[0]
        if kind == "double":
            return struct.unpack("<d", self.take(8, "double"))[0]
        if kind == "bytes":
            return self.take(self.long(what="bytes length"), "bytes")
        return self.string()


def _timestamp(value: int, per_second: int) -> str:
    seconds, fraction = divmod(value, per_second)
    try:
        moment = _EPOCH + timedelta(seconds=seconds, microseconds=fraction * 1_000_000 // per_second)
    except OverflowError:
        raise AvroDecodeError(f"timestamp {value} is outside the years 1..9999") from None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _date(days: int) -> str:
    try:
        return (date(1970, 1, 1) + timedelta(days=days)).isoformat()
    except OverflowError:
        raise AvroDecodeError(f"date {days} days from 1970-01-01 is outside the years 1..9999") from None


# --------------------------------------------------------------------------------------------------------------------
# Encoding: only what tests and local producers need to build wire-format messages for the shipped schemas.
# --------------------------------------------------------------------------------------------------------------------


def encode(value: Any, schema: AvroType) -> bytes:
    """Avro binary encoding of `value` (the inverse of `decode` for the types our schemas use)."""
    out = bytearray()
    _write(out, value, schema)
    return bytes(out)


def _write_long(out: bytearray, value: int) -> None:
    n = (value << 1) ^ (value >> 63)
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _write(out: bytearray, value: Any, schema: AvroType) -> None:
    if isinstance(schema, Primitive):
        kind = schema.kind
        if kind == "null":
            return
        if kind == "boolean":
            out.append(1 if value else 0)
        elif kind in ("int", "long"):
            if schema.logical in ("timestamp-millis", "timestamp-micros") and isinstance(value, str):
                moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
                scale = 1000 if schema.logical == "timestamp-millis" else 1_000_000
                value = (moment - _EPOCH) // timedelta(microseconds=1_000_000 // scale)
            _write_long(out, value)
        elif kind == "float":
            out += struct.pack("<f", value)
        elif kind == "double":
            out += struct.pack("<d", value)
        else:
            raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
            _write_long(out, len(raw))
            out += raw
    elif isinstance(schema, Record):
        for name, field in schema.fields:
            _write(out, value.get(name), field)
    elif isinstance(schema, Union):
        index = _branch_for(value, schema)
        _write_long(out, index)
        _write(out, value, schema.branches[index])
    elif isinstance(schema, Enum):
        _write_long(out, schema.symbols.index(value))
    elif isinstance(schema, Fixed):
        out += value
    elif isinstance(schema, Array):
        if value:
            _write_long(out, len(value))
            for item in value:
                _write(out, item, schema.items)
        _write_long(out, 0)
    elif isinstance(schema, Map):
        if value:
            _write_long(out, len(value))
            for key, item in value.items():
                _write(out, key, Primitive("string"))
                _write(out, item, schema.values)
        _write_long(out, 0)


def _branch_for(value: Any, schema: Union) -> int:
    python_kinds = {
        "null": type(None),
        "boolean": bool,
        "int": int,
        "long": int,
        "float": float,
        "double": float | int,
        "string": str,
        "bytes": bytes,
        "enum": str,
        "record": dict,
        "map": dict,
        "array": list,
    }
    for index, branch in enumerate(schema.branches):
        expected = python_kinds.get(branch.kind)
        if isinstance(value, bool) and branch.kind != "boolean":
            continue
        if expected is not None and isinstance(value, expected):
            return index
    raise ValueError(f"no branch of the union fits {value!r}")
