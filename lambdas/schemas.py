"""Event contract for streamlake: the one place that says what a record on the stream looks like.

Handlers, producers, the Kafka bridge, local mode, the Glue tables (CDK) and tests all import this module,
so it must stay free of AWS and third-party imports.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

FAMILIES: tuple[str, ...] = ("sensor", "student", "log", "change")

# Glue table holding each family in the lake (the lab queries run on `sensor_data`).
FAMILY_TABLES: dict[str, str] = {
    "sensor": "sensor_data",
    "student": "student_events",
    "log": "system_logs",
    "change": "table_changes",
}


@dataclass(frozen=True)
class Field:
    """One field of an event: its JSON name, Glue/Hive column type, whether it is required, and what it means."""

    name: str
    glue_type: str
    required: bool
    doc: str


COMMON_FIELDS: tuple[Field, ...] = (
    Field("event_id", "string", False, "UUID used for idempotency (derived from the content when absent)"),
    Field("family", "string", False, "sensor | student | log (absent in the bare lab sensor shape)"),
    Field("timestamp", "string", True, "ISO-8601 event time, normalised to UTC"),
    Field("source", "string", False, "producer name, or Kafka topic/partition/offset"),
)

FAMILY_FIELDS: dict[str, tuple[Field, ...]] = {
    "sensor": (
        Field("sensor_id", "string", True, "sensor identifier"),
        Field("temperature", "double", True, "degrees Celsius"),
        Field("humidity", "double", True, "relative humidity, percent 0-100"),
        Field("location", "string", True, "where the sensor is"),
    ),
    "student": (
        Field("student_id", "string", True, "student identifier"),
        Field("event_type", "string", True, "login | logout | assignment_submitted | grade_posted | course_enrolled"),
        Field("course_id", "string", False, "course the event belongs to"),
        Field("grade", "double", False, "grade, required for grade_posted"),
        Field("channel", "string", False, "notification channel: email | sms"),
    ),
    "log": (
        Field("level", "string", True, "DEBUG | INFO | WARNING | ERROR | CRITICAL"),
        Field("service", "string", True, "service that wrote the log line"),
        Field("message", "string", True, "log message"),
        Field("host", "string", False, "host name"),
        Field("trace_id", "string", False, "trace identifier"),
    ),
    # Change data capture (Debezium envelopes, decoded by lambdas/bridge/debezium.py): one row per change of one
    # source row. `source_table` is a lake partition, not a Parquet column (streamlake/lake.py).
    "change": (
        Field("source_table", "string", True, "captured table: <connector>.<schema or database>.<table>"),
        Field("connector", "string", True, "Debezium connector (topic prefix / source.name)"),
        Field("op", "string", True, "c insert | u update | d delete | r snapshot read"),
        Field("row_key", "string", True, "primary key as canonical JSON (sorted keys), from the Kafka key"),
        Field("before", "string", False, "row before the change, JSON text (null for c and r)"),
        Field("after", "string", False, "row after the change, JSON text (null for d)"),
        Field("source_position", "string", True, "sortable source position: lsn:..., binlog:...:...:..., ts:...:..."),
        Field("ts_ms", "bigint", True, "when the connector processed the change (epoch milliseconds)"),
    ),
}


def lake_columns(family: str) -> list[tuple[str, str]]:
    """(column, Glue type) pairs of the lake table for one family, common fields first."""
    return [(f.name, f.glue_type) for f in COMMON_FIELDS + FAMILY_FIELDS[family]]


def all_lake_columns() -> list[tuple[str, str]]:
    """Union of every family's columns, in a stable order: the schema Firehose converts records with."""
    seen: dict[str, str] = {}
    for family in FAMILIES:
        for name, glue_type in lake_columns(family):
            seen.setdefault(name, glue_type)
    return list(seen.items())


# --------------------------------------------------------------------------------------------------------------------
# Parsing: strict, and every rejection says exactly what is wrong.
# --------------------------------------------------------------------------------------------------------------------

