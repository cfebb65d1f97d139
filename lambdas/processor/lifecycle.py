"""Alerts with a lifecycle: one message when an entity enters the alert state, at most one reminder per interval while
it stays there, and one message when it recovers. Plain functions over a small per-entity state; no AWS imports.

Entities and their rules (thresholds from `Thresholds`):

- **A sensor, high temperature.** Normal → alert on a reading above `high_temperature_c` (strictly above; the
  "enter" message). In alert, every reading at or above `high_temperature_c - high_temperature_hysteresis_c` keeps
  it there; one below that recovers it (the "recovered" message). The hysteresis keeps a sensor that hovers around
  the threshold from sending a message on every crossing.
- **A service, error bursts.** ERROR/CRITICAL lines are counted per service in tumbling windows of
  `error_burst_window_seconds` (event time). Normal → alert when a window's count reaches `error_burst_count`. In
  alert, a window reaching it again keeps it there; the service recovers when a whole window after the last burst
  window passes below the threshold (known from the first record of the service dated after that window).
- **Reminders.** While an entity is in alert, a record dated `alert_reminder_seconds` or more after the last message
  about it (event time) sends a reminder with what happened since that message: readings (or errors), how many
  above the threshold, the maximum (temperature, or errors in one window), and how long the alert has lasted.
  There are no timers: a sensor that stops reporting sends no reminder and no recovery until it reports again.

Decisions are taken per record in stream order (a Kinesis partition key — sensor id, service — keeps one entity's
records on one shard, in order) and use event time, so the same records always give the same messages with the same
ids; together with the alert de-duplication table this makes a retried batch send nothing twice. The state records,
per shard, the highest sequence number it has applied (`marks`), so a redelivered record is not applied twice, and
the event ids of the last few records (`recent`), so a copy a producer re-sent is not counted twice.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from lambdas.processor.rules import (
    ALERTING_LOG_LEVELS,
    Alert,
    Position,
    Thresholds,
    heat_index_c,
    sns_attribute,
    sns_subject,
)
from lambdas.schemas import Event, format_timestamp

TEMPERATURE = "temperature"
BURST = "burst"
FAMILIES = (TEMPERATURE, BURST)
NORMAL = "normal"
ALERTING = "alert"
ENTER, REMINDER, RECOVERED = "enter", "reminder", "recovered"
# Burst windows counted: the newest one the service has an error in and the three before it. An ERROR line dated
# earlier than that is too late to count toward a burst (it still reaches the lake).
WINDOWS_KEPT = 4
# Event ids remembered per entity: a producer that retries re-sends a record within seconds (at most one PutRecords
# call of 500 records later), so the copy is among the last records of its entity. Kept as 48-bit digests: 64 of
# them are about 0.8 KB of the state item, and two ids of one entity's last 64 agree by chance with probability
# about 64^2 / 2^49 (the only effect of that would be one reading left out of a reminder's counts).
RECENT_IDS = 64


@dataclass
class EntityState:
    """What the lifecycle remembers about one sensor or service between batches."""

    family: str
    entity: str
    status: str = NORMAL
    since: float | None = None  # event time (epoch s) it entered the alert state
    last_message: float | None = None  # event time of the record that caused the last message
    count: int = 0  # since the last message: readings (temperature) or ERROR/CRITICAL lines (burst)
    hot: int = 0  # temperature: readings above the threshold since the last message
    peak: float | None = None  # since the last message: highest temperature, or most errors in one window
    latest: float | None = None  # temperature: the last reading
    location: str | None = None  # temperature: where the sensor last said it was
    windows: dict[int, int] = field(default_factory=dict)  # burst: window start (epoch s) -> ERROR/CRITICAL lines
    burst_end: float | None = None  # burst: end of the newest window that reached the threshold
    marks: dict[str, int] = field(default_factory=dict)  # shard id -> highest sequence number applied
    recent: list[str] = field(default_factory=list)  # digests of the event ids of the last RECENT_IDS records applied
    version: int = 0  # the store's optimistic-concurrency version; 0 = never stored

    @property
    def key(self) -> tuple[str, str]:
        return (self.family, self.entity)

    def to_json(self) -> str:
        """The state as stored (everything but the version, which the store keeps beside it)."""
        document = {k: v for k, v in self.__dict__.items() if k != "version"}
        document["windows"] = {str(k): v for k, v in self.windows.items()}
        return json.dumps(document, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, version: int) -> EntityState:
        """The stored state. Fields this version does not know are ignored and missing ones take their defaults, so
        a rollback or an upgrade of the function reads what the other version wrote."""
        document = json.loads(text)
        known = {f.name for f in fields(cls)} - {"version"}
        document = {k: v for k, v in document.items() if k in known}
        document["windows"] = {int(k): v for k, v in document.get("windows", {}).items()}
        return cls(**document, version=version)


def entity_of(event: Event) -> tuple[str, str] | None:
    """The lifecycle entity a record belongs to: (temperature, sensor id), (burst, service), or None."""
    if event.family == "sensor":
        return (TEMPERATURE, event.fields["sensor_id"])
    if event.family == "log":
        return (BURST, event.fields["service"])
    return None


def may_open(event: Event, thresholds: Thresholds) -> bool:
    """Whether this record could move its entity from normal into alert (the others only matter to an entity
    already in alert, so the processor loads state only for entities with such a record or already alerting)."""
    if event.family == "sensor":
        return event.fields["temperature"] > thresholds.high_temperature_c
    if event.family == "log":
        return event.fields["level"] in ALERTING_LOG_LEVELS
    return False


def apply(
    state: EntityState, records: list[tuple[Event, Position]], thresholds: Thresholds
) -> tuple[list[Alert], bool]:
    """Apply one entity's records (stream order) to its state; return the messages to send and whether the state
    changed (beyond the marks and recent ids: a state that only saw records that change nothing is not written).
    Records at or below the state's mark for their shard, and copies of a recently applied event, are skipped."""
    alerts: list[Alert] = []
    changed = False
    step = _temperature_step if state.family == TEMPERATURE else _burst_step
    for event, position in records:
        sequence = int(position.sequence_number)
        digest = _digest(event.event_id)
        if sequence <= state.marks.get(position.shard_id, -1) or digest in state.recent:
            continue
        stepped, moved = step(state, event, thresholds)
        alerts += stepped
        changed = changed or moved
        state.marks[position.shard_id] = sequence
        state.recent = [*state.recent, digest][-RECENT_IDS:]
    return alerts, changed


