"""Event-time windows against an independent model, under re-delivery, bisection, crashes and shard interleaving.

The model below reads each shard once, in order, and aggregates with plain lists: it shares no code with
`lambdas.metrics.windows` except the `Event` type. The engine is driven the way Lambda drives a function: random
batch cuts, crashes at any store write followed by a retry of the same batch or of its two halves (bisect), whole
batches delivered again after success (a lost checkpoint), and shards interleaved at random.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from lambdas.metrics.store import DynamoWindowStore
from lambdas.metrics.windows import (
    CLAIM_TIMEOUT_MS,
    MemoryWindowStore,
    StreamRecord,
    WindowSettings,
    WindowSettingsError,
    apply_batch,
    summary,
)
from lambdas.schemas import Event

WINDOW_S = 30
LATENESS_S = 10
THRESHOLD = 30.0
BASE = datetime(2026, 6, 15, 12, 0, 0, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def sensor(ts: datetime, sensor_id: str, location: str, temperature: float, humidity: float) -> Event:
    fields = {"sensor_id": sensor_id, "temperature": temperature, "humidity": humidity, "location": location}
    return Event("sensor", str(uuid.uuid4()), ts, None, fields)


def log(ts: datetime, service: str, level: str) -> Event:
    return Event("log", str(uuid.uuid4()), ts, None, {"level": level, "service": service, "message": "m"})


def student(ts: datetime, course: str | None, event_type: str, grade: float | None) -> Event:
    fields = {"student_id": "s1", "event_type": event_type, "course_id": course, "grade": grade}
    return Event("student", str(uuid.uuid4()), ts, None, fields)


# -- the independent model ----------------------------------------------------------------------------------------


def model(shards: dict[str, list[Event]], window_s: int, lateness_s: int) -> tuple[dict, dict, int | None]:
    """Rows per (family, dimension, entity, window start ms), late counts per family, final combined watermark."""
    values: dict[tuple, list[Event]] = defaultdict(list)
    late: dict[str, int] = defaultdict(int)
    final_marks = []
    for events in shards.values():
        highest: int | None = None
        for event in events:
            ms = (event.timestamp - EPOCH) // timedelta(milliseconds=1)
            if highest is not None and ms < highest - lateness_s * 1000:
                late[event.family] += 1
            else:
                start = (ms // (window_s * 1000)) * window_s * 1000
                f = event.fields
                if event.family == "sensor":
                    values[("sensor", "sensor", f["sensor_id"], start)].append(event)
                    values[("sensor", "location", f["location"], start)].append(event)
                elif event.family == "log":
                    values[("log", "service", f["service"], start)].append(event)
                else:
                    course = f["course_id"] or "-"
                    values[("student", "course_event", f"{course}|{f['event_type']}", start)].append(event)
            highest = ms if highest is None else max(highest, ms)
        final_marks.append(None if highest is None else highest - lateness_s * 1000)
    rows = {key: expected_row(key, events) for key, events in values.items()}
    watermark = None if None in final_marks or not final_marks else min(final_marks)
    return rows, dict(late), watermark


def expected_row(key: tuple, events: list[Event]) -> dict[str, Any]:
    family = key[0]
    row: dict[str, Any] = {"count": len(events)}
    if family == "sensor":
        for name in ("temperature", "humidity"):
            xs = [e.fields[name] for e in events]
            row[f"min_{name}"], row[f"max_{name}"], row[f"avg_{name}"] = min(xs), max(xs), sum(xs) / len(xs)
        row["above_threshold"] = sum(1 for e in events if e.fields["temperature"] > THRESHOLD)
    elif family == "log":
        levels = [e.fields["level"] for e in events]
        for level in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            row[f"count_{level.lower()}"] = levels.count(level)
        row["error_rate"] = sum(1 for x in levels if x in ("ERROR", "CRITICAL")) / len(levels)
    else:
        grades = [e.fields["grade"] for e in events if e.fields["event_type"] == "grade_posted"]
        row["grades"] = len(grades)
        row["avg_grade"] = sum(grades) / len(grades) if grades else None
        row["failing_rate"] = sum(1 for g in grades if g < 60) / len(grades) if grades else None
    return row


def comparable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (pytest.approx(v, rel=1e-9, abs=1e-9) if isinstance(v, float) else v) for k, v in row.items()}


# -- driving the engine as Lambda does ------------------------------------------------------------------------------


class InjectedCrashError(Exception):
    pass


class CrashingStore:
    """Wraps a store; raises at the n-th write (window item, shard state, claim or emitted mark) while armed."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.crash_at: int | None = None
        self.writes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _write(self) -> None:
        self.writes += 1
        if self.crash_at is not None and self.writes >= self.crash_at:
            self.crash_at = None
            raise InjectedCrashError()

    def put_item(self, key, item, expected_version):  # type: ignore[no-untyped-def]
        self._write()
        self.inner.put_item(key, item, expected_version)

    def put_shard(self, state, expected_version):  # type: ignore[no-untyped-def]
        self._write()
        self.inner.put_shard(state, expected_version)

    def claim_window(self, start_ms, now_ms):  # type: ignore[no-untyped-def]
        self._write()
        return self.inner.claim_window(start_ms, now_ms)

    def mark_emitted(self, start_ms):  # type: ignore[no-untyped-def]
        self._write()
        self.inner.mark_emitted(start_ms)