STUDENT_EVENT_TYPES: tuple[str, ...] = ("login", "logout", "assignment_submitted", "grade_posted", "course_enrolled")
# Student events that belong to a course and must name it.
COURSE_EVENT_TYPES: frozenset[str] = frozenset({"assignment_submitted", "grade_posted", "course_enrolled"})
LOG_LEVELS: tuple[str, ...] = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_LEVEL_ALIASES = {"WARN": "WARNING", "FATAL": "CRITICAL"}
CHANNELS: tuple[str, ...] = ("email", "sms")

# Operating range of common digital temperature sensors (DS18B20, SHT3x: -55..125 °C). A reading outside it is a
# broken sensor or a unit mix-up (Fahrenheit, Kelvin), not weather.
TEMPERATURE_RANGE_C: tuple[float, float] = (-55.0, 125.0)
HUMIDITY_RANGE: tuple[float, float] = (0.0, 100.0)
# Grades are percentages; PASS_MARK is the lowest passing grade.
GRADE_RANGE: tuple[float, float] = (0.0, 100.0)
PASS_MARK = 60.0

MAX_ID_LENGTH = 256
MAX_TEXT_LENGTH = 64 * 1024
# Events stamped further than this in the future come from a broken clock.
MAX_CLOCK_SKEW = timedelta(days=1)
EARLIEST_TIMESTAMP = datetime(2000, 1, 1, tzinfo=UTC)

# Namespace of the event_id derived for records that carry none (the bare lab shape): the same content always gets
# the same id, so a producer's retry of such a record is still deduplicated.
# The form producers send; other forms uuid.UUID accepts ({...}, urn:uuid:, no hyphens) take the slow path.
_CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
EVENT_ID_NAMESPACE = uuid.UUID("8f7c1f52-5b4e-4c4e-9f61-2d1f0b5a6c3e")


class InvalidEventError(ValueError):
    """A record that does not satisfy the event contract; `reason` says why, `field` which field (if one)."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


@dataclass(frozen=True)
class Event:
    """A valid event: its family, id, UTC timestamp, source, and the family's fields (normalised)."""

    family: str
    event_id: str
    timestamp: datetime
    source: str | None
    fields: dict[str, Any]

    def to_record(self) -> dict[str, Any]:
        """The normalised JSON object: what producers should send and what the lake stores."""
        record: dict[str, Any] = {
            "event_id": self.event_id,
            "family": self.family,
            "timestamp": format_timestamp(self.timestamp),
        }
        if self.source is not None:
            record["source"] = self.source
        record.update({k: v for k, v in self.fields.items() if v is not None})
        return record

    def to_json(self) -> str:
        return json.dumps(self.to_record(), ensure_ascii=False, separators=(",", ":"))


