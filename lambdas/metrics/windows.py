"""Event-time tumbling windows with a watermark: the rules of the metrics engine, free of AWS imports.

What a window holds
    Records are grouped by the tumbling window their *event time* falls in (`window_seconds`, 30 by default) and by
    entity: per sensor and per location (count, min/avg/max temperature and humidity, readings above the alert
    threshold), per service (count per level, error rate), per course and event type (count; for grades posted the
    average grade and the failing rate). Every aggregate is a small mergeable `Aggregate`, so a window can be built
    from any number of batches and shards.

Watermark and late records
    Per shard, the watermark is the largest event time seen on that shard so far minus `allowed_lateness_seconds`
    (10 by default). A record is *late* when its event time is older than the watermark of its shard at the moment
    it is read, i.e. older than (largest event time of the records before it on the shard) - lateness. That
    definition depends only on the shard's order, never on how Lambda cut the shard into batches, retried or
    bisected them, so every replay reaches the same verdict. A late record is not aggregated; it is counted per
    family (the `LateRecords` metric) and, like every record, still lands in the lake through Firehose.

    Windows close on the combined watermark: the minimum over the shards' watermarks (a window may only close when
    no shard can still deliver an on-time record for it). A shard that has delivered nothing for `idle_seconds`
    of processing time is left out of the minimum, as Flink's `withIdleness` does, so one quiet shard does not hold
    every window open; when all shards are idle the watermark stays where it is (the last windows close when data
    flows again). Because a record is on time only if it is not older than its own shard's watermark, and the
    combined watermark is never ahead of any active shard's, no on-time record can arrive for a closed window.

Exactly once under retries
    Lambda re-delivers a batch after an error, bisects it, or (after a restart) replays from the last checkpoint.
    Entities are stored in items of up to a few hundred entities each (a window's entities of one dimension, spread
    over `ITEM_BUCKETS` items by a hash of the entity), so a batch writes a handful of items, not one per sensor.
    Each item remembers, per shard, the sequence number of the last record merged into it; a batch merges
    only the records after that mark, with a write conditioned on the item's version (optimistic concurrency, so
    shards writing the same window concurrently never lose each other's updates). A re-delivered record is
    therefore never counted twice, whatever subset of its batch had been applied before the failure. A closed window
    is emitted once: closing is a conditional write that only one invocation wins.

    What is *not* removed: the same event written twice by a producer as two stream records (after a lost PutRecords
    response, say) has two sequence numbers and is counted twice in its window. Removing those copies would need one
    conditional write per record (an event-id table); the lake removes them by `event_id` instead.

The engine (`apply_batch`) works on any `WindowStore`; `MemoryWindowStore` below keeps state in a dict with the
same conditional-write semantics as the DynamoDB adapter, for tests and local mode.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from lambdas.schemas import LOG_LEVELS, PASS_MARK, Event

# Kinesis sequence numbers are decimal strings of up to 56 digits: padded to one width they compare as strings,
# which is also how DynamoDB compares them in a condition expression.
SEQUENCE_WIDTH = 64
ERROR_LEVELS = frozenset({"ERROR", "CRITICAL"})
NO_COURSE = "-"

DIMENSIONS: dict[str, tuple[str, ...]] = {
    "sensor": ("sensor", "location"),
    "log": ("service",),
    "student": ("course_event",),
}


class WindowSettingsError(ValueError):
    """A window setting is out of range; `key` is the configuration key (cdk.json context) it comes from."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


