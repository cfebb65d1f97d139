"""Realistic, reproducible event generators for every family of the event contract (`lambdas.schemas`).

    gen = make_generator("mixed", seed=7, bad_ratio=0.05)
    record = gen.next()          # GeneratedRecord: data (bytes), key, kind, family, event_id, malformed

- sensor: a fixed fleet of sensors, each drifting around its own baseline (mean-reverting random walk) with
  humidity moving against temperature; about 1 % of readings are spikes above 30 °C (`force_spike()` makes the
  next readings spike, for demos of the high-temperature alert).
- student: students log in, enrol, submit assignments, get grades for what they submitted and log out, in that
  order; some `grade_posted` events carry a notification `channel` (email/sms). Those are the `notification`
  kind, which the Kafka producer sends to `notificaciones`.
- log: services write mostly INFO/DEBUG lines; now and then one service has a burst of ERRORs (8-15 lines,
  enough for the error-burst alarm; `force_error_burst()` starts one now).
- mixed: the families interleaved (weights in `MIXED_WEIGHTS`).

With `bad_ratio` R, each record is replaced with probability R by a deliberately malformed one (`MALFORMED_KINDS`).
Every malformed record says what it is: JSON ones carry `"_malformed": "<kind>"`, and the bytes of the others
contain the same marker, so a quarantined record is easy to recognise. Every valid record passes
`lambdas.schemas.parse`; every malformed one fails it.

The same seed gives the same records (event ids included); only timestamps follow the clock (`now` parameter).
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from lambdas.schemas import (
    CHANNELS,
    GRADE_RANGE,
    HUMIDITY_RANGE,
    TEMPERATURE_RANGE_C,
    new_event,
)

# What a generator can be asked for: the three families, the notification kind (student events with a channel),
# and a mix.
KINDS: tuple[str, ...] = ("sensor", "student", "notification", "log")
GENERATOR_FAMILIES: tuple[str, ...] = ("sensor", "student", "log", "mixed", "notification")
# Share of each kind in `mixed` (Kinesis) — sensors dominate, as in the lab.
MIXED_WEIGHTS: dict[str, float] = {"sensor": 0.5, "student": 0.3, "log": 0.2}

MALFORMED_KINDS: tuple[str, ...] = (
    "truncated_json",  # the JSON text is cut off mid-object
    "not_utf8",  # bytes that are not UTF-8
    "not_an_object",  # valid JSON, but an array instead of an object
    "missing_field",  # a required field of the family is absent
    "wrong_type",  # a number where a string is required, or the other way round
    "out_of_range",  # temperature/humidity/grade outside the contract's range, or an unknown log level
    "unknown_family",  # family is not sensor/student/log
    "bad_timestamp",  # timestamp is not ISO-8601
)
MALFORMED_MARKER = "_malformed"

HIGH_TEMPERATURE_C = 30.0
SPIKE_PROBABILITY = 0.01
ERROR_BURST_PROBABILITY = 0.004
NOTIFICATION_SHARE = 0.5  # share of grade_posted events that notify the student


@dataclass(frozen=True, slots=True)
class GeneratedRecord:
    """One record ready to send: `data` is the exact bytes, `key` the partition/message key.

    `kind` is sensor | student | notification | log (for malformed records, the kind they were made from);
    `family` the event family; `event_id` the id a valid record carries (None when the bytes have none);
    `malformed` the malformation kind, None for a valid record.
    """

    data: bytes
    key: str
    kind: str
    family: str
    event_id: str | None
    malformed: str | None = None

    @property
    def valid(self) -> bool:
        return self.malformed is None


def _encode(record: Any) -> bytes:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class _Clocked:
    def __init__(self, rng: random.Random, now: Callable[[], datetime] | None, source: str) -> None:
        self.rng = rng
        self._now = now or (lambda: datetime.now(UTC))
        self.source = source

    def _event(self, family: str, **fields: Any) -> dict[str, Any]:
        record = new_event(family, source=self.source, timestamp=self._now(), **fields)
        # new_event draws a uuid4 from the OS; redraw from our rng so a seed reproduces event ids too.
        record["event_id"] = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        return record


@dataclass
class _Sensor:
    sensor_id: str
    location: str
    base_temperature: float
    base_humidity: float
    temperature: float
    humidity: float


_LOCATIONS = (
    "lab-a",
    "lab-b",
    "server-room",
    "greenhouse",
    "library",
    "lecture-hall-1",
    "cafeteria",
    "rooftop",
)


class SensorGenerator(_Clocked):
    """A fleet of sensors drifting around their baselines, with occasional spikes above 30 °C."""

    kind = "sensor"

    def __init__(
        self,
        rng: random.Random,
        now: Callable[[], datetime] | None = None,
        source: str = "test_producer",
        sensors: int = 8,
    ) -> None:
        super().__init__(rng, now, source)
        self.sensors: list[_Sensor] = []
        for index in range(sensors):
            base_t = rng.uniform(18.0, 26.0)
            base_h = rng.uniform(35.0, 60.0)
            self.sensors.append(
                _Sensor(f"sensor-{index + 1:03d}", _LOCATIONS[index % len(_LOCATIONS)], base_t, base_h, base_t, base_h)
            )
        self._forced_spikes = 0
        self._next = 0

    def force_spike(self, readings: int = 1) -> None:
        """Make the next `readings` readings spikes above 30 °C."""
        self._forced_spikes += readings

    def next_event(self) -> dict[str, Any]:
        # Round-robin keeps every sensor reporting at the same cadence, like a real fleet.
        sensor = self.sensors[self._next % len(self.sensors)]
        self._next += 1
        rng = self.rng
        # Mean-reverting walk: readings wander but stay near the baseline.
        sensor.temperature += 0.1 * (sensor.base_temperature - sensor.temperature) + rng.gauss(0.0, 0.3)
        sensor.humidity += 0.1 * (sensor.base_humidity - sensor.humidity) + rng.gauss(0.0, 0.8)
        temperature = sensor.temperature
        humidity = sensor.humidity
        if self._forced_spikes > 0 or rng.random() < SPIKE_PROBABILITY:
            self._forced_spikes = max(0, self._forced_spikes - 1)
            temperature = rng.uniform(HIGH_TEMPERATURE_C + 0.5, 38.0)
            humidity -= rng.uniform(5.0, 15.0)  # hot air holds more water: relative humidity drops
        temperature = min(max(temperature, TEMPERATURE_RANGE_C[0]), TEMPERATURE_RANGE_C[1])
        humidity = min(max(humidity, HUMIDITY_RANGE[0] + 5.0), HUMIDITY_RANGE[1] - 5.0)
        return self._event(
            "sensor",
            sensor_id=sensor.sensor_id,
            temperature=round(temperature, 2),
            humidity=round(humidity, 1),
            location=sensor.location,
        )


@dataclass
class _Student:
    student_id: str
    logged_in: bool = False
    courses: list[str] = field(default_factory=list)
    awaiting_grade: list[str] = field(default_factory=list)


_COURSES = ("CS101", "CS202", "MATH201", "STAT110", "PHYS150", "DATA300")


class StudentGenerator(_Clocked):
    """Students who log in, enrol, submit, get graded and log out; some grades notify the student."""

    kind = "student"

    def __init__(
        self,
        rng: random.Random,
        now: Callable[[], datetime] | None = None,
        source: str = "test_producer",
        students: int = 40,
        notification_share: float = NOTIFICATION_SHARE,
    ) -> None:
        super().__init__(rng, now, source)
        self.students = [_Student(f"student-{index + 1:04d}") for index in range(students)]
        self.notification_share = notification_share

    def next_event(self, notification: bool = False) -> dict[str, Any]:
        """The next student event; with `notification`, a grade_posted event with a channel."""
        rng = self.rng
        if notification:
            return self._grade(rng.choice(self.students), force_channel=True)
        student = rng.choice(self.students)
        if not student.logged_in:
            student.logged_in = True
            return self._event("student", student_id=student.student_id, event_type="login")
        if student.awaiting_grade and rng.random() < 0.35:
            return self._grade(student, force_channel=False)
        roll = rng.random()
        if not student.courses or (len(student.courses) < 3 and roll < 0.15):
            course = rng.choice([c for c in _COURSES if c not in student.courses])
            student.courses.append(course)
            return self._event("student", student_id=student.student_id, event_type="course_enrolled", course_id=course)
        if roll < 0.75:
            course = rng.choice(student.courses)
            student.awaiting_grade.append(course)
            return self._event(
                "student", student_id=student.student_id, event_type="assignment_submitted", course_id=course
            )
        student.logged_in = False
        return self._event("student", student_id=student.student_id, event_type="logout")

    def _grade(self, student: _Student, force_channel: bool) -> dict[str, Any]:
        rng = self.rng
        if student.awaiting_grade:
            course = student.awaiting_grade.pop(0)
        else:
            course = rng.choice(student.courses or list(_COURSES))
        grade = round(min(max(rng.gauss(74.0, 14.0), GRADE_RANGE[0]), GRADE_RANGE[1]), 1)
        fields: dict[str, Any] = {"student_id": student.student_id, "event_type": "grade_posted", "course_id": course}
        fields["grade"] = grade
        if force_channel or rng.random() < self.notification_share:
            fields["channel"] = rng.choices(CHANNELS, weights=(0.7, 0.3))[0]
        return self._event("student", **fields)


_SERVICES = ("auth-service", "grades-api", "enrollment-api", "notifier", "gateway")
_MESSAGES = {
    "DEBUG": ("cache lookup for {id}", "request headers parsed in {ms} ms", "pool size {n}"),
    "INFO": ("GET /api/v1/items/{id} 200 in {ms} ms", "user {id} authenticated", "processed batch of {n} items"),
    "WARNING": ("slow query took {ms} ms", "retrying upstream call ({n}/3)", "token for {id} expires soon"),
    "ERROR": (
        "upstream timeout after {ms} ms",
        "database connection refused",
        "unhandled exception while handling request {id}",
    ),
    "CRITICAL": ("out of memory, worker restarting", "disk full on /var/lib/data"),
}
_LEVEL_WEIGHTS = {"DEBUG": 0.15, "INFO": 0.70, "WARNING": 0.12, "ERROR": 0.025, "CRITICAL": 0.005}


class LogGenerator(_Clocked):
    """Service logs: mostly INFO, a few warnings and errors, and now and then a burst of ERRORs from one service."""

    kind = "log"

    def __init__(self, rng: random.Random, now: Callable[[], datetime] | None = None, source: str = "test_producer"):
        super().__init__(rng, now, source)
        self._burst_service: str | None = None
        self._burst_left = 0

    def force_error_burst(self, lines: int = 10) -> None:
        """Start a burst of `lines` ERROR lines from one service now."""
        self._burst_service = self.rng.choice(_SERVICES)
        self._burst_left = lines

    def next_event(self) -> dict[str, Any]:
        rng = self.rng
        if self._burst_left == 0 and rng.random() < ERROR_BURST_PROBABILITY:
            self.force_error_burst(rng.randint(8, 15))
        if self._burst_left > 0:
            # During a burst the failing service dominates the log stream, and nearly all its lines are errors.
            self._burst_left -= 1
            service = self._burst_service or _SERVICES[0]
            level = "ERROR" if rng.random() < 0.9 else "CRITICAL"
        else:
            service = rng.choice(_SERVICES)
            level = rng.choices(list(_LEVEL_WEIGHTS), weights=list(_LEVEL_WEIGHTS.values()))[0]
        template = rng.choice(_MESSAGES[level])
        message = template.format(id=rng.randint(1000, 99999), ms=rng.randint(3, 5000), n=rng.randint(1, 500))
        return self._event(
            "log",
            level=level,
            service=service,
            message=message,
            host=f"{service}-{rng.randint(1, 3)}",
            trace_id=f"{rng.getrandbits(64):016x}",
        )


_KEY_FIELD = {"sensor": "sensor_id", "student": "student_id", "log": "service"}


def partition_key(record: dict[str, Any]) -> str:
    """The key that spreads load and keeps one entity's events in order: sensor_id, student_id or service."""
    family = record.get("family", "sensor")
    return str(record.get(_KEY_FIELD.get(family, "sensor_id")) or family)


