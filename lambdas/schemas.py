"""Event contract for streamlake: the one place that says what a record on the stream looks like.

Handlers, producers, the Kafka bridge, local mode, the Glue tables (CDK) and tests all import this module,
so it must stay free of AWS and third-party imports.
"""

from __future__ import annotations

import json
import logging
import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate
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
# Parsing: strict, total, and every rejection says exactly what is wrong.
#
# The shared entry points every stage calls (processor, Firehose transformation, Kafka bridge, local mode, live view):
#   decode(bytes)          -> the JSON object, or InvalidEventError
#   validate(dict, now)    -> Event, or InvalidEventError (dispatches to the family's validator in _FAMILY_VALIDATORS)
#   parse(bytes|dict, now) -> decode + validate
#   judge(bytes|dict, now) -> Verdict: never raises; an unexpected exception becomes "internal error: <type>"
# Adding a family: its name in FAMILIES, its fields in FAMILY_FIELDS and FAMILY_TABLES, a validator in
# _FAMILY_VALIDATORS (and, if its records arrive in another envelope, a decode step that returns a plain dict).
# --------------------------------------------------------------------------------------------------------------------

STUDENT_EVENT_TYPES: tuple[str, ...] = ("login", "logout", "assignment_submitted", "grade_posted", "course_enrolled")
# Student events that belong to a course and must name it.
COURSE_EVENT_TYPES: frozenset[str] = frozenset({"assignment_submitted", "grade_posted", "course_enrolled"})
LOG_LEVELS: tuple[str, ...] = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# The level names Java loggers (log4j, logback) write for WARNING and CRITICAL: documented synonyms, matched by the
# same trimming and case rule as the canonical names.
LOG_LEVEL_SYNONYMS: dict[str, str] = {"WARN": "WARNING", "FATAL": "CRITICAL"}
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
# Arrays and objects nested deeper than this are refused while decoding. The contract's events are flat; the limit
# leaves room for nested payloads in extra fields and keeps every later step (re-encoding, hashing) far below the
# interpreter's recursion limit, so the verdict cannot depend on how deep in the call stack a stage parses.
MAX_NESTING_DEPTH = 32
# What "trimmed" means for the timestamp, the event_id and every enumerated field: ASCII space, tab, CR and LF at
# either end. Nothing else is trimmed (a NUL or a no-break space is part of the value, so the value is refused).
TRIM_CHARACTERS = " \t\r\n"

# The timestamp forms accepted (RFC 3339 section 5.6, plus a date alone and a naive local time read as UTC):
#   YYYY-MM-DD
#   YYYY-MM-DD<sep>hh:mm:ss[.f...][offset]   sep: T, t or one space; 1-9 fraction digits; offset: Z, z or +hh:mm/-hh:mm
# Digits are ASCII only.
_TIMESTAMP = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"
    r"(?:[Tt ](?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})(?:\.(?P<fraction>[0-9]{1,9}))?"
    r"(?P<offset>[Zz]|(?P<sign>[+-])(?P<offset_hour>[0-9]{2}):(?P<offset_minute>[0-9]{2}))?)?"
)
# The canonical UUID text form (RFC 9562 section 4): 8-4-4-4-12 hex digits in any case, optionally as a URN.
_UUID = re.compile(r"(?:urn:uuid:)?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})", re.I | re.ASCII)
# Nil and Max UUIDs (RFC 9562 sections 5.9, 5.10) are placeholders, not ids: every such event would share one id and
# alert de-duplication would drop all but the first.
_RESERVED_UUIDS = {"00000000-0000-0000-0000-000000000000": "nil", "ffffffff-ffff-ffff-ffff-ffffffffffff": "max"}

# Namespace of the event_id derived for records that carry none (the bare lab shape): the same content always gets
# the same id, so a producer's retry of such a record is still deduplicated.
EVENT_ID_NAMESPACE = uuid.UUID("8f7c1f52-5b4e-4c4e-9f61-2d1f0b5a6c3e")

INTERNAL_ERROR_PREFIX = "internal error: "
_log = logging.getLogger(__name__)


class InvalidEventError(ValueError):
    """A record that does not satisfy the event contract; `reason` says why, `field` which field (if one)."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True)
class Verdict:
    """What the contract says about one record: the event, or the reason (and field) it is refused.

    `internal` marks a refusal caused by an unexpected exception of our own code rather than by the record; such a
    record is still quarantined (reason `internal error: <exception type>`), and stages count it separately.
    """

    event: Event | None
    reason: str | None = None
    field: str | None = None
    internal: bool = False

    @property
    def accepted(self) -> bool:
        return self.event is not None


def format_timestamp(moment: datetime) -> str:
    """UTC ISO-8601 with milliseconds and `Z`: one fixed width, so string order is time order (lab query 1)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def internal_error_reason(error: BaseException) -> str:
    """The quarantine reason for a record whose handling raised something unexpected."""
    return f"{INTERNAL_ERROR_PREFIX}{type(error).__name__}"