class Driver:
    def __init__(self, store: Any, window: WindowSettings, shard_ids: list[str], rng: random.Random):
        self.store, self.window, self.shard_ids, self.rng = store, window, shard_ids, rng
        self.now = 1_000_000
        self.emissions: dict[int, list[dict]] = defaultdict(list)
        self.late: dict[str, int] = defaultdict(int)

    def emit(self, start: int, entities: dict) -> None:
        self.emissions[start].append({k: summary(k, agg, self.window) for k, agg in entities.items()})

    def invoke(self, shard: str, batch: list[StreamRecord], crash_probability: float) -> None:
        """One invocation and, if it crashes, Lambda's retries: the same batch or its halves, until it succeeds."""
        if self.rng.random() < crash_probability:
            self.store.crash_at = self.store.writes + self.rng.randint(1, 6)
        self.now += 1000
        try:
            result = apply_batch(
                self.store, shard, batch, self.window, self.now, stream_shards=self.shard_ids, emit=self.emit
            )
        except InjectedCrashError:
            self.now += CLAIM_TIMEOUT_MS + 1  # the retry comes later; an unfinished claim has expired by then
            if len(batch) > 1 and self.rng.random() < 0.5:
                half = len(batch) // 2
                self.invoke(shard, batch[:half], crash_probability / 2)
                self.invoke(shard, batch[half:], crash_probability / 2)
            else:
                self.invoke(shard, batch, crash_probability / 2)
            return
        for family, n in result.late.items():
            self.late[family] += n


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    shard_count = draw(st.integers(1, 3))
    shards: dict[str, list[Event]] = {}
    for i in range(shard_count):
        n = draw(st.integers(1, 40))
        # Event times wander forward with jitter: some records arrive out of order, some late, a few very late.
        offsets = draw(st.lists(st.integers(-25_000, 6_000), min_size=n, max_size=n))
        clock = 0
        events = []
        for delta in offsets:
            clock = max(0, clock + delta) if delta > -20_000 else clock
            ts = BASE + timedelta(milliseconds=clock + (delta if delta <= -20_000 else 0))
            kind = draw(st.sampled_from(["sensor", "sensor", "log", "student"]))
            if kind == "sensor":
                events.append(
                    sensor(
                        ts,
                        draw(st.sampled_from(["s1", "s2", "s3"])),
                        draw(st.sampled_from(["lab", "freezer"])),
                        draw(st.floats(-55, 125, allow_nan=False)),
                        draw(st.floats(0, 100, allow_nan=False)),
                    )
                )
            elif kind == "log":
                level = draw(st.sampled_from(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]))
                events.append(log(ts, draw(st.sampled_from(["api", "db"])), level))
            else:
                event_type = draw(st.sampled_from(["login", "grade_posted", "assignment_submitted"]))
                grade = draw(st.floats(0, 100, allow_nan=False)) if event_type == "grade_posted" else None
                events.append(student(ts, draw(st.sampled_from(["c1", None])), event_type, grade))
        shards[f"shardId-{i:012d}"] = events
    return {"shards": shards, "seed": draw(st.integers(0, 2**32 - 1))}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_windows_match_the_model_under_retries_bisects_replays_and_interleaving(scenario: dict[str, Any]) -> None:
    check_against_model(scenario, MemoryWindowStore())


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_dynamodb_store_gives_the_model_s_windows_too(scenario: dict[str, Any]) -> None:
    window = WindowSettings(WINDOW_S, LATENESS_S, THRESHOLD)
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_table(dynamodb, "windows")
        check_against_model(scenario, DynamoWindowStore(dynamodb, "windows", window.window_ms, ttl_seconds=3600))


