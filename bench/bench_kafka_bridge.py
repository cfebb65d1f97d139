"""Kafka -> Kinesis bridge throughput: `producers/kafka_bridge.py` against a naive consume/put/commit loop, same run.

A real Kafka broker (noida-db, `local.kafka_broker.KafkaBroker`) runs in a subprocess and moto's Kinesis in this
process (`local.moto_server.running_moto`). `produce_kafka` first fills the three bridge topics (estudiante-eventos,
sistema-logs, notificaciones; 3 partitions each) with N valid mixed messages. Then two consumers read them from the
beginning, each with a fresh consumer group and its own 1-shard stream:

1. the bridge: `BridgeThread` with default `BridgeSettings` (batches of up to 500, PutRecords, one synchronous commit
   per batch after Kinesis acknowledged it), until it has committed all N;
2. a naive loop, as a first version usually looks: one `Consumer.poll` per message, one PutRecord, one synchronous
   commit. It reads only the first M messages; rates are per message, so the comparison holds. It forwards the bytes
   as they are, while the bridge also decodes, validates, routes and stamps every message (`lambdas.bridge`).

Neither run goes through the shard-limit emulation (`producers.shard_emulator`), and moto enforces no limit, so what
is measured is the bridge, not the shard (a real shard takes 1,000 records/s).

"seconds" runs from start to the last commit, joining the group included; msg/s is the steady rate from the first
commit to the last, so the join (a broker setting) does not count against the naive loop's shorter run. CPU is
`time.process_time` of this process over the run, per 1,000 messages: it includes moto's server threads and
librdkafka's, which run in this process, but not the broker.

Correctness: each stream is read back from TRIM_HORIZON and must hold the expected number of distinct event_ids, all
of them produced ones (the bridge: all N; the naive loop: M); otherwise the bench exits with status 1. Copies are
reported; the bridge writes them only when it retries, and none are expected here.

Most of the naive loop's time is the fixed cost of one PutRecord call (botocore and moto's HTTP server, both in this
process); against real Kinesis it is a network round trip instead, so the ratio holds in kind, not in exact value.

Run: `.venv/bin/python bench/bench_kafka_bridge.py [--messages N] [--naive-messages M]`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PARTITIONS = 3
TIMEOUT_S = 120.0


@dataclass
class Run:
    messages: int
    seconds: float  # start to last commit
    steady_rate: float  # messages/s from the first commit to the last
    cpu_seconds: float
    stream: str


def _stream(kinesis: Any, name: str) -> str:
    kinesis.create_stream(StreamName=name, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})
    return name


def run_bridge(bootstrap_servers: str, endpoint: str, kinesis: Any, expected: int) -> Run:
    """The real bridge on its own thread until it has committed `expected` messages."""
    from local.moto_server import REGION
    from producers.kafka_bridge import BridgeSettings, BridgeThread

    stream = _stream(kinesis, f"bench-bridge-{uuid.uuid4().hex[:8]}")
    settings = BridgeSettings(
        bootstrap_servers=bootstrap_servers,
        stream_name=stream,
        lake_bucket="bench-lake",
        group=f"bench-bridge-{uuid.uuid4().hex[:8]}",
        endpoint_url=endpoint,
        region=REGION,
    )
    commits: list[tuple[float, int]] = []  # (when, messages committed so far), after each batch
    bridge = BridgeThread(settings, on_batch=lambda _outcome, stats: commits.append((time.monotonic(), stats.messages)))
    wall, cpu = time.monotonic(), time.process_time()
    bridge.start()
    try:
        while bridge.stats.messages < expected:
            if bridge.error is not None or not bridge.alive:
                raise RuntimeError(f"the bridge stopped: {bridge.error}")
            if time.monotonic() - wall > TIMEOUT_S:
                raise RuntimeError(f"the bridge committed {bridge.stats.messages:,} of {expected:,} in {TIMEOUT_S:g} s")
            time.sleep(0.005)
        cpu = time.process_time() - cpu
    finally:
        bridge.stop()
    stats = bridge.stats
    if stats.quarantined or stats.written != expected:
        raise RuntimeError(f"the bridge wrote {stats.written:,} and quarantined {stats.quarantined:,} of {expected:,}")
    (first, first_count), (last, last_count) = commits[0], commits[-1]
    steady = (last_count - first_count) / (last - first) if len(commits) > 1 else last_count / (last - wall)
    return Run(last_count, last - wall, steady, cpu, stream)


def run_naive(bootstrap_servers: str, kinesis: Any, count: int) -> Run:
    """Poll one message, put_record it, commit its offset synchronously; `count` times."""
    from confluent_kafka import Consumer

    from streamlake.config import DEFAULT_KAFKA_TOPICS

    stream = _stream(kinesis, f"bench-naive-{uuid.uuid4().hex[:8]}")
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": f"bench-naive-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    commits: list[float] = []
    wall, cpu = time.monotonic(), time.process_time()
    try:
        consumer.subscribe(list(DEFAULT_KAFKA_TOPICS))
        while len(commits) < count:
            if time.monotonic() - wall > TIMEOUT_S:
                raise RuntimeError(f"the naive loop committed {len(commits):,} of {count:,} in {TIMEOUT_S:g} s")
            message = consumer.poll(1.0)
            if message is None or message.error() is not None:
                continue
            key = message.key().decode() if message.key() else str(message.offset())
            kinesis.put_record(StreamName=stream, Data=message.value(), PartitionKey=key)
            consumer.commit(message=message, asynchronous=False)
            commits.append(time.monotonic())
        cpu = time.process_time() - cpu
    finally:
        consumer.close()
    return Run(count, commits[-1] - wall, (count - 1) / (commits[-1] - commits[0]), cpu, stream)


def check(kinesis: Any, run: Run, produced: set[str], label: str) -> bool:
    """`run.messages` distinct event_ids on the run's stream, all of them produced ones. Copies are counted, not
    failed: the bridge writes them only when it retries a batch, and the processor drops them."""
    from tests.bridge.conftest import read_stream

    ids = [record.get("event_id") for record in read_stream(kinesis, run.stream)]
    distinct = set(ids)
    ok = len(distinct) == run.messages and distinct <= produced
    print(
        f"{label}: {len(ids):,} records read back, {len(distinct):,} distinct event_ids (expected {run.messages:,}), "
        f"{len(ids) - len(distinct):,} copies, {len(distinct - produced):,} unknown -> {'ok' if ok else 'MISSING'}"
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000, help="messages produced and bridged (N)")
    parser.add_argument("--naive-messages", type=int, default=1_500, help="messages the naive loop forwards (M)")
    args = parser.parse_args()
    if not 2 <= args.naive_messages <= args.messages:
        parser.error("--naive-messages must be between 2 and --messages")

    import boto3

    from local.kafka_broker import KafkaBroker
    from local.moto_server import running_moto
    from producers.kafka_producer import produce_kafka

    with (
        tempfile.TemporaryDirectory() as tmp,
        KafkaBroker(Path(tmp) / "kafka") as broker,
        running_moto(in_process=False) as endpoint,
    ):
        kinesis = boto3.client("kinesis")
        boto3.client("s3").create_bucket(Bucket="bench-lake")  # the bridge's quarantine bucket; stays empty here
        summary = produce_kafka(
            count=args.messages,
            family="mixed",
            seed=11,
            bootstrap_servers=broker.bootstrap_servers,
            create_topics=True,
            partitions=PARTITIONS,
            failure_path=Path(tmp) / "failed.jsonl",
        )
        if not summary.ok or summary.sent != args.messages:
            raise RuntimeError(f"produced {summary.sent:,} of {args.messages:,} messages: {summary.error}")
        produced = {record.event_id for record in summary.records if record.event_id}
        print(f"produced {summary.sent:,} messages to Kafka in {summary.elapsed:.1f} s")

        bridge = run_bridge(broker.bootstrap_servers, endpoint.url, kinesis, args.messages)
        naive = run_naive(broker.bootstrap_servers, kinesis, args.naive_messages)
        ok = all([check(kinesis, bridge, produced, "bridge"), check(kinesis, naive, produced, "naive")])

    def cpu_per_1000(run: Run) -> float:
        return run.cpu_seconds / run.messages * 1000

    print(f"\nKafka -> Kinesis, {PARTITIONS} partitions x 3 topics -> 1 shard, Kinesis in moto (no shard limit)")
    print("| consumer | messages | seconds (join incl.) | msg/s (steady) | CPU s / 1,000 msgs |")
    print("|---|---:|---:|---:|---:|")
    for label, run in (("streamlake bridge (batch 500)", bridge), ("naive (poll, put_record, commit)", naive)):
        print(f"| {label} | {run.messages:,} | {run.seconds:.1f} | {run.steady_rate:,.0f} | {cpu_per_1000(run):.2f} |")
    print(
        f"| ratio bridge / naive | | | {bridge.steady_rate / naive.steady_rate:,.1f}x | "
        f"{cpu_per_1000(naive) / cpu_per_1000(bridge):,.1f}x less |"
    )
    if not ok:
        print("RECORDS MISSING: see the read-back lines above", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