def judge(data: bytes | str | dict[str, Any], *, now: datetime | None = None) -> Verdict:
    """The verdict on one record, for any input: an event, or a reason. Never raises (except BaseExceptions such as
    KeyboardInterrupt); an unexpected exception is logged and becomes `internal error: <type>`."""
    try:
        return Verdict(parse(data, now=now))
    except InvalidEventError as error:
        return Verdict(None, error.reason, error.field)
    except Exception as error:  # noqa: BLE001 - the record boundary: one record must never fail its batch
        _log.exception("unexpected error while validating a record")
        return Verdict(None, internal_error_reason(error), None, internal=True)


def decode(data: bytes | str) -> dict[str, Any]:
    """A record's bytes as a JSON object; InvalidEventError for bad UTF-8, non-JSON, NaN/Infinity, duplicate keys,
    nesting deeper than MAX_NESTING_DEPTH or a non-object. A leading UTF-8 byte order mark is ignored."""
    if isinstance(data, bytes | bytearray | memoryview):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidEventError(f"not UTF-8: invalid byte at position {exc.start}") from None
    elif isinstance(data, str):
        text = data
    else:
        raise InvalidEventError(f"expected JSON text, got {type(data).__name__}")
    # Windows tools (Notepad, PowerShell's UTF8 encoding) write a byte order mark; RFC 8259 section 8.1 lets a
    # parser ignore it.
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise InvalidEventError("empty record")
    # Text with few brackets cannot nest deeper than it has brackets: only the others pay for counting.
    if text.count("[") + text.count("{") > MAX_NESTING_DEPTH and (depth := nesting_depth(text)) > MAX_NESTING_DEPTH:
        raise InvalidEventError(f"not JSON: nested {depth} levels deep; the limit is {MAX_NESTING_DEPTH}")
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise InvalidEventError(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except _NonFiniteNumberError as exc:
        raise InvalidEventError(f"not JSON: {exc} is not a JSON number") from None
    except _DuplicateKeyError as exc:
        name = exc.args[0]
        field = name if name in _FIELD_NAMES else None
        raise InvalidEventError(f"duplicate key {name[:60]!r}: a JSON object names each key once", field) from None
    except ValueError:
        # Python refuses to convert integers longer than sys.get_int_max_str_digits() (4,300 by default).
        raise InvalidEventError("not JSON: a number has too many digits") from None
    if not isinstance(value, dict):
        raise InvalidEventError(f"expected a JSON object, got {_json_type(value)}")
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(value):
        # `"\ud800"` is valid JSON syntax but no character: the record could never be written out as UTF-8 again.
        raise InvalidEventError("not JSON: a string holds an unpaired UTF-16 surrogate (\\ud800-\\udfff)")
    return value


def nesting_depth(text: str) -> int:
    """How deeply arrays and objects nest in JSON text, counting brackets outside strings (0 for a scalar).

    Computed before decoding, without recursion, so the limit holds at any call-stack depth. Text that is not JSON
    gets some number; the decoder refuses it anyway.
    """
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(_BRACKET_STEP[c] for c in brackets), default=0)


def parse(data: bytes | str | dict[str, Any], *, now: datetime | None = None) -> Event:
    """Decode (if needed) and validate one record against the event contract; InvalidEventError if it is not one."""
    record = data if isinstance(data, dict) else decode(data)
    return validate(record, now=now)


def validate(record: dict[str, Any], *, now: datetime | None = None) -> Event:
    """Validate a decoded record against the event contract.

    A record without `family` is read as the bare lab sensor shape. A record without `event_id` gets one derived from
    its content (uuid5), so the same record always has the same id. `now` bounds future timestamps (default: now).
    """
    if not isinstance(record, dict):
        raise InvalidEventError(f"expected a JSON object, got {_json_type(record)}")
    family = record.get("family")
    family = "sensor" if family is None else canonical_family(family)
    event_id = _event_id(record)
    timestamp = _timestamp(record, now or datetime.now(UTC))
    source = _optional_text(record, "source", MAX_ID_LENGTH)
    fields = _FAMILY_VALIDATORS[family](record)
    return Event(family=family, event_id=event_id, timestamp=timestamp, source=source, fields=fields)


def canonical_family(value: Any) -> str:
    """The family a `family` value names, by the rule of every enumerated field (trimmed, any case)."""
    return canonical_choice("family", value, FAMILIES)