# -- high temperature ---------------------------------------------------------------------------------------------


def _temperature_step(state: EntityState, event: Event, t: Thresholds) -> tuple[list[Alert], bool]:
    """The messages one reading causes, and whether it changed the state."""
    f = event.fields
    at = event.timestamp.timestamp()
    temperature = f["temperature"]
    if state.status == NORMAL:
        if temperature <= t.high_temperature_c:
            return [], False
        state.status, state.since, state.last_message = ALERTING, at, at
        state.location, state.latest = f["location"], temperature
        _reset(state)
        return [_temperature_enter(event, t)], True
    assert state.since is not None and state.last_message is not None
    recover_below = t.high_temperature_c - t.high_temperature_hysteresis_c
    if temperature < recover_below:
        alert = _temperature_recovered(state, event, t, recover_below)
        state.status, state.since, state.last_message = NORMAL, None, None
        state.location, state.latest = f["location"], temperature
        _reset(state)
        return [alert], True
    state.count += 1
    state.hot += temperature > t.high_temperature_c
    state.peak = temperature if state.peak is None else max(state.peak, temperature)
    state.location, state.latest = f["location"], temperature
    if at - state.last_message < t.alert_reminder_seconds:
        return [], True
    alert = _temperature_reminder(state, event, t)
    state.last_message = at
    _reset(state)
    return [alert], True


def _temperature_enter(event: Event, t: Thresholds) -> Alert:
    f = event.fields
    heat = heat_index_c(f["temperature"], f["humidity"])
    recover_below = t.high_temperature_c - t.high_temperature_hysteresis_c
    message = [
        f"Sensor {f['sensor_id']} at {f['location']} reported {f['temperature']:.1f} °C at "
        f"{format_timestamp(event.timestamp)} (UTC),",
        f"above the alert threshold of {t.high_temperature_c:g} °C by "
        f"{f['temperature'] - t.high_temperature_c:.1f} °C.",
        "",
        f"Humidity: {f['humidity']:.0f} %   Feels like (heat index): {heat:.1f} °C",
        f"Event id: {event.event_id}",
        "",
        "Check the sensor's surroundings (cooling, sunlight, equipment nearby).",
        f"While it stays at or above {recover_below:g} °C you get at most one reminder every "
        f"{_duration(t.alert_reminder_seconds)}, and one message when it drops below {recover_below:g} °C.",
    ]
    return _temperature_alert(
        event, ENTER, f"High temperature: {f['temperature']:.1f} °C at {f['location']} ({f['sensor_id']})", message
    )