def create_table(dynamodb: Any, name: str) -> None:
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def check_against_model(scenario: dict[str, Any], inner: Any) -> None:
    # GIVEN shards of events with out-of-order and late records, cut into random batches
    shards: dict[str, list[Event]] = scenario["shards"]
    rng = random.Random(scenario["seed"])
    window = WindowSettings(WINDOW_S, LATENESS_S, THRESHOLD, idle_seconds=10**9)
    store = CrashingStore(inner)
    driver = Driver(store, window, list(shards), rng)
    queues: dict[str, list[list[StreamRecord]]] = {}
    for shard, events in shards.items():
        records = [StreamRecord(shard, str(10**20 + 7 * i), e) for i, e in enumerate(events)]
        cuts = sorted(rng.sample(range(1, len(records)), k=min(len(records) - 1, rng.randint(0, 5))))
        queues[shard] = [records[a:b] for a, b in zip([0, *cuts], [*cuts, len(records)], strict=True)]

    # WHEN the batches are delivered with crashes, bisects and replays of completed batches, shards interleaved
    delivered: dict[str, list[list[StreamRecord]]] = defaultdict(list)
    while any(queues.values()):
        shard = rng.choice([s for s, q in queues.items() if q])
        if delivered[shard] and rng.random() < 0.2:
            driver.invoke(shard, rng.choice(delivered[shard]), 0.0)  # a lost checkpoint: an old batch again
        batch = queues[shard].pop(0)
        driver.invoke(shard, batch, 0.4)
        delivered[shard].append(batch)

    # THEN every window and entity holds exactly what the model computed, and late records are counted once
    rows, late, watermark = model(shards, WINDOW_S, LATENESS_S)
    stored = {}
    for start in {key[3] for key in rows}:
        for key, agg in store.window_entities(start).items():
            stored[(key.family, key.dimension, key.entity, key.start_ms)] = summary(key, agg, window)
    assert set(stored) == set(rows)
    for key, row in rows.items():
        got = {k: v for k, v in stored[key].items() if k in row}
        assert got == comparable(row), key
    assert dict(driver.late) == late

    # AND exactly the windows the final watermark has passed were emitted, each with its final content
    closable = {key[3] for key in rows if watermark is not None and key[3] + WINDOW_S * 1000 <= watermark}
    assert set(driver.emissions) == closable
    for start, copies in driver.emissions.items():
        expected = {k: comparable(v) for k, v in rows.items() if k[3] == start}
        for emitted in copies:
            got = {
                (k.family, k.dimension, k.entity, k.start_ms): {
                    f: r[f] for f in expected[(k.family, k.dimension, k.entity, k.start_ms)]
                }
                for k, r in emitted.items()
            }
            assert got == expected


def test_a_record_older_than_the_watermark_is_counted_late_and_not_aggregated() -> None:
    # GIVEN a reading at 12:00:40 on the shard, then one at 12:00:29 (11 s older: beyond the 10 s lateness)
    window = WindowSettings(30, 10, 30.0)
    store = MemoryWindowStore()
    shard = "shardId-000000000000"
    first = StreamRecord(shard, "1", sensor(BASE + timedelta(seconds=40), "s1", "lab", 20.0, 50.0))
    late = StreamRecord(shard, "2", sensor(BASE + timedelta(seconds=29), "s1", "lab", 99.0, 50.0))
    on_time = StreamRecord(shard, "3", sensor(BASE + timedelta(seconds=30), "s1", "lab", 25.0, 50.0))

    # WHEN they arrive in that order
    result = apply_batch(store, shard, [first, late, on_time], window, 0, stream_shards=[shard])

    # THEN the late one is counted for its family and is in no window; the 10 s-old one is on time
    assert result.late == {"sensor": 1}
    assert result.merged == 2
    assert store.window_entities(int((BASE - EPOCH).total_seconds() * 1000)) == {}
    start = int((BASE + timedelta(seconds=30) - EPOCH).total_seconds() * 1000)
    temps = {k.dimension: (agg.count, agg.maxima["temperature"]) for k, agg in store.window_entities(start).items()}
    assert temps == {"sensor": (2, 25.0), "location": (2, 25.0)}


