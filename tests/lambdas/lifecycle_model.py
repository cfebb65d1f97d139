"""An independent model of the alert lifecycle, written from the specification (issue 19, docs), not from the code.

It looks at a whole history at once instead of keeping a state: for each record it asks "what was the entity's
situation after the records before it", recomputing counts from the history. Slow (quadratic) and obvious.

Specification:
- A reading above T opens a sensor's alert (message "enter"). While open, a reading below T - H closes it
  ("recovered"); any other reading dated R seconds or more after the last message sends a "reminder".
- An ERROR/CRITICAL line that makes its service's tumbling window (event time, W seconds) reach N lines opens the
  service's alert ("enter"); an error line dated more than 3 windows before the newest window the service had an
  error in does not count. While open, the first line of the service dated at or after the end of the newest
  window that reached N, plus W, closes it ("recovered"; then that line counts as usual); an error line R seconds
  or more after the last message sends a "reminder".
- A record whose event id was seen before (a producer's re-send) is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

ALERTING = ("ERROR", "CRITICAL")


@dataclass(frozen=True)
class Reading:
    event_id: str
    sensor: str
    at: float  # event time, epoch seconds
    temperature: float


@dataclass(frozen=True)
class LogLine:
    event_id: str
    service: str
    at: float
    level: str


@dataclass(frozen=True)
class Message:
    entity: str
    stage: str  # enter | reminder | recovered
    event_id: str
    # For reminders and recoveries: what happened since the previous message (readings or error lines, readings
    # above T, maximum temperature or most error lines in one window); None for "enter".
    count: int | None = None
    hot: int | None = None
    peak: float | None = None


def _first_copies(items: list) -> list:
    seen: set[str] = set()
    kept = []
    for item in items:
        if item.event_id not in seen:
            seen.add(item.event_id)
            kept.append(item)
    return kept


def temperature_messages(readings: list[Reading], t: float, h: float, r: float) -> list[Message]:
    messages: list[Message] = []
    for sensor in dict.fromkeys(x.sensor for x in readings):
        history = [x for x in _first_copies(readings) if x.sensor == sensor]
        open_since_message: list[Reading] | None = None  # readings since the last message while open
        last_message_at = 0.0
        for reading in history:
            if open_since_message is None:
                if reading.temperature > t:
                    messages.append(Message(sensor, "enter", reading.event_id))
                    open_since_message, last_message_at = [], reading.at
                continue
            if reading.temperature < t - h:
                messages.append(_summary(sensor, "recovered", reading.event_id, open_since_message, t))
                open_since_message = None
                continue
            open_since_message.append(reading)
            if reading.at - last_message_at >= r:
                messages.append(_summary(sensor, "reminder", reading.event_id, open_since_message, t))
                open_since_message, last_message_at = [], reading.at
    return messages


def _summary(entity: str, stage: str, event_id: str, readings: list[Reading], t: float) -> Message:
    return Message(
        entity,
        stage,
        event_id,
        count=len(readings),
        hot=sum(1 for x in readings if x.temperature > t),
        peak=max((x.temperature for x in readings), default=None),
    )


def burst_messages(lines: list[LogLine], n: int, w: int, r: float) -> list[Message]:
    messages: list[Message] = []
    for service in dict.fromkeys(x.service for x in lines):
        history = [x for x in _first_copies(lines) if x.service == service]
        counted: list[LogLine] = []  # error lines that counted, in order
        is_open = False
        burst_end = 0
        last_message_at = 0.0
        errors_since_message: list[LogLine] = []
        for line in history:
            if is_open and line.at >= burst_end + w:
                messages.append(Message(service, "recovered", line.event_id, count=len(errors_since_message)))
                is_open = False
            if line.level not in ALERTING:
                continue
            window = int(line.at // w) * w
            newest = max([int(x.at // w) * w for x in counted] + [window])
            if window < newest - 3 * w:
                continue
            counted.append(line)
            in_window = sum(1 for x in counted if int(x.at // w) * w == window)
            if is_open:
                errors_since_message.append(line)
                if in_window == n:
                    burst_end = max(burst_end, window + w)
                if line.at - last_message_at >= r:
                    peak = max(_window_sizes_at(counted, errors_since_message, w))
                    messages.append(
                        Message(service, "reminder", line.event_id, count=len(errors_since_message), peak=peak)
                    )
                    errors_since_message, last_message_at = [], line.at
            elif in_window == n:
                messages.append(Message(service, "enter", line.event_id))
                is_open, burst_end, last_message_at, errors_since_message = True, window + w, line.at, []
    return messages


def _window_sizes_at(counted: list[LogLine], since_message: list[LogLine], w: int) -> list[int]:
    """For each error line since the last message: its window's count right after it counted."""
    sizes = []
    for line in since_message:
        position = next(i for i, x in enumerate(counted) if x.event_id == line.event_id)
        window = int(line.at // w) * w
        sizes.append(sum(1 for x in counted[: position + 1] if int(x.at // w) * w == window))
    return sizes