def _temperature_reminder(state: EntityState, event: Event, t: Thresholds) -> Alert:
    f = event.fields
    assert state.since is not None and state.last_message is not None and state.peak is not None
    at = event.timestamp.timestamp()
    lasted = _duration(at - state.since)
    message = [
        f"Sensor {f['sensor_id']} at {f['location']} has been in high-temperature alert (above "
        f"{t.high_temperature_c:g} °C) since {_when(state.since)} (UTC), for {lasted}.",
        "",
        f"Since the last message ({_when(state.last_message)} UTC): {_count(state.count, 'reading')}, {state.hot} "
        f"above {t.high_temperature_c:g} °C, maximum {state.peak:.1f} °C.",
        f"Latest: {f['temperature']:.1f} °C at {format_timestamp(event.timestamp)}.",
        "",
        f"Next reminder in {_duration(t.alert_reminder_seconds)} at the earliest; a message follows when it drops "
        f"below {t.high_temperature_c - t.high_temperature_hysteresis_c:g} °C.",
        f"Event id: {event.event_id}",
    ]
    subject = f"Still hot for {lasted}: {f['sensor_id']} at {f['location']}, max {state.peak:.1f} °C"
    return _temperature_alert(event, REMINDER, subject, message)


def _temperature_recovered(state: EntityState, event: Event, t: Thresholds, recover_below: float) -> Alert:
    f = event.fields
    assert state.since is not None and state.last_message is not None
    at = event.timestamp.timestamp()
    lasted = _duration(at - state.since)
    since_last = (
        f"{_count(state.count, 'reading')}, {state.hot} above {t.high_temperature_c:g} °C, "
        f"maximum {state.peak:.1f} °C"
        if state.peak is not None
        else "no readings"
    )
    message = [
        f"Sensor {f['sensor_id']} at {f['location']} is back to {f['temperature']:.1f} °C at "
        f"{format_timestamp(event.timestamp)} (UTC), below {recover_below:g} °C",
        f"(the alert threshold of {t.high_temperature_c:g} °C minus a hysteresis of "
        f"{t.high_temperature_hysteresis_c:g} °C). The alert lasted {lasted}, since {_when(state.since)} (UTC).",
        "",
        f"Since the last message ({_when(state.last_message)} UTC): {since_last}.",
        f"Event id: {event.event_id}",
    ]
    subject = f"Recovered: {f['sensor_id']} at {f['location']}, {f['temperature']:.1f} °C after {lasted}"
    return _temperature_alert(event, RECOVERED, subject, message)


def _temperature_alert(event: Event, stage: str, subject: str, message: list[str]) -> Alert:
    return Alert(
        alert_id=f"{TEMPERATURE}#{stage}#{event.event_id}",
        kind="high_temperature",
        subject=sns_subject(subject),
        message="\n".join(message),
        attributes={
            "kind": "high_temperature",
            "lifecycle": stage,
            "family": "sensor",
            "sensor_id": sns_attribute(event.fields["sensor_id"]),
        },
    )


# -- error bursts -------------------------------------------------------------------------------------------------


