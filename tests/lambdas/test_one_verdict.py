"""Issue 15: one verdict everywhere. The same bytes get the same verdict and reason from every stage, whatever the
depth of the call stack the stage parses them at (the processor runs deeper, under Powertools' wrappers, than the
transformation; local mode and the live view at other depths again)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lambdas.bridge.core import plan_batch
from lambdas.bridge.mapping import DEFAULT_ROUTES, KafkaMessage
from lambdas.bridge.wire import default_registry
from lambdas.processor.batch import process_record
from lambdas.processor.rules import Position, Thresholds
from lambdas.schemas import judge
from lambdas.transform.handler import FAILED, OK, transform
from local.web.model import claimed_family
from tests.lambdas.strategies import payloads

NOW = datetime(2026, 1, 2, tzinfo=UTC)
POSITION = Position("shardId-000000000000", "1", NOW)
THRESHOLDS = Thresholds(high_temperature_c=30.0, error_burst_count=5, error_burst_window_seconds=60)
LAB = {"sensor_id": "s1", "temperature": 21.5, "humidity": 40, "timestamp": "2025-06-01T10:00:00Z", "location": "L"}


def at_stack_depth(frames: int, work: Callable[[], Any]) -> Any:
    """`work()` called `frames` Python frames deeper than here."""
    if frames <= 0:
        return work()
    return at_stack_depth(frames - 1, work)


def nested(depth: int) -> bytes:
    return json.dumps(LAB).encode()[:-1] + b', "x": ' + b"[" * depth + b"]" * depth + b"}"


def verdicts(payload: bytes) -> dict[str, tuple]:
    """Each stage's verdict: ("ok", normalised JSON) or ("refused", reason)."""
    outcome = process_record(payload, POSITION, None, THRESHOLDS, NOW)
    processor = ("ok", outcome.event.to_json()) if outcome.event is not None else ("refused", outcome.rejected.reason)
    result, data, _ = transform(payload, NOW)
    assert result in (OK, FAILED)
    reference = judge(payload, now=NOW)
    transformation = ("ok", data.decode("utf-8").rstrip("\n")) if result == OK else ("refused", reference.reason)
    return {
        "judge": _of(reference),
        "processor": processor,
        "transformation": transformation,
        "bridge": bridge_verdict(payload),
    }


def bridge_verdict(payload: bytes) -> tuple:
    """The Kafka bridge's verdict on the bytes as a message value (it adds `source` and a default `event_id`, so its
    verdict is its own; what must hold is that the stack depth does not change it)."""
    message = KafkaMessage("sistema-logs", 0, 7, 1748772000000, None, payload)
    plan = plan_batch([message], DEFAULT_ROUTES, default_registry(), NOW)
    return ("ok", plan.entries[0].data) if plan.entries else ("refused", plan.rejected[0].reason)


def _of(verdict: Any) -> tuple:
    return ("ok", verdict.event.to_json()) if verdict.event is not None else ("refused", verdict.reason)


hostile = st.one_of(
    payloads,
    st.integers(1, 1200).map(nested),
    st.sampled_from(
        [
            json.dumps({**LAB, "timestamp": "0001-01-01T00:00:00+05:00"}).encode(),
            json.dumps({**LAB, "timestamp": "9999-12-31T23:59:59-05:00"}).encode(),
            b"\xef\xbb\xbf" + json.dumps(LAB).encode(),
            json.dumps(LAB).encode()[:-1] + b', "family": "sensor", "family": "log"}',
            json.dumps({**LAB, "event_id": "00000000-0000-0000-0000-000000000000"}).encode(),
        ]
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(hostile)
@example(nested(31))
@example(nested(32))
@example(nested(950))
def test_every_stage_gives_the_same_verdict_and_reason_at_every_stack_depth(payload):
    room = sys.getrecursionlimit()
    baseline = verdicts(payload)
    # Within one depth, all stages agree with the contract's own verdict...
    assert baseline["processor"] == baseline["judge"]
    assert baseline["transformation"][0] == baseline["judge"][0]
    if baseline["judge"][0] == "ok":
        assert baseline["transformation"] == baseline["judge"]
    # ...and the verdicts do not move as the stack deepens (up to 150 frames short of the recursion limit).
    for frames in (200, room // 2, room - 150):
        assert at_stack_depth(frames, lambda: verdicts(payload)) == baseline, frames


@settings(max_examples=100, deadline=None)
@given(hostile)
def test_the_live_view_counts_a_record_under_the_family_the_contract_gives_it(payload):
    verdict = judge(payload, now=NOW)
    if verdict.event is not None:
        assert claimed_family(payload) == verdict.event.family
