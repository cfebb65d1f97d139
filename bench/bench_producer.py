"""Producer throughput: `producers/test_producer.py`'s engine against a naive `put_record` loop, same run, same moto.

1. Raw speed into moto's Kinesis (which enforces no shard limits): records/s of the naive loop (one PutRecord per
   record) and of `produce()` with batching (pacing off, since moto would not throttle), same records, same endpoint.
   Goal (issue 5): >= 20x.
2. Shard-limit emulation: the same moto stream behind `ShardLimitedKinesis` (1,000 records/s and 1 MiB/s per shard,
   entries over budget rejected with ProvisionedThroughputExceededException, as Kinesis does), under both of its
   models of the limit: `per-second` (a token bucket holding one second, lenient) and `sliding-window` (at most
   1,000 records in any one-second window, strict). For each: the producer with its pacer, the pacer it had before
   issue 20 (one token bucket holding a full second, no window, no adaptation: the naive pacer), and no pacing.
   Goal (issue 20): the paced producer sustains >= 90 % of the limit with <= 0.05 throttled entries per record
   under the strict model and ~100 % under the per-second one, with zero loss.

Run: `.venv/bin/python bench/bench_producer.py [--seconds S] [--json]`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHARD_LIMIT = 1000  # records/s of one shard


def _client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "kinesis", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def _stream(kinesis: Any, name: str) -> str:
    kinesis.create_stream(StreamName=name, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})
    return name


def _count(kinesis: Any, stream: str) -> int:
    shard = kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    total = 0
    while iterator:
        records = kinesis.get_records(ShardIterator=iterator, Limit=10000)
        if not records["Records"]:
            break
        total += len(records["Records"])
        iterator = records.get("NextShardIterator")
    return total


def naive_loop(kinesis: Any, stream: str, seconds: float) -> dict[str, Any]:
    """One put_record per record for `seconds`: what a first producer usually looks like."""
    from producers.generators import EventGenerator

    generator = EventGenerator("sensor", seed=1)
    sent = 0
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        record = generator.next()
        kinesis.put_record(StreamName=stream, Data=record.data, PartitionKey=record.key)
        sent += 1
    elapsed = time.monotonic() - started
    return {"sent": sent, "seconds": elapsed, "records_per_s": sent / elapsed}


class _AckTimes:
    """Wraps a client and notes when each PutRecords returned and how many entries it wrote."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: list[tuple[float, int]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def put_records(self, **kwargs: Any) -> dict[str, Any]:
        response = self.client.put_records(**kwargs)
        self.calls.append((time.monotonic(), len(kwargs["Records"]) - response.get("FailedRecordCount", 0)))
        return response


def batched(kinesis: Any, stream: str, count: int, tmp: Path, *, pace: bool, **kwargs: Any) -> dict[str, Any]:
    from producers.test_producer import produce

    timed = _AckTimes(kinesis)
    summary = produce(
        stream,
        count=count,
        family="sensor",
        seed=1,
        client=timed,
        pace=pace,
        shards=1,
        failure_path=tmp / f"{stream}-failed.jsonl",
        keep_records=False,
        **kwargs,
    )
    result = {
        "sent": summary.sent,
        "failed": summary.failed,
        "retries": summary.retries,
        "throttled": summary.throttled,
        "seconds": summary.elapsed,
        "records_per_s": summary.records_per_second,
        "p50_ms": summary.p50_ms,
        "p99_ms": summary.p99_ms,
    }
    # Steady state: leave out the first two seconds, where a shard's one-second burst allowance is spent, then
    # count what later requests wrote over the time since the first of them returned.
    calls = [(t, n) for t, n in timed.calls if t >= timed.calls[0][0] + 2.0] if timed.calls else []
    if len(calls) > 1 and calls[-1][0] > calls[0][0]:
        result["steady_records_per_s"] = sum(n for _, n in calls[1:]) / (calls[-1][0] - calls[0][0])
    return result


