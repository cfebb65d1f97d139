"""Running the local stack for one reliability scenario."""

from __future__ import annotations

import base64
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from local.stack import LocalOptions, LocalStack
from streamlake.config import Config, load_config


def config_for(scenario: str) -> Config:
    """The default config under a prefix of the scenario's own. moto keeps its state per process, not per server, so
    another test package's moto server that is still up (tests/producers keeps one for the session) may already hold
    a `streamlake-events` stream with records in it; our own names keep the counts exact."""
    return load_config({"prefix": f"rel-{scenario}"[:20]})


def local_stack(scenario: str, run_dir: Path, **options: Any) -> LocalStack:
    """A local stack for `scenario` with a short Firehose buffer (the deployed 60 s would only make tests wait)."""
    settings = {"buffer_seconds": 0.5, "alarm_interval_seconds": 1.0, **options}
    return LocalStack(config_for(scenario), LocalOptions(run_dir, **settings))


def produce_at_the_shard_limit(
    endpoint_url: str, stream: str, count: int, failure_path: Path, *, seed: int = 61, bad_ratio: float = 0.01
) -> Any:
    """The producer as fast as one emulated shard takes records (`count` mixed records, some malformed); returns
    its Summary, with every acknowledged record. Run it in another process (`in_another_process`) to load the stack
    as a user's producer does: its own interpreter, reaching local mode over HTTP."""
    from producers.shard_emulator import ShardLimitedKinesis
    from producers.test_producer import make_client, produce

    shard = ShardLimitedKinesis(make_client("kinesis", endpoint_url), shards=1)
    return produce(
        stream,
        count=count,
        family="mixed",
        bad_ratio=bad_ratio,
        seed=seed,
        client=shard,
        shards=1,
        failure_path=failure_path,
    )


def in_another_process(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`function(*args, **kwargs)` in a fresh interpreter (spawned, so nothing of this process's moto state or its
    in-process routes is inherited); returns what it returns."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(function, *args, **kwargs).result()


def read_range(stack: LocalStack, shard_id: str, first: str, last: str) -> list[dict[str, Any]]:
    """The stream's records of one shard from sequence number `first` to `last`, inclusive."""
    kinesis = stack.clients["kinesis"]
    iterator = kinesis.get_shard_iterator(
        StreamName=stack.resources.stream_name,
        ShardId=shard_id,
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        StartingSequenceNumber=first,
    )["ShardIterator"]
    records: list[dict[str, Any]] = []
    while iterator:
        response = kinesis.get_records(ShardIterator=iterator, Limit=1000)
        for record in response["Records"]:
            if int(record["SequenceNumber"]) > int(last):
                return records
            records.append(record)
        if not response["Records"]:
            return records
        iterator = response.get("NextShardIterator")
    return records


def lambda_event(stack: LocalStack, shard_id: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """A Kinesis event for these records, shaped as the event source mapping delivers it."""
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": r["PartitionKey"],
                    "sequenceNumber": r["SequenceNumber"],
                    "data": base64.b64encode(r["Data"]).decode("ascii"),
                    "approximateArrivalTimestamp": r["ApproximateArrivalTimestamp"].timestamp(),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{shard_id}:{r['SequenceNumber']}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/local",
                "awsRegion": "us-east-1",
                "eventSourceARN": stack.resources.stream_arn,
            }
            for r in records
        ]
    }


def replay_dead_letters(stack: LocalStack, dead_letters: list[dict[str, Any]]) -> list[str]:
    """What an operator does with the on-failure destination once the cause is fixed: read each discarded batch back
    from the stream (the message names shard and sequence range; the records stay for the stream's retention) and
    invoke the processor with it again. Returns the sequence numbers replayed; fails if a replay reports failures."""
    from lambdas.processor.handler import handler
    from local.poller import LambdaContext

    replayed: list[str] = []
    for message in dead_letters:
        info = message["KinesisBatchInfo"]
        records = read_range(stack, info["shardId"], info["startSequenceNumber"], info["endSequenceNumber"])
        assert len(records) == info["batchSize"], info
        context = LambdaContext(stack.resources.processor_function, message["requestContext"]["functionArn"])
        response = handler(lambda_event(stack, info["shardId"], records), context)
        assert response == {"batchItemFailures": []}, response
        replayed += [r["SequenceNumber"] for r in records]
    return replayed


def processor_metric(stack: LocalStack, name: str) -> float:
    """Sum of one of the processor's EMF metrics (lambdas/processor/metric_names.py) in local CloudWatch."""
    from datetime import UTC, datetime, timedelta

    from lambdas.processor import metric_names

    now = datetime.now(UTC)
    points = stack.clients["cloudwatch"].get_metric_statistics(
        Namespace=metric_names.NAMESPACE,
        MetricName=name,
        Dimensions=[{"Name": "service", "Value": metric_names.SERVICE}],
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(minutes=5),
        Period=3600,
        Statistics=["Sum"],
    )["Datapoints"]
    return sum(p["Sum"] for p in points)


