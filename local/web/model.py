"""What the live view knows about the pipeline, kept in bounded structures and fed by local/web/live.py.

Nothing here talks to AWS: `LiveModel` is given the records the view read from the stream, the sequence numbers the
runners have finished, and the quarantine records found in the lake, and answers what the page shows. Every
collection has a fixed bound, so a view left open for a day uses the memory it used after a minute.

Counting rules (the page and docs/web.md say the same):
- `in`: records read from the stream, by the family they claim (`family`, or sensor for the bare lab shape without
  one), `unknown` when none can be read. Telling a record's family takes one JSON decode; the full contract check
  (lambdas.schemas.parse, the processor's own rule) costs several times more, so the view runs it only on the
  records it shows: per read, the newest events of each family and the newest record of each sensor and student.
  Invalid records are counted where the processor puts them, under `quarantined`.
- `processed`: records the processor has finished (its checkpoint passed them: handled, quarantined or sent to the
  DLQ); `lake`: records Firehose has written to the lake (its checkpoint passed them).
- `quarantined`: records found in quarantine/ objects in the lake (each source position once).
- latest state of a sensor or student: from its newest valid record in the stream, unless that record's event time
  is older than the state already shown (a late record does not roll the state back).
- lag: for every record a runner finished, the time from its arrival on the stream (ApproximateArrivalTimestamp)
  until the view saw the runner's checkpoint pass it; the view looks every `tap_interval` (0.25 s), which bounds the
  error.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lambdas.schemas import FAMILIES, Event, InvalidEventError, canonical_family, decode, format_timestamp, judge

UNKNOWN_FAMILY = "unknown"
VIEW_FAMILIES: tuple[str, ...] = (*FAMILIES, UNKNOWN_FAMILY)
COUNTERS: tuple[str, ...] = ("in", "processed", "lake", "quarantined")
RUNNERS: tuple[str, ...] = ("processor", "lake")

LATEST_EVENTS = 25  # per family
MAX_ENTITIES = 5_000  # sensors and students each; the least recently updated one is forgotten first
MAX_PENDING = 200_000  # records a runner has not finished yet, per runner (beyond: counted as `untracked`)
MAX_LAG_SAMPLES = 5_000  # lag values kept per sample interval for the median
MAX_SAMPLES = 900  # 15 minutes of one-second samples
MAX_QUARANTINE_POSITIONS = 200_000
LATEST_QUARANTINED = 25
PREVIEW_CHARACTERS = 200


def _decode(data: bytes) -> Any:
    # The contract's decoder (nesting limit, duplicate keys, BOM), so the view reads a record as every stage does.
    try:
        return decode(data)
    except InvalidEventError:
        return None


def _family_of(record: Any) -> str:
    if not isinstance(record, dict):
        return UNKNOWN_FAMILY
    family = record.get("family")
    if family is None:
        return "sensor"
    try:
        return canonical_family(family)
    except InvalidEventError:
        return UNKNOWN_FAMILY


def claimed_family(data: bytes) -> str:
    """The family a record claims, valid or not: its `family` if it is one, sensor for an object without `family`
    (the bare lab shape), else `unknown`."""
    return _family_of(_decode(data))


def _hashable(key: Any) -> bool:
    return isinstance(key, str | int | float)


def _preview(data: bytes) -> str:
    return data[:PREVIEW_CHARACTERS].decode("utf-8", errors="replace")


def _iso(epoch: float) -> str:
    return format_timestamp(datetime.fromtimestamp(epoch, UTC))


@dataclass(frozen=True)
class StreamRecord:
    """One record as the view read it from the stream."""

    shard_id: str
    sequence_number: str
    arrival: float  # epoch seconds (ApproximateArrivalTimestamp)
    data: bytes


class _Bounded(OrderedDict):
    """A dict that forgets its least recently updated key beyond `limit` entries."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def put(self, key: str, value: dict[str, Any]) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


