"""Load: the producer at the 1-shard write limit (1,000 records/s, enforced by the shard emulator) in local mode.

`make test` runs it for 10 s; `make soak` (pytest -m soak) for 5 minutes, or as ARGS says (`--minutes`, `--rate`,
`--shards`, `--retention-seconds`). The producer runs in its own process, as a user's does, and reaches local mode
over HTTP; the stack (moto, the processor, Firehose, alarms, mailbox) shares one interpreter. Inside `make test`
the pass/fail checks are about data only: every record reaches the lake or quarantine. The iterator age depends on
the machine (README), so only the soak run fails on it: it must stay under 10 s (the alarm is at 60 s), and a soak
of 10 minutes or more must end with RSS within 10 % of its value after the first minute. Both runs put the
measured iterator age and rates into the reliability report (docs/reliability.md).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.reliability.harness import in_another_process, local_stack, produce_at_the_shard_limit, run_soak
from tests.reliability.ledger import account

pytestmark = pytest.mark.slow


def _max_metric(stack, namespace: str, name: str, dimensions: dict[str, str]) -> float:
    now = datetime.now(UTC)
    points = stack.clients["cloudwatch"].get_metric_statistics(
        Namespace=namespace,
        MetricName=name,
        Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(minutes=5),
        Period=3600,
        Statistics=["Maximum"],
    )["Datapoints"]
    return max((p["Maximum"] for p in points), default=0.0)


def _run_at_the_shard_limit(tmp_path, tallies, seconds: int, bound_iterator_age: bool) -> None:
    with local_stack(f"load-{seconds}s", tmp_path, buffer_seconds=2.0, alarm_interval_seconds=5.0) as stack:
        # GIVEN a stream that enforces one shard's write limit, and the producer paced to it, in its own process
        # WHEN it sends as fast as the shard takes records for `seconds`
        summary = in_another_process(
            produce_at_the_shard_limit,
            stack.endpoint.url,
            stack.resources.stream_name,
            1000 * seconds,
            tmp_path / "failures.jsonl",
        )
        stack.wait_until_processed(timeout=120)
        stack.wait_until_delivered(timeout=120)
        assert stack.errors == []
        # THEN every record is in the lake or quarantine, none given up on
        assert summary.ok and summary.sent == 1000 * seconds
        assert stack.poller.stats.records_discarded == 0
        tally = account(stack, summary.records, f"load: 1-shard write limit for {seconds} s")
        # AND the iterator age was measured
        age_ms = _max_metric(
            stack, "AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", {"StreamName": stack.resources.stream_name}
        )
        # (and the event source mapping's own IteratorAge: the last record of each batch when it was invoked)
        function = {"FunctionName": stack.resources.processor_function}
        batch_age_ms = _max_metric(stack, "AWS/Lambda", "IteratorAge", function)
        threshold_ms = stack.config.thresholds.iterator_age_seconds * 1000
        assert age_ms > 0 and batch_age_ms > 0, "both iterator-age metrics were published"
        if bound_iterator_age:
            # AND the processor kept up (timing: soak only)
            assert age_ms < threshold_ms and batch_age_ms < threshold_ms
            changes = stack.evaluate_alarms()
            assert not [c for c in changes if "iterator-age" in c.alarm_name and c.new_state == "ALARM"]
    assert tally.lost == 0 and tally.duplicates_removed == 0
    tally.retried = summary.throttled
    tally.extra.update(
        {
            "seconds": seconds,
            "records_per_second": round(summary.records_per_second),
            "max_iterator_age_ms": round(age_ms),
            "max_lambda_iterator_age_ms": round(batch_age_ms),
            "producer_p99_ms": round(summary.p99_ms or 0),
        }
    )
    tally.notes = (
        f"{summary.records_per_second:,.0f} records/s for {summary.elapsed:.0f} s, paced by the producer "
        f"({summary.throttled} entries throttled by the emulated shard); max iterator age {age_ms / 1000:.1f} s "
        f"(GetRecords) / {batch_age_ms / 1000:.1f} s (Lambda, at invocation); alarm at {threshold_ms / 1000:.0f} s"
    )
    tallies.append(tally)


def test_ten_seconds_at_the_shard_limit_lands_every_record(tmp_path, tallies):
    _run_at_the_shard_limit(tmp_path, tallies, seconds=10, bound_iterator_age=False)


# The bar for keeping up: iterator age under 10 s all along (the alarm is at 60 s).
KEEPING_UP_MS = 10_000
# A long soak's memory: RSS at the end within 10 % of the RSS after the first minute.
RSS_GROWTH_ALLOWED = 0.10
LONG_SOAK_MINUTES = 10


@pytest.mark.soak
def test_sustained_load_keeps_up_lands_every_record_and_holds_memory(tmp_path, tallies, soak_settings):
    """`make soak` (5 minutes at the 1-shard limit; ARGS="--minutes N --rate R --shards S"): the producer in its own
    process at the shards' limit (or `--rate`), the local stack keeping up with it."""
    # GIVEN the local stack and a producer paced to the emulated shards' limit, in its own process
    # WHEN it sends for the soak's minutes
    result = run_soak(tmp_path, soak_settings)
    report = Path("run") / f"soak-{soak_settings.shards}shard-{soak_settings.minutes:g}min.json"
    report.parent.mkdir(exist_ok=True)
    report.write_text(json.dumps(result.to_dict(), indent=1))
    print("\n" + result.describe())
    tally = result.tally
    tally.retried = result.throttled
    tally.extra.update(
        {
            "minutes": soak_settings.minutes,
            "shards": soak_settings.shards,
            "records_per_second": round(result.records_per_second),
            "max_iterator_age_ms": round(result.max_iterator_age_ms),
            "max_lambda_iterator_age_ms": round(result.max_lambda_iterator_age_ms),
            "load_before": result.load_before[0],
        }
    )
    tally.notes = result.describe().replace("\n", "; ")
    tallies.append(tally)
    # THEN every record is in the lake or quarantine, none given up on, no runner failed
    assert result.errors == []
    assert result.sent == soak_settings.count
    assert tally.lost == 0 and tally.duplicates_removed == 0
    # AND the stack kept up: the iterator age (both measures) stayed under 10 s
    assert result.max_iterator_age_ms < KEEPING_UP_MS, result.describe()
    assert result.max_lambda_iterator_age_ms < KEEPING_UP_MS, result.describe()
    # AND over a long run memory stays put once the first minute has filled the stream's retention
    if soak_settings.minutes >= LONG_SOAK_MINUTES:
        first, last = result.rss_after(60), result.rss_at_end()
        assert last <= first * (1 + RSS_GROWTH_ALLOWED), result.describe()