class EventGenerator:
    """Records of one family (or a mix), with malformed ones mixed in at `bad_ratio`. Iterable, never ends."""

    def __init__(
        self,
        family: str = "sensor",
        *,
        seed: int | None = None,
        bad_ratio: float = 0.0,
        source: str = "test_producer",
        now: Callable[[], datetime] | None = None,
        weights: dict[str, float] | None = None,
    ) -> None:
        if family not in GENERATOR_FAMILIES:
            raise ValueError(f"unknown family {family!r}; expected one of {', '.join(GENERATOR_FAMILIES)}")
        if not 0.0 <= bad_ratio <= 1.0:
            raise ValueError(f"bad_ratio must be between 0 and 1, got {bad_ratio}")
        self.family = family
        self.bad_ratio = bad_ratio
        self.rng = random.Random(seed)
        self._now = now or (lambda: datetime.now(UTC))
        self.sensors = SensorGenerator(self.rng, self._now, source)
        self.students = StudentGenerator(self.rng, self._now, source)
        self.logs = LogGenerator(self.rng, self._now, source)
        if family == "mixed":
            self.weights = dict(weights or MIXED_WEIGHTS)
        else:
            self.weights = {family: 1.0}

    def force_spike(self, readings: int = 1) -> None:
        """Make the next `readings` sensor readings spikes above 30 °C."""
        self.sensors.force_spike(readings)

    def force_error_burst(self, lines: int = 10) -> None:
        """Make the next `lines` log lines an ERROR burst of one service."""
        self.logs.force_error_burst(lines)

    def next_valid(self) -> tuple[str, dict[str, Any]]:
        """(kind, record) of the next valid event."""
        kinds = list(self.weights)
        kind = kinds[0] if len(kinds) == 1 else self.rng.choices(kinds, weights=list(self.weights.values()))[0]
        if kind == "sensor":
            return kind, self.sensors.next_event()
        if kind == "log":
            return kind, self.logs.next_event()
        record = self.students.next_event(notification=kind == "notification")
        return ("notification" if "channel" in record else "student"), record

    def next(self) -> GeneratedRecord:
        """The next record: valid, or malformed with probability `bad_ratio`."""
        kind, record = self.next_valid()
        key = partition_key(record)
        if self.bad_ratio and self.rng.random() < self.bad_ratio:
            malformation = self.rng.choice(MALFORMED_KINDS)
            return GeneratedRecord(
                malform(record, malformation, self.rng), key, kind, record["family"], None, malformation
            )
        return GeneratedRecord(_encode(record), key, kind, record["family"], record["event_id"])

    def __iter__(self) -> Iterator[GeneratedRecord]:
        while True:
            yield self.next()


