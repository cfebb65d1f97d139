"""Windowed metrics: the engine's CPU per record and DynamoDB writes per 1,000 records, against a naive counter.

Both run in one process against moto's DynamoDB (in-process, `mock_aws`), on the same seeded mixed records (60 %
sensor readings from 50 sensors in 5 locations, 25 % logs of 6 services, 15 % student events of 8 courses), arriving
at RATE records/s in event time and cut into Lambda batches as the event source mapping would (up to
`metrics_batch_size` records or `metrics_batch_window_seconds` of arrivals).

- engine:  `lambdas.metrics.windows.apply_batch` with the DynamoDB store, exactly as the deployed function runs it
           (one read and one conditional write per window and entity a batch touches, plus shard state and
           window index).
- naive:   one `UpdateItem` per record and aggregate it belongs to (ADD count, sums; min/max by condition-free
           SET of the latest value, i.e. not even correct), no watermark, no exactly-once.

CPU is `time.process_time()` of the whole process, so moto's own work is included on both sides (as DynamoDB's
would be on AWS, it is not ours, but the request count drives both). Write request units are counted from the
requests (1 per KiB of item written, rounded up, as DynamoDB on-demand bills) and priced at PRICE_PER_MILLION_WRU.

Run: `.venv/bin/python bench/bench_metrics.py [--records N] [--rate R]`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# DynamoDB on-demand, us-east-1: $0.625 per million write request units, $0.125 per million read request units
# (the prices after AWS's November 2024 reduction; streamlake's cost table carries the dated source).
PRICE_PER_MILLION_WRU = 0.625
PRICE_PER_MILLION_RRU = 0.125
SECONDS_PER_MONTH = 730 * 3600


def records(n: int, rate: float, seed: int = 7) -> list[Any]:
    from lambdas.schemas import Event

    rng = random.Random(seed)
    start = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
    out = []
    for i in range(n):
        ts = start + timedelta(seconds=i / rate + rng.uniform(-3, 0.5))
        roll = rng.random()
        if roll < 0.6:
            sensor = rng.randrange(50)
            fields = {
                "sensor_id": f"sensor-{sensor:02d}",
                "temperature": round(rng.gauss(24, 4), 2),
                "humidity": round(rng.uniform(30, 70), 1),
                "location": f"room-{sensor % 5}",
            }
            out.append(Event("sensor", str(uuid.UUID(int=rng.getrandbits(128))), ts, None, fields))
        elif roll < 0.85:
            level = rng.choice(["DEBUG", "INFO", "INFO", "INFO", "WARNING", "ERROR"])
            fields = {"level": level, "service": f"svc-{rng.randrange(6)}", "message": "m"}
            out.append(Event("log", str(uuid.UUID(int=rng.getrandbits(128))), ts, None, fields))
        else:
            event_type = rng.choice(["login", "logout", "assignment_submitted", "grade_posted"])
            fields = {
                "student_id": f"st-{rng.randrange(500)}",
                "event_type": event_type,
                "course_id": f"course-{rng.randrange(8)}",
                "grade": round(rng.uniform(30, 100), 1) if event_type == "grade_posted" else None,
            }
            out.append(Event("student", str(uuid.UUID(int=rng.getrandbits(128))), ts, None, fields))
    return out


def batches(events: list[Any], rate: float, batch_size: int, window_s: float) -> list[list[Any]]:
    """Cut as Lambda does: a batch closes at `batch_size` records or after `window_s` seconds of arrivals."""
    per_window = max(1, int(rate * window_s))
    size = min(batch_size, per_window)
    return [events[i : i + size] for i in range(0, len(events), size)]


class CountingClient:
    """Wraps a boto3 DynamoDB client: counts requests and the request units DynamoDB would bill for them."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: dict[str, int] = {}
        self.wru = 0
        self.rru = 0.0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(**kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            response = method(**kwargs)
            if name in ("put_item", "update_item"):
                size = len(json.dumps(kwargs.get("Item") or kwargs.get("ExpressionAttributeValues") or {}))
                self.wru += max(1, math.ceil(size / 1024))
            elif name == "get_item":
                item = response.get("Item") or {}
                self.rru += max(1, math.ceil(len(json.dumps(item)) / 4096))  # strongly consistent: 1 per 4 KiB
            elif name == "query":
                size = sum(len(json.dumps(i)) for i in response.get("Items", []))
                self.rru += max(1, math.ceil(size / 4096))
            return response

        return call


def create_table(dynamodb: Any, name: str, key_schema: list[dict[str, str]]) -> None:
    dynamodb.create_table(
        TableName=name,
        KeySchema=key_schema,
        AttributeDefinitions=[{"AttributeName": k["AttributeName"], "AttributeType": "S"} for k in key_schema],
        BillingMode="PAY_PER_REQUEST",
    )


def run_engine(dynamodb: Any, cut: list[list[Any]]) -> tuple[float, CountingClient, int]:
    from lambdas.metrics.store import DynamoWindowStore
    from lambdas.metrics.windows import StreamRecord, WindowSettings, apply_batch

    create_table(
        dynamodb, "windows", [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
    )
    counting = CountingClient(dynamodb)
    settings = WindowSettings()
    store = DynamoWindowStore(counting, "windows", settings.window_ms, 3600)
    shard = "shardId-000000000000"
    closed = 0
    seq = 10**20
    started = time.process_time()
    for batch in cut:
        stream = []
        for event in batch:
            seq += 1
            stream.append(StreamRecord(shard, str(seq), event))
        now_ms = int(batch[-1].timestamp.timestamp() * 1000)
        closed += len(apply_batch(store, shard, stream, settings, now_ms, stream_shards=[shard]).closed)
    return time.process_time() - started, counting, closed


def run_naive(dynamodb: Any, events: list[Any]) -> tuple[float, CountingClient]:
    from lambdas.metrics.windows import WindowSettings, contributions

    create_table(dynamodb, "naive", [{"AttributeName": "id", "KeyType": "HASH"}])
    counting = CountingClient(dynamodb)
    settings = WindowSettings()
    started = time.process_time()
    for event in events:
        for key, agg in contributions(event, settings):
            names, values, sets = {}, {":one": {"N": "1"}}, ["#c :one"]
            names["#c"] = "count"
            for i, (name, total) in enumerate(agg.sums.items()):
                names[f"#s{i}"] = f"sum_{name}"
                values[f":s{i}"] = {"N": repr(total)}
                sets.append(f"#s{i} :s{i}")
            counting.update_item(
                TableName="naive",
                Key={"id": {"S": f"{key.family}#{key.dimension}#{key.entity}#{key.start_ms}"}},
                UpdateExpression="ADD " + ", ".join(sets),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
    return time.process_time() - started, counting


def measure(n: int, rate: float, batch_size: int, batch_window: float) -> dict[str, Any]:
    import boto3
    from moto import mock_aws

    events = records(n, rate)
    cut = batches(events, rate, batch_size, batch_window)
    with mock_aws():
        engine_cpu, engine, closed = run_engine(boto3.client("dynamodb"), cut)
    with mock_aws():
        naive_cpu, naive = run_naive(boto3.client("dynamodb"), events)
    month = rate * SECONDS_PER_MONTH / 1e6
    return {
        "rate": rate,
        "records": n,
        "batches": len(cut),
        "batch": len(cut[0]),
        "closed": closed,
        "engine_rps_cpu": n / engine_cpu,
        "naive_rps_cpu": n / naive_cpu,
        "engine_requests": sum(engine.calls.values()),
        "naive_requests": sum(naive.calls.values()),
        "engine_wru_1k": 1000 * engine.wru / n,
        "engine_rru_1k": 1000 * engine.rru / n,
        "naive_wru_1k": 1000 * naive.wru / n,
        "engine_month": month * (engine.wru / n * PRICE_PER_MILLION_WRU + engine.rru / n * PRICE_PER_MILLION_RRU),
        "naive_month": month * naive.wru / n * PRICE_PER_MILLION_WRU,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=10_000, help="records per rate")
    parser.add_argument("--rates", default="100,1000", help="records per second of event time, comma-separated")
    from streamlake.config import load_config

    metrics = load_config().metrics  # the deployed mapping's batching (cdk.json, defaults in streamlake/config.py)
    parser.add_argument("--batch-size", type=int, default=metrics.batch_size)
    parser.add_argument("--batch-window", type=float, default=float(metrics.batch_window_seconds))
    args = parser.parse_args()
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

    print(
        f"{args.records:,} mixed records per rate; Lambda batches of up to {args.batch_size} records or "
        f"{args.batch_window:g} s; DynamoDB in moto, in process"
    )
    header = (
        f"{'rate/s':>7} {'batch':>6} {'engine rec/CPU-s':>17} {'naive rec/CPU-s':>16} {'ratio':>6} "
        f"{'engine WRU+RRU/1k':>18} {'naive WRU/1k':>13} {'engine $/month':>15} {'naive $/month':>14}"
    )
    print(header)
    for rate in (float(r) for r in args.rates.split(",")):
        m = measure(args.records, rate, args.batch_size, args.batch_window)
        print(
            f"{rate:>7g} {m['batch']:>6} {m['engine_rps_cpu']:>17,.0f} {m['naive_rps_cpu']:>16,.0f} "
            f"{m['engine_rps_cpu'] / m['naive_rps_cpu']:>5.1f}x "
            f"{m['engine_wru_1k']:>8.0f} + {m['engine_rru_1k']:<7.0f} {m['naive_wru_1k']:>13.0f} "
            f"{m['engine_month']:>15,.2f} {m['naive_month']:>14,.2f}"
        )
    print("$/month: DynamoDB on-demand request units only, at that rate around the clock (us-east-1 prices above)")


if __name__ == "__main__":
    main()