class _LagWindow:
    """Lags of the records finished since the last sample: count, max and a bounded list for the median."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self.count = 0
        self.maximum = 0.0

    def add(self, lag: float) -> None:
        self.count += 1
        self.maximum = max(self.maximum, lag)
        if len(self.values) < MAX_LAG_SAMPLES:
            self.values.append(lag)

    def summary(self) -> dict[str, float | None]:
        if not self.values:
            return {"p50_s": None, "max_s": None}
        ordered = sorted(self.values)
        return {"p50_s": round(ordered[len(ordered) // 2], 3), "max_s": round(self.maximum, 3)}


class LiveModel:
    """Thread-safe: the stream reader, the checkpoint watcher, the lake scanner and the web handlers share it."""

    def __init__(self, *, high_temperature_c: float = 30.0, started_at: float | None = None) -> None:
        self._lock = threading.Lock()
        self.high_temperature_c = high_temperature_c
        self.counts: dict[str, Counter[str]] = {name: Counter() for name in COUNTERS}
        self.latest: dict[str, deque[dict[str, Any]]] = {f: deque(maxlen=LATEST_EVENTS) for f in FAMILIES}
        self.sensors = _Bounded(MAX_ENTITIES)
        self.students = _Bounded(MAX_ENTITIES)
        # Per runner, per shard: (sequence number, family, arrival) of records it has not finished, in stream order.
        self._pending: dict[str, dict[str, deque[tuple[int, str, float]]]] = {r: {} for r in RUNNERS}
        self.untracked: Counter[str] = Counter()
        self._lags: dict[str, _LagWindow] = {r: _LagWindow() for r in RUNNERS}
        self.reasons: Counter[str] = Counter()
        self._quarantine_positions: OrderedDict[str, None] = OrderedDict()
        self.latest_quarantined: deque[dict[str, Any]] = deque(maxlen=LATEST_QUARANTINED)
        self.samples: deque[dict[str, Any]] = deque(maxlen=MAX_SAMPLES)
        self._sample_id = 0
        # The first interval runs from the start, so what arrived before the first sample shows as a rate too.
        self._last_totals: dict[str, dict[str, int]] = self._totals()
        self._last_sample_at: float = time.time() if started_at is None else started_at
        self._sampled = threading.Condition(self._lock)

    # -- feeding ------------------------------------------------------------------------------------------------

    def add_records(self, records: list[StreamRecord]) -> None:
        """Records just read from the stream, in stream order per shard."""
        decoded = [_decode(record.data) for record in records]
        families = [_family_of(body) for body in decoded]
        shown = self._validate_shown(records, decoded, families)
        with self._lock:
            for record, family in zip(records, families, strict=True):
                self.counts["in"][family] += 1
                entry = (int(record.sequence_number), family, record.arrival)
                for runner in RUNNERS:
                    pending = self._pending[runner].setdefault(record.shard_id, deque())
                    if len(pending) >= MAX_PENDING:
                        pending.popleft()
                        self.untracked[runner] += 1
                    pending.append(entry)
            for record, event in reversed(shown):  # oldest first, so the newest ends up in front
                self._add_event(record, event)

    def _validate_shown(
        self, records: list[StreamRecord], decoded: list[Any], families: list[str]
    ) -> list[tuple[StreamRecord, Event]]:
        """Newest first: the valid records among those the view will show (outside the lock: the web handlers never
        wait for it). Walks back from the newest record and parses only what is still missing: events of a family
        until it has LATEST_EVENTS, the newest valid record of each sensor and student, and of each student's grades."""
        now = datetime.now(UTC)
        wanted = dict.fromkeys(FAMILIES, LATEST_EVENTS)
        settled: dict[str, set[Any]] = {"sensor": set(), "activity": set(), "grade": set()}
        shown: list[tuple[StreamRecord, Event]] = []
        for index in range(len(records) - 1, -1, -1):
            family, body = families[index], decoded[index]
            if family == UNKNOWN_FAMILY:
                continue
            needed = wanted[family] > 0
            if family == "sensor":
                key = body.get("sensor_id")
                needed |= _hashable(key) and key not in settled["sensor"]
            elif family == "student":
                key = body.get("student_id")
                needed |= _hashable(key) and (
                    key not in settled["activity"]
                    or (body.get("event_type") == "grade_posted" and key not in settled["grade"])
                )
            if not needed:
                continue
            event = judge(records[index].data, now=now).event
            if event is None:
                continue
            wanted[family] -= 1
            fields = event.fields
            if family == "sensor":
                settled["sensor"].add(fields["sensor_id"])
            elif family == "student":
                settled["activity"].add(fields["student_id"])
                if fields["event_type"] == "grade_posted":
                    settled["grade"].add(fields["student_id"])
            shown.append((records[index], event))
        return shown

    def _add_event(self, record: StreamRecord, event: Event) -> None:
        body = event.to_record()
        self.latest[event.family].appendleft(
            {
                "event": body,
                "arrival": _iso(record.arrival),
                "shard_id": record.shard_id,
                "sequence_number": record.sequence_number,
            }
        )
        fields = event.fields
        # The newest record wins unless its event time is older than what is shown (a late record).
        if event.family == "sensor":
            key = fields["sensor_id"]
            known = self.sensors.get(key)
            if known is None or body["timestamp"] >= known["timestamp"]:
                self.sensors.put(
                    key,
                    {
                        "sensor_id": key,
                        "temperature": fields["temperature"],
                        "humidity": fields["humidity"],
                        "location": fields["location"],
                        "timestamp": body["timestamp"],
                        "above_threshold": fields["temperature"] > self.high_temperature_c,
                    },
                )
        elif event.family == "student":
            key = fields["student_id"]
            known = self.students.get(key)
            state = dict(known) if known else {"student_id": key, "last_activity": None, "last_grade": None}
            if state["last_activity"] is None or body["timestamp"] >= state["last_activity"]["timestamp"]:
                state["last_activity"] = {
                    "event_type": fields["event_type"],
                    "course_id": fields.get("course_id"),
                    "timestamp": body["timestamp"],
                }
            if fields["event_type"] == "grade_posted" and (
                state["last_grade"] is None or body["timestamp"] >= state["last_grade"]["timestamp"]
            ):
                state["last_grade"] = {
                    "grade": fields.get("grade"),
                    "course_id": fields.get("course_id"),
                    "timestamp": body["timestamp"],
                }
            self.students.put(key, state)

    def finished(self, runner: str, shard_id: str, sequence_number: str | None, now: float) -> int:
        """`runner` has finished every record of `shard_id` up to `sequence_number`; returns how many were released."""
        if sequence_number is None:
            return 0
        last = int(sequence_number)
        counter = "processed" if runner == "processor" else "lake"
        released = 0
        with self._lock:
            pending = self._pending[runner].get(shard_id)
            lags = self._lags[runner]
            while pending and pending[0][0] <= last:
                _, family, arrival = pending.popleft()
                self.counts[counter][family] += 1
                lags.add(max(0.0, now - arrival))
                released += 1
        return released

    def add_quarantined(self, lines: list[dict[str, Any]]) -> int:
        """Quarantine records (lambdas.quarantine lines) found in the lake; each source position counts once."""
        added = 0
        with self._lock:
            for line in lines:
                position = json.dumps(line.get("position"), sort_keys=True)
                if position in self._quarantine_positions:
                    continue
                self._quarantine_positions[position] = None
                if len(self._quarantine_positions) > MAX_QUARANTINE_POSITIONS:
                    self._quarantine_positions.popitem(last=False)
                data = base64.b64decode(line.get("data_base64") or "")
                family = claimed_family(data)
                self.counts["quarantined"][family] += 1
                self.reasons[line.get("reason") or "?"] += 1
                self.latest_quarantined.appendleft(
                    {
                        "family": family,
                        "reason": line.get("reason"),
                        "field": line.get("field"),
                        "position": line.get("position"),
                        "quarantined_at": line.get("quarantined_at"),
                        "preview": line.get("preview") or _preview(data),
                    }
                )
                added += 1
        return added

    # -- sampling -----------------------------------------------------------------------------------------------

    def sample(self, now: float) -> dict[str, Any]:
        """Close the current interval: rates per family since the last sample, totals, lags, backlog."""
        with self._lock:
            totals = self._totals()
            elapsed = now - self._last_sample_at
            rates: dict[str, dict[str, float]] = {}
            for family in VIEW_FAMILIES:
                rates[family] = {}
                for name in ("in", "processed", "lake", "quarantined"):
                    if elapsed > 0:
                        delta = totals[name].get(family, 0) - self._last_totals[name].get(family, 0)
                        rates[family][name] = round(delta / elapsed, 2)
                    else:
                        rates[family][name] = 0.0
            lag: dict[str, Any] = {}
            for runner in RUNNERS:
                window = self._lags[runner]
                pending = [p for p in self._pending[runner].values() if p]
                lag[runner] = {
                    **window.summary(),
                    "finished": window.count,
                    "backlog": sum(len(p) for p in pending),
                    "oldest_waiting_s": round(max(0.0, now - min(p[0][2] for p in pending)), 3) if pending else None,
                }
                self._lags[runner] = _LagWindow()
            self._sample_id += 1
            sample = {
                "id": self._sample_id,
                "t": round(now, 3),
                "time": datetime.fromtimestamp(now, UTC).strftime("%H:%M:%S"),
                "rates": rates,
                "totals": totals,
                "lag": lag,
            }
            self.samples.append(sample)
            self._last_totals, self._last_sample_at = totals, now
            self._sampled.notify_all()
            return sample

    def _totals(self) -> dict[str, dict[str, int]]:
        return {name: {f: self.counts[name].get(f, 0) for f in VIEW_FAMILIES} for name in COUNTERS}

    def samples_after(self, sample_id: int, timeout: float) -> list[dict[str, Any]]:
        """Samples newer than `sample_id`, waiting up to `timeout` seconds for one."""
        with self._sampled:
            if self._sample_id <= sample_id:
                self._sampled.wait(timeout)
            return [s for s in self.samples if s["id"] > sample_id]

    def wake_waiters(self) -> None:
        with self._sampled:
            self._sampled.notify_all()

    # -- reading ------------------------------------------------------------------------------------------------

    def totals(self) -> dict[str, Any]:
        with self._lock:
            totals = self._totals()
            totals["untracked"] = dict(self.untracked)
            return totals

    def recent_samples(self, seconds: float) -> list[dict[str, Any]]:
        with self._lock:
            if not self.samples:
                return []
            since = self.samples[-1]["t"] - seconds
            return [s for s in self.samples if s["t"] > since]

    def latest_events(self, family: str | None, limit: int) -> dict[str, Any]:
        with self._lock:
            families = [family] if family else list(FAMILIES)
            result: dict[str, Any] = {f: list(self.latest[f])[:limit] for f in families}
            if family is None:
                result["invalid"] = list(self.latest_quarantined)[:limit]
            return result

    def sensor_states(self) -> list[dict[str, Any]]:
        with self._lock:
            return sorted((dict(s) for s in self.sensors.values()), key=lambda s: s["sensor_id"])

    def student_states(self) -> list[dict[str, Any]]:
        with self._lock:
            return sorted((dict(s) for s in self.students.values()), key=lambda s: s["student_id"])

    def quarantine_summary(self) -> dict[str, Any]:
        with self._lock:
            return {
                "records": sum(self.counts["quarantined"].values()),
                "by_family": {f: self.counts["quarantined"].get(f, 0) for f in VIEW_FAMILIES},
                "reasons": [{"reason": r, "count": c} for r, c in self.reasons.most_common(20)],
                "latest": list(self.latest_quarantined),
            }
