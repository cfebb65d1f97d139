"""Event contract for streamlake: the one place that says what a record on the stream looks like.

Handlers, producers, the Kafka bridge, local mode, the Glue tables (CDK) and tests all import this module,
so it must stay free of AWS and third-party imports.
"""

from __future__ import annotations

from dataclasses import dataclass

FAMILIES: tuple[str, ...] = ("sensor", "student", "log")

# Glue table holding each family in the lake (the lab queries run on `sensor_data`).
FAMILY_TABLES: dict[str, str] = {"sensor": "sensor_data", "student": "student_events", "log": "system_logs"}


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