def format_timestamp(moment: datetime) -> str:
    """UTC ISO-8601 with milliseconds and `Z`: one fixed width, so string order is time order (lab query 1)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def decode(data: bytes | str) -> dict[str, Any]:
    """A record's bytes as a JSON object; InvalidEventError for bad UTF-8, non-JSON, NaN/Infinity or a non-object."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidEventError(f"not UTF-8: invalid byte at position {exc.start}") from None
    else:
        text = data
    if not text.strip():
        raise InvalidEventError("empty record")
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise InvalidEventError(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except _NonFiniteNumberError as exc:
        raise InvalidEventError(f"not JSON: {exc} is not a JSON number") from None
    except RecursionError:
        # json's scanner recurses per nesting level: `[[[[...` a few thousand deep exhausts the stack.
        raise InvalidEventError("not JSON: nested too deeply") from None
    except ValueError:
        # Python refuses to convert integers longer than sys.get_int_max_str_digits() (4,300 by default).
        raise InvalidEventError("not JSON: a number has too many digits") from None
    if not isinstance(value, dict):
        raise InvalidEventError(f"expected a JSON object, got {_json_type(value)}")
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(value):
        # `"\ud800"` is valid JSON syntax but no character: the record could never be written out as UTF-8 again.
        raise InvalidEventError("not JSON: a string holds an unpaired UTF-16 surrogate (\\ud800-\\udfff)")
    return value


def parse(data: bytes | str | dict[str, Any], *, now: datetime | None = None) -> Event:
    """Decode (if needed) and validate one record against the event contract.

    A record without `family` is read as the bare lab sensor shape. A record without `event_id` gets one derived from
    its content (uuid5), so the same record always has the same id. `now` bounds future timestamps (default: now).
    """
    record = decode(data) if isinstance(data, bytes | str) else data
    if not isinstance(record, dict):
        raise InvalidEventError(f"expected a JSON object, got {_json_type(record)}")
    family = record.get("family")
    if family is None:
        family = "sensor"
    elif not isinstance(family, str):
        raise InvalidEventError(f"family must be a string, got {_json_type(family)}", "family")
    elif family not in FAMILIES:
        raise InvalidEventError(f"unknown family {family!r}; expected one of {', '.join(FAMILIES)}", "family")

    event_id = _event_id(record)
    timestamp = _timestamp(record, now or datetime.now(UTC))
    source = _optional_text(record, "source", MAX_ID_LENGTH)
    fields = _FAMILY_VALIDATORS[family](record)
    return Event(family=family, event_id=event_id, timestamp=timestamp, source=source, fields=fields)


def derive_event_id(record: dict[str, Any]) -> str:
    """uuid5 of the record's canonical JSON (sorted keys), without any event_id it carries."""
    content = {k: v for k, v in record.items() if k != "event_id"}
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, canonical))


def new_event(family: str, *, source: str, timestamp: datetime | None = None, **fields: Any) -> dict[str, Any]:
    """A fresh, valid record of `family` (random event_id, now in UTC unless given): what producers send."""
    event = parse(
        {
            "event_id": str(uuid.uuid4()),
            "family": family,
            "timestamp": format_timestamp(timestamp or datetime.now(UTC)),
            "source": source,
            **fields,
        }
    )
    return event.to_record()


class _NonFiniteNumberError(ValueError):
    pass


def _reject_constant(constant: str) -> Any:
    raise _NonFiniteNumberError(constant)


# A JSON escape of a surrogate code point; only records containing one pay for the full check below.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _has_lone_surrogate(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


# One decoder for every record: json.loads with an option builds a new decoder per call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _event_id(record: dict[str, Any]) -> str:
    value = record.get("event_id")
    if value is None:
        return derive_event_id(record)
    if not isinstance(value, str):
        raise InvalidEventError(f"event_id must be a UUID string, got {_json_type(value)}", "event_id")
    if _CANONICAL_UUID.fullmatch(value):
        return value.lower()
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidEventError(f"event_id is not a UUID: {value[:60]!r}", "event_id") from None


def _timestamp(record: dict[str, Any], now: datetime) -> datetime:
    if "timestamp" not in record or record["timestamp"] is None:
        raise InvalidEventError("missing field timestamp", "timestamp")
    value = record["timestamp"]
    if not isinstance(value, str):
        raise InvalidEventError(f"timestamp must be an ISO-8601 string, got {_json_type(value)}", "timestamp")
    text = value.strip()
    # fromisoformat takes every ISO-8601 form except a lowercase `z`; older writers also use a space separator.
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidEventError(f"timestamp is not ISO-8601: {value[:60]!r}", "timestamp") from None
    # A naive timestamp (the lab producer's datetime.now().isoformat()) is taken as UTC.
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    # Millisecond precision, the precision of the normalised string form (format_timestamp).
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    if moment < EARLIEST_TIMESTAMP:
        raise InvalidEventError(f"timestamp {value[:60]!r} is before {EARLIEST_TIMESTAMP:%Y-%m-%d}", "timestamp")
    if moment > now + MAX_CLOCK_SKEW:
        raise InvalidEventError(f"timestamp {value[:60]!r} is more than a day in the future", "timestamp")
    return moment


