"""Processor throughput: records per second through the real handler on a 10,000-record mixed batch (the Lambda
maximum), AWS calls going to a moto server in another process, against a naive handler measured in the same run.

The naive handler is what a first version usually looks like: hand-written dict checks, one SNS Publish per alert
and one CloudWatch PutMetricData per record. It runs on a 500-record slice (at its speed, 10,000 records would take
minutes); rates are per record, so the comparison holds.

"Per core" divides by this process's CPU time (user + system): moto runs in its own process, so it is not counted.
Also reports the handler module's import time (cold start), in a fresh interpreter, minus the interpreter's own
start-up. Run: `make bench` or `.venv/bin/python bench/bench_processor.py`.
"""

from __future__ import annotations

import base64
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BATCH = 10_000
NAIVE_SLICE = 500
RUNS = 3


def mixed_payloads(count: int, rng: random.Random) -> list[bytes]:
    """A realistic mix: 60 % sensor (2 % above 30 °C), 25 % student (1 in 5 a grade), 13 % logs (10 % errors),
    2 % malformed."""
    from lambdas.schemas import new_event

    now = datetime.now(UTC)
    payloads = []
    for i in range(count):
        roll = rng.random()
        if roll < 0.60:
            temperature = 31 + rng.random() * 5 if rng.random() < 0.02 else 18 + rng.random() * 8
            record = new_event(
                "sensor",
                source="bench",
                timestamp=now,
                sensor_id=f"sensor-{i % 50}",
                temperature=round(temperature, 2),
                humidity=round(rng.uniform(30, 70), 1),
                location="Lab",
            )
        elif roll < 0.85:
            kind = rng.choice(["login", "logout", "assignment_submitted", "grade_posted", "course_enrolled"])
            extra: dict[str, Any] = {"course_id": f"C{i % 7}"}
            if kind == "grade_posted":
                extra["grade"] = rng.randint(0, 100)
            record = new_event(
                "student", source="bench", timestamp=now, student_id=f"st-{i % 300}", event_type=kind, **extra
            )
        elif roll < 0.98:
            level = "ERROR" if rng.random() < 0.10 else "INFO"
            record = new_event(
                "log", source="bench", timestamp=now, level=level, service=f"svc-{i % 4}", message=f"request {i} done"
            )
        else:
            payloads.append(b'{"sensor_id": "broken", "temperature": "hot"}')
            continue
        payloads.append(json.dumps(record).encode("utf-8"))
    return payloads


def kinesis_event(payloads: list[bytes], first: int) -> dict[str, Any]:
    arrival = time.time()
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "pk",
                    "sequenceNumber": str(10**20 + first + i),
                    "data": base64.b64encode(data).decode("ascii"),
                    "approximateArrivalTimestamp": arrival,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-000000000000:{10**20 + first + i}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/bench",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/bench",
            }
            for i, data in enumerate(payloads)
        ]
    }


@contextmanager
def moto_process():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait()