def _burst_step(state: EntityState, event: Event, t: Thresholds) -> tuple[list[Alert], bool]:
    """The messages one log line causes, and whether it changed the state."""
    alerts: list[Alert] = []
    at = event.timestamp.timestamp()
    size = t.error_burst_window_seconds
    if state.status == ALERTING:
        assert state.burst_end is not None
        if at >= state.burst_end + size:
            alerts.append(_burst_recovered(state, event, t))
            state.status, state.since, state.last_message = NORMAL, None, None
            _reset(state)
    if event.fields["level"] not in ALERTING_LOG_LEVELS:
        return alerts, bool(alerts)
    start = int(at // size) * size
    newest = max([start, *state.windows])
    oldest_kept = newest - (WINDOWS_KEPT - 1) * size
    if start < oldest_kept:
        return alerts, bool(alerts)  # too late to count toward a burst
    state.windows = {w: n for w, n in state.windows.items() if w >= oldest_kept}
    count = state.windows[start] = state.windows.get(start, 0) + 1
    if state.status == ALERTING:
        assert state.burst_end is not None and state.last_message is not None
        state.count += 1
        state.peak = count if state.peak is None else max(state.peak, count)
        if count == t.error_burst_count:
            state.burst_end = max(state.burst_end, start + size)
        if at - state.last_message >= t.alert_reminder_seconds:
            alerts.append(_burst_reminder(state, event, t))
            state.last_message = at
            _reset(state)
        return alerts, True
    if count == t.error_burst_count:
        state.status, state.since, state.last_message = ALERTING, at, at
        state.burst_end = start + size
        _reset(state)
        alerts.append(_burst_enter(event, start, count, t))
    return alerts, True


def _burst_enter(event: Event, window_start: int, count: int, t: Thresholds) -> Alert:
    service = event.fields["service"]
    size = t.error_burst_window_seconds
    message = [
        f"Service {service} logged {count} ERROR/CRITICAL lines between {_when(window_start)} and "
        f"{_when(window_start + size)} (UTC);",
        f"the alert threshold is {t.error_burst_count} within {size} s.",
        "",
        f"The line that reached it ({event.fields['level']}, {format_timestamp(event.timestamp)}):",
        f"  {event.fields['message'][:300]}",
        "",
        f"While bursts go on you get at most one reminder every {_duration(t.alert_reminder_seconds)}, and one message "
        f"once a whole {size} s window passes with fewer than {t.error_burst_count}.",
        "Query system_logs in Athena (saved queries in the workgroup) for the full picture.",
        f"Event id: {event.event_id}",
    ]
    return _burst_alert(event, ENTER, f"Error burst: {service}, {count}+ errors in {size} s", message)


def _burst_reminder(state: EntityState, event: Event, t: Thresholds) -> Alert:
    service = event.fields["service"]
    assert state.since is not None and state.last_message is not None
    lasted = _duration(event.timestamp.timestamp() - state.since)
    message = [
        f"Service {service} has been in an error burst since {_when(state.since)} (UTC), for {lasted}.",
        "",
        f"Since the last message ({_when(state.last_message)} UTC): {_count(state.count, 'ERROR/CRITICAL line')}, "
        f"at most {state.peak or 0:g} in one {t.error_burst_window_seconds} s window "
        f"(threshold {t.error_burst_count}).",
        f"Latest ({event.fields['level']}, {format_timestamp(event.timestamp)}): {event.fields['message'][:300]}",
        f"Event id: {event.event_id}",
    ]
    subject = f"Error burst continues for {lasted}: {service}, {state.count} errors"
    return _burst_alert(event, REMINDER, subject, message)


def _burst_recovered(state: EntityState, event: Event, t: Thresholds) -> Alert:
    service = event.fields["service"]
    assert state.since is not None and state.last_message is not None and state.burst_end is not None
    lasted = _duration(state.burst_end - state.since)
    size = t.error_burst_window_seconds
    message = [
        f"Service {service} logged fewer than {t.error_burst_count} ERROR/CRITICAL lines in the {size} s window "
        f"from {_when(state.burst_end)} (UTC): the error burst is over.",
        f"It began at {_when(state.since)} (UTC); its last burst window ended {lasted} later.",
        "",
        f"Since the last message ({_when(state.last_message)} UTC): {_count(state.count, 'ERROR/CRITICAL line')}.",
        f"Event id: {event.event_id}",
    ]
    return _burst_alert(event, RECOVERED, f"Recovered: {service}, error burst over after {lasted}", message)


def _burst_alert(event: Event, stage: str, subject: str, message: list[str]) -> Alert:
    return Alert(
        alert_id=f"{BURST}#{stage}#{event.event_id}",
        kind="error_burst",
        subject=sns_subject(subject),
        message="\n".join(message),
        attributes={
            "kind": "error_burst",
            "lifecycle": stage,
            "family": "log",
            "service": sns_attribute(event.fields["service"]),
        },
    )


# -- helpers ------------------------------------------------------------------------------------------------------


def _digest(event_id: str) -> str:
    return hashlib.blake2b(event_id.encode("utf-8"), digest_size=6).hexdigest()


def _reset(state: EntityState) -> None:
    """Start the "since the last message" aggregates again."""
    state.count, state.hot, state.peak = 0, 0, None


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _when(epoch: float) -> str:
    return format_timestamp(datetime.fromtimestamp(epoch, UTC))


def _duration(seconds: float) -> str:
    """`42 s`, `5 min`, `1 h 05 min`, `2 d 3 h` — for people, rounded down."""
    total = max(0, math.floor(seconds))
    if total < 60:
        return f"{total} s"
    minutes = total // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def state_document(state: EntityState) -> dict[str, Any]:
    """The state as a plain dict (for logs and the live view)."""
    return json.loads(state.to_json())