def _require(record: dict[str, Any], name: str) -> Any:
    value = record.get(name)
    if value is None:
        raise InvalidEventError(f"missing field {name}", name)
    return value


def _text(record: dict[str, Any], name: str, max_length: int) -> str:
    return _check_text(name, _require(record, name), max_length)


def _optional_text(record: dict[str, Any], name: str, max_length: int) -> str | None:
    value = record.get(name)
    return None if value is None else _check_text(name, value, max_length)


def _check_text(name: str, value: Any, max_length: int) -> str:
    if not isinstance(value, str):
        raise InvalidEventError(f"{name} must be a string, got {_json_type(value)}", name)
    if not value.strip():
        raise InvalidEventError(f"{name} is empty", name)
    if len(value) > max_length:
        raise InvalidEventError(f"{name} is {len(value)} characters long; the limit is {max_length}", name)
    return value


def _number(record: dict[str, Any], name: str, bounds: tuple[float, float], unit: str = "") -> float:
    return _check_number(name, _require(record, name), bounds, unit)


def _check_number(name: str, value: Any, bounds: tuple[float, float], unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidEventError(f"{name} must be a number, got {_json_type(value)}", name)
    number = float(value) if not isinstance(value, int) or abs(value) < 2**63 else math.inf
    low, high = bounds
    if not math.isfinite(number):
        raise InvalidEventError(f"{name} is not a finite number (too large for a double)", name)
    if not low <= number <= high:
        raise InvalidEventError(f"{name} {value:g}{unit} is outside {low:g}..{high:g}{unit}", name)
    return number


def _choice(record: dict[str, Any], name: str, choices: tuple[str, ...], aliases: dict[str, str] | None = None) -> str:
    value = _require(record, name)
    if not isinstance(value, str):
        raise InvalidEventError(f"{name} must be a string, got {_json_type(value)}", name)
    normalised = value.strip()
    if aliases is not None:
        normalised = normalised.upper()
        normalised = aliases.get(normalised, normalised)
    if normalised not in choices:
        raise InvalidEventError(f"unknown {name} {value[:40]!r}; expected one of {', '.join(choices)}", name)
    return normalised


def _sensor_fields(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "sensor_id": _text(record, "sensor_id", MAX_ID_LENGTH),
        "temperature": _number(record, "temperature", TEMPERATURE_RANGE_C, " °C"),
        "humidity": _number(record, "humidity", HUMIDITY_RANGE, " %"),
        "location": _text(record, "location", MAX_ID_LENGTH),
    }


def _student_fields(record: dict[str, Any]) -> dict[str, Any]:
    event_type = _choice(record, "event_type", STUDENT_EVENT_TYPES)
    course_id = (
        _text(record, "course_id", MAX_ID_LENGTH)
        if event_type in COURSE_EVENT_TYPES
        else _optional_text(record, "course_id", MAX_ID_LENGTH)
    )
    grade_value = record.get("grade")
    if event_type == "grade_posted":
        grade: float | None = _number(record, "grade", GRADE_RANGE)
    elif grade_value is not None:
        raise InvalidEventError(f"grade is only allowed on grade_posted events, not {event_type}", "grade")
    else:
        grade = None
    channel = record.get("channel")
    if channel is not None:
        channel = _choice(record, "channel", CHANNELS)
    return {
        "student_id": _text(record, "student_id", MAX_ID_LENGTH),
        "event_type": event_type,
        "course_id": course_id,
        "grade": grade,
        "channel": channel,
    }


def _log_fields(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "level": _choice(record, "level", LOG_LEVELS, _LEVEL_ALIASES),
        "service": _text(record, "service", MAX_ID_LENGTH),
        "message": _text(record, "message", MAX_TEXT_LENGTH),
        "host": _optional_text(record, "host", MAX_ID_LENGTH),
        "trace_id": _optional_text(record, "trace_id", MAX_ID_LENGTH),
    }


# --------------------------------------------------------------------------------------------------------------------
# The change family (CDC). Kept in one block: lambdas/bridge/debezium.py builds these records from Debezium
# envelopes; this validator is what every stage (bridge, processor, Firehose transformation) re-checks.
# --------------------------------------------------------------------------------------------------------------------

CHANGE_OPS: tuple[str, ...] = ("c", "u", "d", "r")
# A source table becomes an S3 partition (source_table=<name>/): Debezium's topic-name characters only, no `/`.
_SOURCE_TABLE = re.compile(r"[A-Za-z0-9_$-][A-Za-z0-9._$-]{0,254}")
# Positions are compared as strings, so every form is fixed-width per kind (see debezium.source_position).
_SOURCE_POSITION = re.compile(r"lsn:\d{20}|binlog:\d{10}:\d{20}:\d{10}|ts:\d{20}:\d{20}")
# A row image may be large (text columns); the Kinesis record limit (1 MiB) bounds the record anyway.
MAX_ROW_IMAGE_LENGTH = 512 * 1024
_MAX_TS_MS = 2**53


SOURCE_TABLE_PARTITION = "source_table"


def partition_value(event: Event) -> str:
    """The `family` dynamic partitioning key Firehose's transformation returns for `event` (streamlake/lake.py).

    Firehose puts it into the prefix `processed/family=<value>/`, so for a change it carries the source table level
    too (`change/source_table=<t>`): one prefix expression serves every family. source_table is restricted to
    Debezium's topic-name characters (no `/`), so the value cannot escape its level.
    """
    if event.family == "change":
        return f"change/{SOURCE_TABLE_PARTITION}={event.fields['source_table']}"
    return event.family


def _json_object_text(record: dict[str, Any], name: str, required: bool) -> str | None:
    value = record.get(name)
    if value is None:
        if required:
            raise InvalidEventError(f"missing field {name}", name)
        return None
    _check_text(name, value, MAX_ROW_IMAGE_LENGTH)
    try:
        parsed = _DECODER.decode(value)
    except (ValueError, RecursionError):
        raise InvalidEventError(f"{name} is not JSON text", name) from None
    if not isinstance(parsed, dict):
        raise InvalidEventError(f"{name} must be a JSON object, got {_json_type(parsed)}", name)
    return value


def _change_fields(record: dict[str, Any]) -> dict[str, Any]:
    op = _choice(record, "op", CHANGE_OPS)
    source_table = _text(record, "source_table", MAX_ID_LENGTH)
    if not _SOURCE_TABLE.fullmatch(source_table):
        raise InvalidEventError(
            f"source_table {source_table[:60]!r} may only hold letters, digits and . _ $ - (Debezium topic names)",
            "source_table",
        )
    row_key = _json_object_text(record, "row_key", True)
    if row_key is not None and row_key.strip() == "{}":
        raise InvalidEventError("row_key is empty: a change needs its row's primary key", "row_key")
    before = _json_object_text(record, "before", False)
    after = _json_object_text(record, "after", op != "d")
    if op == "d" and after is not None:
        raise InvalidEventError("a delete (op d) has no after image", "after")
    position = _text(record, "source_position", MAX_ID_LENGTH)
    if not _SOURCE_POSITION.fullmatch(position):
        raise InvalidEventError(f"source_position {position[:60]!r} is not a streamlake position", "source_position")
    ts_ms = _require(record, "ts_ms")
    if isinstance(ts_ms, bool) or not isinstance(ts_ms, int) or not 0 <= ts_ms < _MAX_TS_MS:
        raise InvalidEventError(f"ts_ms must be a non-negative integer (epoch ms), got {str(ts_ms)[:40]}", "ts_ms")
    return {
        "source_table": source_table,
        "connector": _text(record, "connector", MAX_ID_LENGTH),
        "op": op,
        "row_key": row_key,
        "before": before,
        "after": after,
        "source_position": position,
        "ts_ms": ts_ms,
    }


_FAMILY_VALIDATORS = {
    "sensor": _sensor_fields,
    "student": _student_fields,
    "log": _log_fields,
    "change": _change_fields,
}