@dataclass(frozen=True)
class WindowSettings:
    """How windows are cut and when they close. Validated on construction (config keys named in the errors)."""

    window_seconds: int = 30
    allowed_lateness_seconds: int = 10
    high_temperature_c: float = 30.0
    idle_seconds: int = 60

    def __post_init__(self) -> None:
        if not isinstance(self.window_seconds, int) or not 1 <= self.window_seconds <= 3600:
            raise WindowSettingsError(
                "metrics_window_seconds", f"must be an integer from 1 to 3600, got {self.window_seconds!r}"
            )
        if 60 % self.window_seconds and self.window_seconds % 60:
            raise WindowSettingsError(
                "metrics_window_seconds",
                "must divide a minute (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30) or be a "
                f"whole number of minutes dividing an hour, got {self.window_seconds}",
            )
        if self.window_seconds >= 60 and 3600 % self.window_seconds:
            raise WindowSettingsError(
                "metrics_window_seconds", f"a window of whole minutes must divide an hour, got {self.window_seconds}"
            )
        if not isinstance(self.allowed_lateness_seconds, int) or self.allowed_lateness_seconds < 0:
            raise WindowSettingsError(
                "metrics_allowed_lateness_seconds",
                f"must be a non-negative integer, got {self.allowed_lateness_seconds!r}",
            )
        if self.allowed_lateness_seconds >= self.window_seconds:
            raise WindowSettingsError(
                "metrics_allowed_lateness_seconds",
                f"must be less than metrics_window_seconds "
                f"({self.window_seconds}), got {self.allowed_lateness_seconds}",
            )
        if self.idle_seconds < 1:
            raise WindowSettingsError("metrics_idle_shard_seconds", f"must be at least 1, got {self.idle_seconds}")

    @property
    def window_ms(self) -> int:
        return self.window_seconds * 1000

    @property
    def lateness_ms(self) -> int:
        return self.allowed_lateness_seconds * 1000

    def window_start(self, event_ms: int) -> int:
        """Start (epoch ms) of the tumbling window holding `event_ms`; windows are aligned to the epoch."""
        return event_ms - event_ms % self.window_ms


# -- aggregates ---------------------------------------------------------------------------------------------------