def make_generator(family: str = "sensor", *, seed: int | None = None, bad_ratio: float = 0.0, **kwargs: Any):
    """An `EventGenerator` for `family` (sensor | student | log | mixed | notification)."""
    return EventGenerator(family, seed=seed, bad_ratio=bad_ratio, **kwargs)


_REQUIRED_TO_DROP = {"sensor": "temperature", "student": "student_id", "log": "message"}
_WRONG_TYPE = {"sensor": ("temperature", "hot"), "student": ("student_id", 12345), "log": ("service", 404)}


def malform(record: dict[str, Any], kind: str, rng: random.Random | None = None) -> bytes:
    """The bytes of `record` broken in the way `kind` names (one of MALFORMED_KINDS), carrying the marker."""
    rng = rng or random.Random()
    family = record.get("family", "sensor")
    marked = {MALFORMED_MARKER: kind, **record}
    if kind == "truncated_json":
        text = _encode(marked)
        # Cut after the marker so a person reading the quarantine still sees what this is.
        marker_end = len(_encode({MALFORMED_MARKER: kind})) - 1
        return text[: rng.randint(marker_end + 1, len(text) - 2)]
    if kind == "not_utf8":
        return b"\xff\xfe" + _encode(marked)
    if kind == "not_an_object":
        return _encode([MALFORMED_MARKER, kind, record])
    if kind == "missing_field":
        del marked[_REQUIRED_TO_DROP[family]]
    elif kind == "wrong_type":
        name, value = _WRONG_TYPE[family]
        marked[name] = value
    elif kind == "out_of_range":
        if family == "sensor":
            marked["temperature"] = round(rng.uniform(200.0, 999.0), 1)  # a Kelvin/Fahrenheit mix-up, or broken
        elif family == "student":
            marked.update(event_type="grade_posted", course_id=marked.get("course_id") or "CS101", grade=140.0)
        else:
            marked["level"] = "LOUD"
    elif kind == "unknown_family":
        marked["family"] = "weather"
    elif kind == "bad_timestamp":
        marked["timestamp"] = (datetime.now(UTC) - timedelta(days=1)).strftime("yesterday at %H:%M")
    else:
        raise ValueError(f"unknown malformation {kind!r}; expected one of {', '.join(MALFORMED_KINDS)}")
    return _encode(marked)


__all__ = [
    "GENERATOR_FAMILIES",
    "KINDS",
    "MALFORMED_KINDS",
    "MALFORMED_MARKER",
    "EventGenerator",
    "GeneratedRecord",
    "make_generator",
    "malform",
    "partition_key",
]