def canonical_choice(name: str, value: Any, choices: tuple[str, ...], synonyms: dict[str, str] | None = None) -> str:
    """The one rule for enumerated fields: surrounding TRIM_CHARACTERS are ignored, ASCII letters match in any case,
    and the canonical spelling (as in `choices`) is returned; a documented synonym maps to its canonical value.
    InvalidEventError naming the field otherwise."""
    if not isinstance(value, str):
        raise InvalidEventError(f"{name} must be a string, got {_json_type(value)}", name)
    key = value.strip(TRIM_CHARACTERS)
    if key.isascii():
        key = key.lower()
        for choice in choices:
            if choice.lower() == key:
                return choice
        for synonym, choice in (synonyms or {}).items():
            if synonym.lower() == key:
                return choice
    raise InvalidEventError(f"unknown {name} {value[:40]!r}; expected one of {', '.join(choices)}", name)


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


class _DuplicateKeyError(ValueError):
    pass


def _reject_constant(constant: str) -> Any:
    raise _NonFiniteNumberError(constant)


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKeyError(key)
            seen.add(key)
    return value


# A JSON string (escapes included) and everything that is not a bracket: what nesting_depth strips before counting.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_BRACKET_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}

# A JSON escape of a surrogate code point; only records containing one pay for the full check below.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _has_lone_surrogate(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


# One decoder for every record: json.loads with an option builds a new decoder per call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, object_pairs_hook=_object)


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
    match = _UUID.fullmatch(value.strip(TRIM_CHARACTERS))
    if match is None:
        raise InvalidEventError(f"event_id is not a UUID: {value[:60]!r}", "event_id")
    canonical = match.group(1).lower()
    if canonical in _RESERVED_UUIDS:
        raise InvalidEventError(
            f"event_id is the {_RESERVED_UUIDS[canonical]} UUID, a placeholder: every event needs its own id",
            "event_id",
        )
    return canonical


def _timestamp(record: dict[str, Any], now: datetime) -> datetime:
    if "timestamp" not in record or record["timestamp"] is None:
        raise InvalidEventError("missing field timestamp", "timestamp")
    value = record["timestamp"]
    if not isinstance(value, str):
        raise InvalidEventError(f"timestamp must be an ISO-8601 string, got {_json_type(value)}", "timestamp")
    match = _TIMESTAMP.fullmatch(value.strip(TRIM_CHARACTERS))
    if match is None:
        raise InvalidEventError(f"timestamp is not ISO-8601: {value[:60]!r}", "timestamp")
    # A timestamp without offset (the lab producer's datetime.now().isoformat()) is taken as UTC.
    year_text, month, day, hour, minute, second, fraction, _, sign, offset_hour, offset_minute = match.groups()
    # Decide on the year before converting: a year far outside the accepted range (year 1 with a positive offset,
    # 9999 with a negative one) would leave datetime's range during the conversion to UTC.
    year = int(year_text)
    if year < EARLIEST_TIMESTAMP.year - 1:
        raise InvalidEventError(f"timestamp {value[:60]!r} is before {EARLIEST_TIMESTAMP:%Y-%m-%d}", "timestamp")
    if year > now.year + 1:
        raise InvalidEventError(f"timestamp {value[:60]!r} is more than a day in the future", "timestamp")
    if second == "60":
        raise InvalidEventError(f"timestamp {value[:60]!r} is a leap second, which cannot be stored", "timestamp")
    try:
        local = datetime(
            year,
            int(month),
            int(day),
            int(hour) if hour else 0,
            int(minute) if minute else 0,
            int(second) if second else 0,
            # Millisecond precision, the precision of the normalised string form (format_timestamp).
            int(fraction[:3].ljust(3, "0")) * 1000 if fraction else 0,
            tzinfo=UTC,
        )
    except ValueError:
        raise InvalidEventError(f"timestamp {value[:60]!r} is not a valid date and time", "timestamp") from None
    if sign is None:
        moment = local
    else:
        if int(offset_hour) > 23 or int(offset_minute) > 59:
            raise InvalidEventError(f"timestamp {value[:60]!r} has an invalid UTC offset", "timestamp")
        offset = timedelta(minutes=int(offset_hour) * 60 + int(offset_minute))
        moment = local - offset if sign == "+" else local + offset
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


def _choice(record: dict[str, Any], name: str, choices: tuple[str, ...], synonyms: dict[str, str] | None = None) -> str:
    return canonical_choice(name, _require(record, name), choices, synonyms)


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
        "level": _choice(record, "level", LOG_LEVELS, LOG_LEVEL_SYNONYMS),
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
    if nesting_depth(value) > MAX_NESTING_DEPTH:
        # The same explicit limit as a record's own JSON (decode), independent of the caller's stack depth.
        raise InvalidEventError(f"{name} is nested deeper than {MAX_NESTING_DEPTH} levels", name)
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
    # Decoded, not compared as text: "{ }" and "{\n}" are empty objects too.
    if row_key is not None and not _DECODER.decode(row_key):
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
# Every field name of the contract: a duplicate key names its field when it is one of these.
_FIELD_NAMES = frozenset(f.name for f in COMMON_FIELDS) | frozenset(
    f.name for fields in FAMILY_FIELDS.values() for f in fields
)