def test_a_window_closes_only_when_every_active_shard_has_passed_it() -> None:
    # GIVEN two shards; shard A has read up to 12:01:00, shard B only up to 12:00:20
    window = WindowSettings(30, 10, 30.0, idle_seconds=60)
    store = MemoryWindowStore()
    a, b = "shardId-a", "shardId-b"
    shards = [a, b]
    apply_batch(
        store,
        a,
        [StreamRecord(a, "1", log(BASE + timedelta(seconds=5), "api", "ERROR"))],
        window,
        0,
        stream_shards=shards,
    )
    result = apply_batch(
        store,
        a,
        [StreamRecord(a, "2", log(BASE + timedelta(seconds=60), "api", "INFO"))],
        window,
        1000,
        stream_shards=shards,
    )
    # THEN nothing closes while B has not delivered anything and is not idle
    assert result.closed == {}
    result = apply_batch(
        store,
        b,
        [StreamRecord(b, "1", log(BASE + timedelta(seconds=20), "db", "INFO"))],
        window,
        2000,
        stream_shards=shards,
    )
    # B's watermark is 12:00:10: the 12:00:00 window (ends 12:00:30) is still open
    assert result.closed == {}
    result = apply_batch(
        store,
        b,
        [StreamRecord(b, "2", log(BASE + timedelta(seconds=40), "db", "INFO"))],
        window,
        3000,
        stream_shards=shards,
    )
    # WHEN B reaches 12:00:40 (watermark 12:00:30, the window's end: any record of it would now be late), the first
    # window closes, once, with both shards' records
    start = int((BASE - EPOCH).total_seconds() * 1000)
    assert list(result.closed) == [start]
    rows = {k.entity: summary(k, agg, window) for k, agg in result.closed[start].items()}
    assert rows["api"]["count"] == 1 and rows["api"]["error_rate"] == 1.0
    assert rows["db"]["count"] == 1 and rows["db"]["error_rate"] == 0.0
    again = apply_batch(
        store,
        b,
        [StreamRecord(b, "3", log(BASE + timedelta(seconds=42), "db", "INFO"))],
        window,
        4000,
        stream_shards=shards,
    )
    assert start not in again.closed


def test_an_idle_shard_stops_holding_windows_open() -> None:
    # GIVEN a stream of two shards where only A ever delivers
    window = WindowSettings(30, 10, 30.0, idle_seconds=60)
    store = MemoryWindowStore()
    a = "shardId-a"
    rec = StreamRecord(a, "1", log(BASE, "api", "INFO"))
    assert apply_batch(store, a, [rec], window, 0, stream_shards=[a, "shardId-b"]).closed == {}
    late_rec = StreamRecord(a, "2", log(BASE + timedelta(seconds=45), "api", "INFO"))
    # WHEN B has been silent for the idle time since A was first seen
    result = apply_batch(store, a, [late_rec], window, 60_000, stream_shards=[a, "shardId-b"])
    # THEN A's watermark alone closes the first window
    assert list(result.closed) == [int((BASE - EPOCH).total_seconds() * 1000)]


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"window_seconds": 7}, "metrics_window_seconds"),
        ({"window_seconds": 90}, "metrics_window_seconds"),
        ({"window_seconds": 0}, "metrics_window_seconds"),
        ({"window_seconds": 30, "allowed_lateness_seconds": 30}, "metrics_allowed_lateness_seconds"),
        ({"window_seconds": 30, "allowed_lateness_seconds": -1}, "metrics_allowed_lateness_seconds"),
    ],
)
def test_bad_window_settings_name_their_key(kwargs: dict[str, int], key: str) -> None:
    with pytest.raises(WindowSettingsError, match=key):
        WindowSettings(**kwargs)


def test_windows_of_whole_minutes_that_divide_an_hour_are_accepted() -> None:
    assert WindowSettings(window_seconds=300, allowed_lateness_seconds=10).window_ms == 300_000