def provision() -> dict[str, str]:
    import boto3

    sns, s3, ddb = boto3.client("sns"), boto3.client("s3"), boto3.client("dynamodb")
    s3.create_bucket(Bucket="bench-lake")
    ddb.create_table(
        TableName="bench-idempotency",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return {
        "ALERTS_TOPIC_ARN": sns.create_topic(Name="bench-alerts")["TopicArn"],
        "LAKE_BUCKET": "bench-lake",
        "IDEMPOTENCY_TABLE": "bench-idempotency",
    }


def naive_handler_factory() -> Any:
    import boto3

    sns, cloudwatch = boto3.client("sns"), boto3.client("cloudwatch")
    topic = os.environ["ALERTS_TOPIC_ARN"]

    def naive_handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
        failures = []
        for record in event["Records"]:
            try:
                body = json.loads(base64.b64decode(record["kinesis"]["data"]))
                family = body.get("family", "sensor")
                if family == "sensor":
                    if not isinstance(body.get("temperature"), int | float) or "sensor_id" not in body:
                        raise ValueError("bad sensor")
                    if body["temperature"] > 30:
                        sns.publish(TopicArn=topic, Subject="High temperature", Message=json.dumps(body))
                elif family == "student" and body.get("event_type") == "grade_posted":
                    sns.publish(TopicArn=topic, Subject="Grade", Message=json.dumps(body))
                cloudwatch.put_metric_data(
                    Namespace="Naive", MetricData=[{"MetricName": "Records", "Value": 1, "Unit": "Count"}]
                )
            except ValueError:
                failures.append({"itemIdentifier": record["kinesis"]["sequenceNumber"]})
        return {"batchItemFailures": failures}

    return naive_handler


def timed(handler: Any, event: dict[str, Any], context: Any) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    handler(event, context)
    return time.perf_counter() - wall, time.process_time() - cpu


def import_time_ms() -> tuple[float, float]:
    """Median over 5 fresh interpreters: (handler import ms, of which Powertools + X-Ray SDK ms)."""

    def median_run(code: str) -> float:
        runs = []
        for _ in range(5):
            out = subprocess.run(
                [sys.executable, "-c", f"import time; t=time.perf_counter(); {code}; print(time.perf_counter()-t)"],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            )
            runs.append(float(out.stdout) * 1000)
        return statistics.median(runs)

    handler = median_run("import lambdas.processor.handler")
    powertools = median_run(
        "from aws_lambda_powertools import Logger, Metrics, Tracer; Tracer(service='x'); "
        "import aws_lambda_powertools.utilities.batch"
    )
    return handler, powertools


def main() -> None:
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "HIGH_TEMPERATURE_C": "30",
            "ERROR_BURST_THRESHOLD": "5",
            "ERROR_BURST_WINDOW_SECONDS": "60",
        }
    )
    rng = random.Random(7)
    with moto_process() as endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        os.environ.update(provision())
        from lambdas.processor.handler import handler
        from local.poller import LambdaContext

        context = LambdaContext(function_name="bench", invoked_function_arn="arn:aws:lambda:us-east-1:1:function:b")
        devnull = open(os.devnull, "w")  # noqa: SIM115 - the handler's JSON logs and EMF would swamp the output
        stdout, sys.stdout = sys.stdout, devnull
        try:
            handler(kinesis_event(mixed_payloads(200, rng), 0), context)  # warm: clients, connections
            ours = [
                timed(handler, kinesis_event(mixed_payloads(BATCH, rng), (r + 1) * BATCH), context) for r in range(RUNS)
            ]
            naive = naive_handler_factory()
            naive(kinesis_event(mixed_payloads(20, rng), 0), context)
            theirs = [timed(naive, kinesis_event(mixed_payloads(NAIVE_SLICE, rng), 0), context) for _ in range(RUNS)]
        finally:
            sys.stdout = stdout
    handler_ms, powertools_ms = import_time_ms()

    wall = statistics.median(w for w, _ in ours)
    cpu = statistics.median(c for _, c in ours)
    naive_wall = statistics.median(w for w, _ in theirs)
    naive_cpu = statistics.median(c for _, c in theirs)
    ours_rate, ours_core = BATCH / wall, BATCH / cpu
    naive_rate, naive_core = NAIVE_SLICE / naive_wall, NAIVE_SLICE / naive_cpu
    print(f"processor, {BATCH:,}-record mixed batch, AWS in moto (median of {RUNS})")
    print("| handler | records/s (wall) | records/s per core (CPU) |")
    print("|---|---:|---:|")
    print(f"| streamlake processor | {ours_rate:,.0f} | {ours_core:,.0f} |")
    print(f"| naive (dict checks, a call per record) | {naive_rate:,.0f} | {naive_core:,.0f} |")
    print(f"| ratio | {ours_rate / naive_rate:,.0f}x | {ours_core / naive_core:,.0f}x |")
    print(
        f"import of lambdas.processor.handler: {handler_ms:.0f} ms "
        f"(Powertools Logger/Metrics/Tracer/batch alone: {powertools_ms:.0f} ms); no network at import"
    )


if __name__ == "__main__":
    main()