# -- sustained load (make soak, bench/bench_local.py) ----------------------------------------------------------------

SHARD_RECORDS_PER_SECOND = 1000


@dataclass(frozen=True)
class SoakSettings:
    """A sustained run: `rate` mixed records/s in total (at or above the shards' limit: as fast as they take) for
    `minutes`, into a stream of `shards` shards whose write limit is enforced by the shard emulator."""

    minutes: float = 5.0
    rate: float = 1000.0
    shards: int = 1
    buffer_seconds: float = 2.0
    alarm_interval_seconds: float = 5.0
    # How long the local stream keeps records; None: local mode's default (10 minutes). A reader further behind than
    # this loses records, as on Kinesis: the memory runs (ARGS="--minutes 30 --rate 200") shorten it to 2 minutes
    # so that the stream's share of memory has stopped growing early in the run.
    retention_seconds: float | None = None

    @property
    def count(self) -> int:
        return round(min(self.rate, self.shards * SHARD_RECORDS_PER_SECOND) * self.minutes * 60)


@dataclass
class SoakSample:
    """The stack once a second: seconds since the producer started, records in the stream, finished by each runner,
    and the stack process's resident memory and CPU time so far."""

    seconds: float
    stream: int
    processed: int
    windowed: int
    delivered: int
    rss_mib: float
    cpu_seconds: float
    producing: bool = True  # False for the last sample, taken once the runners finished (and the producer's
    # acknowledged records, all of them, had been handed to this process: not the stack's memory)


@dataclass
class SoakResult:
    settings: SoakSettings
    samples: list[SoakSample]
    sent: int
    records_per_second: float
    producer_seconds: float
    throttled: int
    max_iterator_age_ms: float  # AWS/Kinesis GetRecords.IteratorAgeMilliseconds, any reader
    max_lambda_iterator_age_ms: float  # AWS/Lambda IteratorAge of the processor, at invocation
    drain_seconds: float  # after the producer's last record, until every runner had finished the stream
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    errors: list[str]
    tally: Any = None

    def rss_after(self, seconds: float) -> float:
        """The RSS sampled closest to `seconds` into the run."""
        return min(self.samples, key=lambda s: abs(s.seconds - seconds)).rss_mib

    def rss_at_end(self) -> float:
        """The RSS when the producer finished sending (later samples also hold its acknowledged records, which it
        hands to this process at the end: not the stack's memory)."""
        return self.rss_after(self.producer_seconds)

    def max_backlog(self) -> int:
        """The most records in the stream that the processor had not finished, at any sample."""
        return max((s.stream - s.processed for s in self.samples), default=0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "settings": asdict(self.settings),
            "sent": self.sent,
            "records_per_second": round(self.records_per_second, 1),
            "producer_seconds": round(self.producer_seconds, 1),
            "throttled": self.throttled,
            "max_iterator_age_ms": round(self.max_iterator_age_ms),
            "max_lambda_iterator_age_ms": round(self.max_lambda_iterator_age_ms),
            "drain_seconds": round(self.drain_seconds, 1),
            "max_backlog": self.max_backlog(),
            "load_before": self.load_before,
            "load_after": self.load_after,
            "errors": self.errors,
            "lost": self.tally.lost if self.tally else None,
            "samples": [asdict(s) for s in self.samples],
        }

    def describe(self) -> str:
        s = self.settings
        per_minute = [
            sample
            for sample in self.samples
            if round(sample.seconds) % 60 == 0 and sample.seconds >= 1 and sample.producing
        ]
        curve = ", ".join(
            f"{x.seconds / 60:.0f} min {x.rss_mib:.0f} MiB (backlog {x.stream - x.processed})" for x in per_minute
        )
        cpu = self.samples[-1].cpu_seconds / self.samples[-1].seconds if self.samples else 0.0
        lines = [
            f"{s.shards} shard(s), {s.minutes:g} min: {self.sent:,} records at {self.records_per_second:,.0f}/s for "
            f"{self.producer_seconds:.0f} s ({self.throttled} throttled by the emulated shards)",
            f"max iterator age {self.max_iterator_age_ms / 1000:.1f} s (GetRecords) / "
            f"{self.max_lambda_iterator_age_ms / 1000:.1f} s (Lambda, at invocation); most records behind "
            f"{self.max_backlog():,}; drained {self.drain_seconds:.1f} s after the producer stopped",
            f"stack process: {cpu:.2f} CPU-seconds per second; RSS {curve or '-'}",
            f"load average before {self.load_before[0]:.2f}, after {self.load_after[0]:.2f} (1 min)",
            f"lost {self.tally.lost if self.tally else '?'}; runner errors {len(self.errors)}",
        ]
        return "\n".join(lines)


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def produce_for_soak(endpoint_url: str, stream: str, settings: SoakSettings, failure_path: Path) -> Any:
    """The producer of a soak run (in its own process): mixed records, 1 % malformed, paced to the emulated shards,
    at `settings.rate` or, at or above their limit, as fast as they take records."""
    from producers.shard_emulator import ShardLimitedKinesis
    from producers.test_producer import make_client, produce

    limit = settings.shards * SHARD_RECORDS_PER_SECOND
    shard = ShardLimitedKinesis(make_client("kinesis", endpoint_url), shards=settings.shards)
    return produce(
        stream,
        count=settings.count,
        family="mixed",
        bad_ratio=0.01,
        seed=61,
        rate=None if settings.rate >= limit else settings.rate,
        client=shard,
        shards=settings.shards,
        failure_path=failure_path,
    )