@dataclass
class Aggregate:
    """Mergeable statistics of one entity in one window: counts and sums add, minima and maxima combine."""

    count: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    sums: dict[str, float] = field(default_factory=dict)
    minima: dict[str, float] = field(default_factory=dict)
    maxima: dict[str, float] = field(default_factory=dict)

    def add_count(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    def add_value(self, name: str, value: float) -> None:
        self.sums[name] = self.sums.get(name, 0.0) + value
        self.counts[f"n_{name}"] = self.counts.get(f"n_{name}", 0) + 1
        self.minima[name] = min(self.minima.get(name, value), value)
        self.maxima[name] = max(self.maxima.get(name, value), value)

    def merge(self, other: Aggregate) -> None:
        self.count += other.count
        for name, n in other.counts.items():
            self.counts[name] = self.counts.get(name, 0) + n
        for name, total in other.sums.items():
            self.sums[name] = self.sums.get(name, 0.0) + total
        for name, value in other.minima.items():
            self.minima[name] = min(self.minima.get(name, value), value)
        for name, value in other.maxima.items():
            self.maxima[name] = max(self.maxima.get(name, value), value)

    def mean(self, name: str) -> float | None:
        n = self.counts.get(f"n_{name}", 0)
        return self.sums[name] / n if n else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "counts": dict(self.counts),
            "sums": dict(self.sums),
            "minima": dict(self.minima),
            "maxima": dict(self.maxima),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Aggregate:
        return cls(
            count=int(data.get("count", 0)),
            counts={k: int(v) for k, v in data.get("counts", {}).items()},
            sums={k: float(v) for k, v in data.get("sums", {}).items()},
            minima={k: float(v) for k, v in data.get("minima", {}).items()},
            maxima={k: float(v) for k, v in data.get("maxima", {}).items()},
        )


@dataclass(frozen=True)
class WindowKey:
    """One entity of one window: `dimension` is sensor | location | service | course_event."""

    family: str
    dimension: str
    entity: str
    start_ms: int


def contributions(event: Event, settings: WindowSettings) -> Iterator[tuple[WindowKey, Aggregate]]:
    """What one on-time event adds to the windows it belongs to (one aggregate per dimension of its family)."""
    start = settings.window_start(event_millis(event))
    fields = event.fields
    if event.family == "sensor":
        agg = Aggregate(count=1)
        agg.add_value("temperature", float(fields["temperature"]))
        agg.add_value("humidity", float(fields["humidity"]))
        agg.add_count("above_threshold", int(float(fields["temperature"]) > settings.high_temperature_c))
        yield WindowKey("sensor", "sensor", str(fields["sensor_id"]), start), agg
        yield WindowKey("sensor", "location", str(fields["location"]), start), _copy(agg)
    elif event.family == "log":
        agg = Aggregate(count=1)
        level = str(fields["level"])
        agg.add_count(f"level_{level}")
        agg.add_count("errors", int(level in ERROR_LEVELS))
        yield WindowKey("log", "service", str(fields["service"]), start), agg
    elif event.family == "student":
        agg = Aggregate(count=1)
        event_type = str(fields["event_type"])
        if event_type == "grade_posted" and fields.get("grade") is not None:
            grade = float(fields["grade"])
            agg.add_value("grade", grade)
            agg.add_count("failing", int(grade < PASS_MARK))
        course = fields.get("course_id") or NO_COURSE
        yield WindowKey("student", "course_event", f"{course}|{event_type}", start), agg


def _copy(agg: Aggregate) -> Aggregate:
    fresh = Aggregate()
    fresh.merge(agg)
    return fresh


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def event_millis(event: Event) -> int:
    """The event time as epoch milliseconds, exactly (integer arithmetic, no float rounding)."""
    return (event.timestamp - _EPOCH) // timedelta(milliseconds=1)


def summary(key: WindowKey, agg: Aggregate, settings: WindowSettings) -> dict[str, Any]:
    """The KPI row of one window and entity, as dashboards, `/api/windows` and the `window_metrics` table show it."""
    row: dict[str, Any] = {
        "family": key.family,
        "dimension": key.dimension,
        "entity": key.entity,
        "window_start": _iso(key.start_ms),
        "window_end": _iso(key.start_ms + settings.window_ms),
        "count": agg.count,
    }
    if key.family == "sensor":
        for name in ("temperature", "humidity"):
            row[f"min_{name}"] = agg.minima.get(name)
            row[f"avg_{name}"] = agg.mean(name)
            row[f"max_{name}"] = agg.maxima.get(name)
        row["above_threshold"] = agg.counts.get("above_threshold", 0)
    elif key.family == "log":
        for level in LOG_LEVELS:
            row[f"count_{level.lower()}"] = agg.counts.get(f"level_{level}", 0)
        row["error_rate"] = agg.counts.get("errors", 0) / agg.count if agg.count else None
    else:
        course, _, event_type = key.entity.partition("|")
        row["course_id"], row["event_type"] = course, event_type
        graded = agg.counts.get("n_grade", 0)
        row["grades"] = graded
        row["avg_grade"] = agg.mean("grade")
        row["failing_rate"] = agg.counts.get("failing", 0) / graded if graded else None
    return row


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- state ----------------------------------------------------------------------------------------------------------


def pad_sequence(sequence_number: str) -> str:
    """A Kinesis sequence number padded so that string order is numeric order."""
    if not sequence_number.isdigit() or len(sequence_number) > SEQUENCE_WIDTH:
        raise ValueError(f"not a Kinesis sequence number: {sequence_number!r}")
    return sequence_number.rjust(SEQUENCE_WIDTH, "0")


@dataclass(frozen=True)
class ShardState:
    """What the engine keeps per shard: how far it has read and the largest event time seen."""

    shard_id: str
    sequence: str = ""  # padded sequence number of the last record read ("" before the first)
    max_event_ms: int | None = None
    last_seen_ms: int = 0  # processing time of the last batch with records, for idleness
    first_seen_ms: int = 0  # processing time of the shard's first batch
    version: int = 0

    def watermark(self, settings: WindowSettings) -> int | None:
        return None if self.max_event_ms is None else self.max_event_ms - settings.lateness_ms


ITEM_BUCKETS = 16


@dataclass(frozen=True)
class ItemKey:
    """One stored item: the entities of one window and dimension whose hash falls in `bucket`."""

    family: str
    dimension: str
    start_ms: int
    bucket: int

    @classmethod
    def of(cls, key: WindowKey) -> ItemKey:
        # crc32, not hash(): the bucket must be the same in every process and on every run.
        return cls(key.family, key.dimension, key.start_ms, zlib.crc32(key.entity.encode("utf-8")) % ITEM_BUCKETS)


@dataclass
class StoredItem:
    """An item's aggregates per entity, the last sequence merged per shard, and a version for conditional writes."""

    entities: dict[str, Aggregate]
    applied: dict[str, str]
    version: int

    def copy(self) -> StoredItem:
        return StoredItem(
            {entity: Aggregate.from_dict(agg.to_dict()) for entity, agg in self.entities.items()},
            dict(self.applied),
            self.version,
        )


class ConditionFailedError(Exception):
    """A conditional write lost: the item changed since it was read (DynamoDB's ConditionalCheckFailedException)."""


class WindowStore(Protocol):
    """Where window state lives. Writes are conditional on the version read, as DynamoDB's condition expressions."""

    def get_shard(self, shard_id: str) -> ShardState: ...

    def put_shard(self, state: ShardState, expected_version: int) -> None: ...

    def shards(self) -> list[ShardState]: ...

    def get_item(self, key: ItemKey) -> StoredItem | None: ...

    def put_item(self, key: ItemKey, item: StoredItem, expected_version: int) -> None: ...

    def open_windows(self) -> list[int]: ...

    def window_entities(self, start_ms: int) -> dict[WindowKey, Aggregate]: ...

    def claim_window(self, start_ms: int, now_ms: int) -> bool:
        """Claim a closed window for emission: True unless it was emitted, or another caller claimed it less than
        `CLAIM_TIMEOUT_MS` ago. A claim that was never followed by `mark_emitted` (a crash) expires."""
        ...

    def mark_emitted(self, start_ms: int) -> None: ...


# -- the engine -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamRecord:
    """A valid event and where it sits on the stream."""

    shard_id: str
    sequence_number: str
    event: Event


@dataclass
class BatchResult:
    """What one batch did: records merged and late (per family), the watermark after it, the windows it closed."""

    merged: int = 0
    replayed: int = 0
    late: dict[str, int] = field(default_factory=dict)
    watermark_ms: int | None = None
    closed: dict[int, dict[WindowKey, Aggregate]] = field(default_factory=dict)


MAX_CONFLICT_RETRIES = 20
CLAIM_TIMEOUT_MS = 5 * 60 * 1000

Emit = Callable[[int, dict[WindowKey, Aggregate]], None]


def apply_batch(
    store: WindowStore,
    shard_id: str,
    records: Iterable[StreamRecord],
    settings: WindowSettings,
    now_ms: int,
    *,
    stream_shards: Collection[str],
    emit: Emit | None = None,
) -> BatchResult:
    """Merge one batch of one shard into the windows, then emit the windows the watermark has closed.

    Safe to call again with the same records, any subset or superset of them, after a failure at any point:
    every record is merged at most once (see the module docstring). Each closed window is claimed, handed to `emit`
    (the lake object, the EMF metrics) and then marked emitted; if `emit` raises, the claim expires and a later
    batch emits the window again, so `emit` must be idempotent per window (the lake object's key is the window's).
    """
    result = BatchResult()
    state = store.get_shard(shard_id)
    max_event = state.max_event_ms
    last_sequence = state.sequence
    per_item: dict[ItemKey, list[tuple[str, str, Aggregate]]] = defaultdict(list)
    for record in records:
        if record.shard_id != shard_id:
            raise ValueError(f"record of shard {record.shard_id} in a batch of shard {shard_id}")
        sequence = pad_sequence(record.sequence_number)
        if state.sequence and sequence <= state.sequence:
            result.replayed += 1  # read by an earlier batch that completed: its effects are in the store
            continue
        if last_sequence and sequence <= last_sequence:
            raise ValueError(f"sequence numbers of shard {shard_id} out of order at {record.sequence_number}")
        last_sequence = sequence
        event_ms = event_millis(record.event)
        if max_event is not None and event_ms < max_event - settings.lateness_ms:
            result.late[record.event.family] = result.late.get(record.event.family, 0) + 1
        else:
            for key, agg in contributions(record.event, settings):
                per_item[ItemKey.of(key)].append((sequence, key.entity, agg))
            result.merged += 1
        max_event = event_ms if max_event is None else max(max_event, event_ms)

    for item_key, parts in per_item.items():
        _merge_into(store, item_key, shard_id, parts)
    if last_sequence != state.sequence:
        _advance_shard(store, state, last_sequence, max_event, now_ms)

    combined = combined_watermark(store.shards(), stream_shards, settings, now_ms)
    result.watermark_ms = combined
    if combined is not None:
        for start in sorted(store.open_windows()):
            if start + settings.window_ms <= combined and store.claim_window(start, now_ms):
                entities = store.window_entities(start)
                if emit is not None:
                    emit(start, entities)
                store.mark_emitted(start)
                result.closed[start] = entities
    return result


def combined_watermark(
    shards: Iterable[ShardState], stream_shards: Collection[str], settings: WindowSettings, now_ms: int
) -> int | None:
    """Minimum of the active shards' watermarks; None while an active shard has no watermark yet.

    `stream_shards` are the stream's shards (ListShards): a shard that has not delivered a record yet holds the
    watermark back like any other, until it counts as idle (`idle_seconds` after the first shard was seen). Idle
    shards are left out of the minimum; when every shard is idle there is no watermark to advance.
    """
    states = {s.shard_id: s for s in shards}
    if not states:
        return None
    started = min(s.first_seen_ms for s in states.values())
    watermarks: list[int] = []
    for shard_id in set(stream_shards) | set(states):
        state = states.get(shard_id)
        last_seen = state.last_seen_ms if state else started
        if now_ms - last_seen >= settings.idle_seconds * 1000:
            continue  # idle
        if state is None or state.max_event_ms is None:
            return None  # an active shard without a watermark: nothing may close yet
        watermarks.append(state.max_event_ms - settings.lateness_ms)
    return min(watermarks) if watermarks else None


def _merge_into(store: WindowStore, key: ItemKey, shard_id: str, parts: list[tuple[str, str, Aggregate]]) -> None:
    """Read-merge-write one item, merging only the parts after the item's mark for this shard."""
    for _ in range(MAX_CONFLICT_RETRIES):
        stored = store.get_item(key)
        version = stored.version if stored else 0
        mark = stored.applied.get(shard_id, "") if stored else ""
        fresh = [part for part in parts if part[0] > mark]
        if not fresh:
            return
        merged = stored.copy() if stored else StoredItem({}, {}, 0)
        for _seq, entity, agg in fresh:
            merged.entities.setdefault(entity, Aggregate()).merge(agg)
        merged.applied[shard_id] = fresh[-1][0]
        merged.version = version + 1
        try:
            store.put_item(key, merged, expected_version=version)
            return
        except ConditionFailedError:
            continue  # another shard wrote the item in between: read it again
    raise RuntimeError(f"window item {key} kept changing under {MAX_CONFLICT_RETRIES} attempts")


def _advance_shard(store: WindowStore, state: ShardState, sequence: str, max_event: int | None, now_ms: int) -> None:
    current = store.get_shard(state.shard_id)
    if current.sequence >= sequence:
        return  # an earlier attempt of this batch got here already
    first_seen = current.first_seen_ms if current.sequence else now_ms
    store.put_shard(
        ShardState(state.shard_id, sequence, max_event, now_ms, first_seen, current.version + 1),
        expected_version=current.version,
    )


# -- in-memory store ------------------------------------------------------------------------------------------------


class MemoryWindowStore:
    """A `WindowStore` in a dict, with DynamoDB's conditional-write semantics (tests and local mode)."""

    def __init__(self) -> None:
        self._shards: dict[str, ShardState] = {}
        self._items: dict[ItemKey, StoredItem] = {}
        self._open: set[int] = set()
        self._claims: dict[int, int] = {}
        self._emitted: set[int] = set()

    def get_shard(self, shard_id: str) -> ShardState:
        return self._shards.get(shard_id, ShardState(shard_id))

    def put_shard(self, state: ShardState, expected_version: int) -> None:
        if self.get_shard(state.shard_id).version != expected_version:
            raise ConditionFailedError(state.shard_id)
        self._shards[state.shard_id] = state

    def shards(self) -> list[ShardState]:
        return list(self._shards.values())

    def get_item(self, key: ItemKey) -> StoredItem | None:
        stored = self._items.get(key)
        return stored.copy() if stored else None

    def put_item(self, key: ItemKey, item: StoredItem, expected_version: int) -> None:
        current = self._items.get(key)
        if (current.version if current else 0) != expected_version:
            raise ConditionFailedError(str(key))
        self._items[key] = item.copy()
        if key.start_ms not in self._emitted:
            self._open.add(key.start_ms)

    def open_windows(self) -> list[int]:
        return sorted(self._open)

    def window_entities(self, start_ms: int) -> dict[WindowKey, Aggregate]:
        return {
            WindowKey(key.family, key.dimension, entity, start_ms): Aggregate.from_dict(agg.to_dict())
            for key, item in self._items.items()
            if key.start_ms == start_ms
            for entity, agg in item.entities.items()
        }

    def claim_window(self, start_ms: int, now_ms: int) -> bool:
        if start_ms in self._emitted:
            return False
        claimed = self._claims.get(start_ms)
        if claimed is not None and now_ms - claimed < CLAIM_TIMEOUT_MS:
            return False
        self._claims[start_ms] = now_ms
        return True

    def mark_emitted(self, start_ms: int) -> None:
        self._emitted.add(start_ms)
        self._open.discard(start_ms)

    def emitted(self) -> set[int]:
        return set(self._emitted)
