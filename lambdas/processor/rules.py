"""Business rules of the stream processor: enrichment and alert decisions, as plain functions with no AWS imports.

The handler applies them per record and per batch; producers, local mode and tests call them directly.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from lambdas.schemas import PASS_MARK, Event, format_timestamp

ALERTING_LOG_LEVELS = frozenset({"ERROR", "CRITICAL"})
# SNS Publish/PublishBatch: "Subjects must be UTF-8 text with no line breaks or control characters, and less than 100
# characters long" (API reference, Subject). SNS refuses such an entry, so the alert would be retried until given up.
SUBJECT_LIMIT = 99
# Message attribute values are kept short (subscribers filter on them) and free of control characters.
ATTRIBUTE_LIMIT = 256
MESSAGE_LIMIT = 16 * 1024
_MILLISECOND = timedelta(milliseconds=1)  # built once: lag_ms runs for every record of every batch


@dataclass(frozen=True)
class Position:
    """Where a record sits in the stream."""

    shard_id: str
    sequence_number: str
    arrival: datetime


@dataclass(frozen=True)
class Alert:
    """A message for a person, sent to the alerts topic once per `alert_id` however often its batch is retried.

    `kind` is high_temperature | error_burst | student_notification; `attributes` become SNS message attributes
    (subscribers filter on them, e.g. kind, lifecycle or channel). High-temperature and error-burst alerts are
    decided by lambdas.processor.lifecycle.
    """

    alert_id: str
    kind: str
    subject: str
    message: str
    attributes: dict[str, str]


@dataclass
class Thresholds:
    """The business alerts' settings (lambdas.processor.lifecycle says how each is used)."""

    high_temperature_c: float
    error_burst_count: int
    error_burst_window_seconds: int
    high_temperature_hysteresis_c: float = 2.0
    alert_reminder_seconds: int = 3600


# -- enrichment ---------------------------------------------------------------------------------------------------


def enrich(event: Event, position: Position, now: datetime) -> dict[str, Any]:
    """The event as the processor sees it: normalised fields plus where and when it was read, and derived values."""
    record = event.to_record()
    record["ingested_at"] = format_timestamp(position.arrival)
    record["processed_at"] = format_timestamp(now)
    record["shard_id"] = position.shard_id
    record["sequence_number"] = position.sequence_number
    record["lag_ms"] = lag_ms(event, now)
    if event.family == "sensor":
        record["heat_index_c"] = round(heat_index_c(event.fields["temperature"], event.fields["humidity"]), 2)
    elif event.family == "student" and event.fields["event_type"] == "grade_posted":
        record["passed"] = event.fields["grade"] >= PASS_MARK
    return record


def lag_ms(event: Event, now: datetime) -> float:
    """Milliseconds from the event's own timestamp to `now` (negative when the producer's clock runs ahead)."""
    return (now - event.timestamp) / _MILLISECOND


def heat_index_c(temperature_c: float, humidity: float) -> float:
    """Apparent temperature (US National Weather Service heat index: Steadman's simple form, the Rothfusz
    regression above 80 °F with its low- and high-humidity adjustments), in °C."""
    t = temperature_c * 9 / 5 + 32
    simple = 0.5 * (t + 61.0 + (t - 68.0) * 1.2 + humidity * 0.094)
    if (simple + t) / 2 < 80:
        return (simple - 32) * 5 / 9
    hi = (
        -42.379
        + 2.04901523 * t
        + 10.14333127 * humidity
        - 0.22475541 * t * humidity
        - 0.00683783 * t * t
        - 0.05481717 * humidity * humidity
        + 0.00122874 * t * t * humidity
        + 0.00085282 * t * humidity * humidity
        - 0.00000199 * t * t * humidity * humidity
    )
    if humidity < 13 and 80 <= t <= 112:
        hi -= ((13 - humidity) / 4) * math.sqrt((17 - abs(t - 95)) / 17)
    elif humidity > 85 and 80 <= t <= 87:
        hi += ((humidity - 85) / 10) * ((87 - t) / 5)
    return (hi - 32) * 5 / 9


# -- alerts -------------------------------------------------------------------------------------------------------


def student_notification(event: Event) -> Alert | None:
    """A notification for the student on every grade_posted, and on any student event that names a channel."""
    if event.family != "student":
        return None
    f = event.fields
    event_type = f["event_type"]
    if event_type != "grade_posted" and f["channel"] is None:
        return None
    channel = f["channel"] or "email"
    course = f" in {f['course_id']}" if f["course_id"] else ""
    when = format_timestamp(event.timestamp)
    if event_type == "grade_posted":
        outcome = "passed" if f["grade"] >= PASS_MARK else f"below the pass mark of {PASS_MARK:g}"
        subject = f"New grade{course}: {f['grade']:g}"
        body = [f"Hello {f['student_id']},", "", f"A grade of {f['grade']:g}/100 was posted{course} ({outcome})."]
    else:
        subject = f"{_EVENT_TITLES[event_type]}{course}"
        body = [f"Hello {f['student_id']},", "", f"{_EVENT_TITLES[event_type]}{course} at {when} (UTC)."]
    if channel == "sms":
        # An SMS is one short line; the e-mail form adds context and the reference.
        message = " ".join(line for line in body[2:] if line)
    else:
        message = "\n".join([*body, "", f"Time: {when} (UTC)", f"Reference: {event.event_id}"])
    return Alert(
        alert_id=f"notification#{event.event_id}",
        kind="student_notification",
        subject=sns_subject(subject),
        message=message,
        attributes={
            "kind": "student_notification",
            "family": "student",
            "student_id": sns_attribute(f["student_id"]),
            "channel": channel,
            "event_type": event_type,
        },
    )


_EVENT_TITLES = {
    "login": "New sign-in to your account",
    "logout": "You signed out",
    "assignment_submitted": "Assignment received",
    "course_enrolled": "Enrolment confirmed",
    "grade_posted": "New grade",
}


def sns_subject(text: str) -> str:
    """`text` as an SNS subject: control characters, line breaks and other separators become single spaces, the
    ends are trimmed, and a longer subject is cut to SUBJECT_LIMIT UTF-16 code units (the way AWS counts) with `...`.
    """
    flat = " ".join(_without_controls(text, " ").split())
    if _utf16_length(flat) <= SUBJECT_LIMIT:
        return flat or "(no subject)"
    cut = flat
    while _utf16_length(cut) > SUBJECT_LIMIT - 3:
        cut = cut[:-1]
    return cut.rstrip() + "..."


def sns_attribute(value: str) -> str:
    """`value` as an SNS message attribute: control characters and separators removed, at most ATTRIBUTE_LIMIT
    characters, never empty (SNS refuses an empty String value)."""
    clean = _without_controls(value, "").strip()[:ATTRIBUTE_LIMIT]
    return clean or "(none)"


# Unicode categories SNS text must not carry: controls (Cc, C0 and C1 including tab/CR/LF), line and paragraph
# separators (Zl, Zp), invisible format characters (Cf: BOM, bidi controls), surrogates (Cs) and unassigned code
# points (Cn, which include the noncharacters U+FFFE/FFFF).
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Cn"})


def _without_controls(text: str, replacement: str) -> str:
    if text.isascii() and text.isprintable():
        return text
    return "".join(replacement if unicodedata.category(c) in _REFUSED_CATEGORIES else c for c in text)


def _utf16_length(text: str) -> int:
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)