def run_soak(run_dir: Path, settings: SoakSettings, scenario: str | None = None) -> SoakResult:
    """Run the local stack under the producer of `settings` (its own process), sampling once a second; then wait
    until every runner has finished the stream and account for every acknowledged record (the result's `tally`)."""
    import os
    import resource
    import time

    from tests.reliability.ledger import account

    scenario = scenario or f"soak-{settings.shards}"
    config = load_config({"prefix": f"rel-{scenario}"[:20], "shard_count": settings.shards})
    options = LocalOptions(
        run_dir,
        buffer_seconds=settings.buffer_seconds,
        alarm_interval_seconds=settings.alarm_interval_seconds,
        stream_retention_seconds=settings.retention_seconds,
    )

    def cpu_seconds() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    samples: list[SoakSample] = []
    load_before = os.getloadavg()
    with LocalStack(config, options) as stack:
        maxima = {"age": 0.0, "batch_age": 0.0}

        def iterator_ages() -> None:
            # Local CloudWatch keeps 15 minutes (local.moto_server.METRIC_RETENTION): read the maxima as the run goes.
            stream = {"StreamName": stack.resources.stream_name}
            age = _max_metric(stack, "AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", stream)
            function = {"FunctionName": stack.resources.processor_function}
            batch_age = _max_metric(stack, "AWS/Lambda", "IteratorAge", function)
            maxima["age"], maxima["batch_age"] = max(maxima["age"], age), max(maxima["batch_age"], batch_age)

        def sample(started: float, producing: bool = True) -> None:
            if len(samples) % 60 == 59:
                iterator_ages()
            samples.append(
                SoakSample(
                    seconds=round(time.monotonic() - started, 2),
                    stream=stack.stream_record_count(),
                    processed=stack.poller.stats.records_succeeded + stack.poller.stats.records_discarded,
                    windowed=stack.metrics_poller.stats.records_succeeded
                    + stack.metrics_poller.stats.records_discarded,
                    delivered=stack.firehose.stats.records_in,
                    rss_mib=round(_rss_mib(), 1),
                    cpu_seconds=round(cpu_seconds() - cpu_at_start, 2),
                    producing=producing,
                )
            )

        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            cpu_at_start = cpu_seconds()
            started = time.monotonic()
            future = pool.submit(
                produce_for_soak, stack.endpoint.url, stack.resources.stream_name, settings, run_dir / "failures.jsonl"
            )
            next_sample = started + 1.0
            while not future.done():
                time.sleep(max(0.0, min(0.2, next_sample - time.monotonic())))
                if time.monotonic() >= next_sample:
                    sample(started)
                    next_sample += 1.0
            summary = future.result()
        producer_done = time.monotonic()
        stack.wait_until_processed(timeout=600)
        stack.wait_until_windowed(timeout=600)
        stack.wait_until_delivered(timeout=600)
        drain_seconds = time.monotonic() - producer_done
        sample(started, producing=False)
        iterator_ages()
        age_ms, batch_age_ms = maxima["age"], maxima["batch_age"]
        tally = account(
            stack, summary.records, f"load: {settings.shards}-shard write limit for {settings.minutes:g} min"
        )
        errors = list(stack.errors)
    return SoakResult(
        settings=settings,
        samples=samples,
        sent=summary.sent,
        records_per_second=summary.records_per_second,
        producer_seconds=summary.elapsed,
        throttled=summary.throttled,
        max_iterator_age_ms=age_ms,
        max_lambda_iterator_age_ms=batch_age_ms,
        drain_seconds=drain_seconds,
        load_before=load_before,
        load_after=os.getloadavg(),
        errors=errors,
        tally=tally,
    )


def _max_metric(stack: LocalStack, namespace: str, name: str, dimensions: dict[str, str]) -> float:
    """The highest value of a metric in local CloudWatch over the last hour."""
    from datetime import UTC, datetime, timedelta

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
