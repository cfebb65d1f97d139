"""Batch planning, pacing and backoff: pure logic, property-tested, on a fake clock."""

from __future__ import annotations

import random
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producers.kinesis_writer import (
    MAX_BYTES_PER_REQUEST,
    MAX_RECORD_BYTES,
    MAX_RECORDS_PER_REQUEST,
    MIB,
    BatchLimits,
    ShardPacer,
    backoff_delay,
    plan_batches,
)
from tests.producers.conftest import FakeClock

# (sequence number, partition key, size): sizes from tiny to a full 1 MiB record, few keys so they repeat.
records_strategy = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c", "d", "sensor-001", "student-0042"]),
        st.one_of(st.integers(1, 2_000), st.integers(100_000, MAX_RECORD_BYTES)),
    ),
    max_size=1_500,
).map(lambda items: [(index, key, size) for index, (key, size) in enumerate(items)])

limits_strategy = st.builds(
    BatchLimits,
    max_records=st.integers(1, MAX_RECORDS_PER_REQUEST),
    max_bytes=st.integers(MAX_RECORD_BYTES, MAX_BYTES_PER_REQUEST),
)


def _size(item: tuple[int, str, int]) -> int:
    return item[2]


def _key(item: tuple[int, str, int]) -> str:
    return item[1]


@settings(max_examples=150, deadline=None)
@given(records=records_strategy, limits=limits_strategy, one_per_key=st.booleans())
def test_every_batch_is_within_limits_and_every_record_is_sent_once_in_order_per_key(records, limits, one_per_key):
    batches = plan_batches(records, limits, _size, _key, one_per_key)

    assert all(batches), "no empty requests"
    for batch in batches:
        assert len(batch) <= limits.max_records
        assert sum(_size(r) for r in batch) <= limits.max_bytes
        if one_per_key:
            assert len({_key(r) for r in batch}) == len(batch)
    sent = [r for batch in batches for r in batch]
    assert sorted(sent) == sorted(records), "each record exactly once"
    per_key: dict[str, list[int]] = defaultdict(list)
    for number, key, _ in sent:
        per_key[key].append(number)
    assert all(numbers == sorted(numbers) for numbers in per_key.values()), "order per partition key"
    if not one_per_key:
        assert [r[0] for r in sent] == [r[0] for r in records], "without one_per_key, global order holds too"


def test_batches_fill_up_to_500_records_and_5_mib():
    small = [(i, "k", 100) for i in range(1_200)]
    assert [len(b) for b in plan_batches(small, BatchLimits(), _size, _key)] == [500, 500, 200]
    big = [(i, "k", MIB) for i in range(7)]
    assert [len(b) for b in plan_batches(big, BatchLimits(), _size, _key)] == [5, 2]


def test_limits_for_one_shard_cap_a_request_at_one_second_of_its_capacity():
    assert BatchLimits.for_shards(1) == BatchLimits(max_records=500, max_bytes=MIB)
    assert BatchLimits.for_shards(8) == BatchLimits(max_records=500, max_bytes=5 * MIB)
    with pytest.raises(ValueError):
        BatchLimits(max_records=501)


@settings(max_examples=50, deadline=None)
@given(
    shards=st.integers(1, 4),
    requests=st.lists(st.tuples(st.integers(1, 500), st.integers(1, MIB)), min_size=1, max_size=60),
)
def test_pacer_never_exceeds_the_shard_budget_and_waits_without_polling(shards, requests):
    clock = FakeClock()
    pacer = ShardPacer(shards, clock)
    start = clock.now()
    sent_records = sent_bytes = 0
    for records, size in requests:
        sleeps_before = len(clock.sleeps)
        pacer.acquire(records, size)
        # One second of burst, then the refill rate: the budget at any time since start.
        elapsed = clock.now() - start
        sent_records += records
        sent_bytes += size
        assert sent_records <= shards * 1000 * (1 + elapsed) + 1e-6
        assert sent_bytes <= shards * MIB * (1 + elapsed) + 1e-3
        assert len(clock.sleeps) - sleeps_before <= 2, "computes its wait instead of polling"


def test_pacer_sustains_the_shard_rate():
    clock = FakeClock()
    pacer = ShardPacer(1, clock)
    for _ in range(100):
        pacer.acquire(500, 1000)
    # One 500-record request at once (half a second of burst, not a full second), then one every 0.505 s: the
    # limit spread over the pacer's 1.01 s window (1 s plus its 10 ms margin). 99 gaps of 0.505 s.
    assert clock.now() - 1000.0 == pytest.approx(49.995)


def test_backoff_grows_exponentially_with_jitter_and_is_capped():
    rng = random.Random(1)
    delays = [backoff_delay(attempt, rng, base=0.1, cap=5.0) for attempt in range(1, 12)]
    for attempt, delay in enumerate(delays, 1):
        step = min(5.0, 0.1 * 2 ** (attempt - 1))
        assert step / 2 <= delay <= step
    assert delays[5] > delays[0] * 8
    assert len({round(backoff_delay(3, random.Random(seed)), 6) for seed in range(20)}) > 10, "jittered"