PACERS = {
    "pacer": {},
    "full-second bucket (before)": {"burst": 1.0, "track_window": False, "adaptive": False},
    "not paced": None,
}


def emulated(kinesis: Any, model: str, label: str, count: int, tmp: Path) -> dict[str, Any]:
    """One producer run of `count` records into a fresh stream behind a one-shard emulator of `model`."""
    from producers.kinesis_writer import ShardPacer, SystemClock
    from producers.shard_emulator import ShardLimitedKinesis

    options = PACERS[label]
    stream = _stream(kinesis, f"bench-{model}-{list(PACERS).index(label)}")
    limited = ShardLimitedKinesis(kinesis, shards=1, model=model)
    clock = SystemClock()
    extra: dict[str, Any] = {"max_attempts": 20}
    if options is not None:
        extra.update(pacer=ShardPacer(1, clock, **options), clock=clock)
    run = batched(limited, stream, count, tmp, pace=options is not None, **extra)
    run["arrived"] = _count(kinesis, stream)
    run["rejected_by_shard"] = limited.rejected
    run["throttled_per_record"] = limited.rejected / count
    run["share_of_limit"] = run.get("steady_records_per_s", run["records_per_s"]) / SHARD_LIMIT
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of the naive loop")
    parser.add_argument("--batched-count", type=int, default=30_000, help="records for the batched producer")
    parser.add_argument("--emulated-count", type=int, default=15_000, help="records for the shard-limit runs")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()

    from local.moto_server import running_moto

    results: dict[str, Any] = {}
    with running_moto(set_environment=False, in_process=False) as endpoint, tempfile.TemporaryDirectory() as tmp:
        kinesis = _client(endpoint.url)
        naive = results["naive_put_record"] = naive_loop(kinesis, _stream(kinesis, "bench-naive"), args.seconds)
        stream = _stream(kinesis, "bench-batched")
        fast = results["producer_unpaced"] = batched(kinesis, stream, args.batched_count, Path(tmp), pace=False)
        fast["arrived"] = _count(kinesis, stream)
        results["speedup"] = fast["records_per_s"] / naive["records_per_s"]

        from producers.shard_emulator import MODELS

        for model in MODELS:
            for label in PACERS:
                results[f"emulated {model}, {label}"] = emulated(kinesis, model, label, args.emulated_count, Path(tmp))

    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"naive put_record loop      {naive['records_per_s']:9,.0f} records/s  ({naive['sent']:,} records)")
    print(
        f"producer (batched)         {fast['records_per_s']:9,.0f} records/s  ({fast['sent']:,} sent, "
        f"{fast['arrived']:,} arrived, p50 {fast['p50_ms']:.0f} ms, p99 {fast['p99_ms']:.0f} ms)"
    )
    print(f"speed-up                   {results['speedup']:9.1f}x  (goal >= 20x)")
    print("emulated 1-shard limit (1,000 records/s): share of the limit in steady state, throttled entries/record")
    for name, run in results.items():
        if not name.startswith("emulated"):
            continue
        print(
            f"  {name[len('emulated '):]:<42} {run['share_of_limit']:6.1%}  {run['throttled_per_record']:5.3f} "
            f"throttled/record  ({run['records_per_s']:,.0f} records/s overall; sent {run['sent']:,}, arrived "
            f"{run['arrived']:,}, failed {run['failed']}, retries {run['retries']:,}, ack p50 {run['p50_ms']:.0f} ms, "
            f"p99 {run['p99_ms']:.0f} ms)"
        )
    strict = results["emulated sliding-window, pacer"]
    lenient = results["emulated per-second, pacer"]
    ok = (
        results["speedup"] >= 20
        and all(
            run["failed"] == 0 and run["arrived"] == args.emulated_count
            for name, run in results.items()
            if name.startswith("emulated") and name.endswith(", pacer")
        )
        and strict["share_of_limit"] >= 0.9
        and strict["throttled_per_record"] <= 0.05
        and lenient["share_of_limit"] >= 0.95
    )
    print("goals met" if ok else "GOALS NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
