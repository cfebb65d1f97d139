"""Processor throughput: records per second through the real handler on 10,000-record batches (the Lambda maximum),
AWS calls going to a moto server in another process, against honest baselines measured in the same run.

Baselines:
- **simple** (the headline): what a competent simple handler does. Powertools `BatchProcessor` and
  `process_partial_response`, Logger and Metrics, `json.loads` plus hand-written field checks, one SNS `Publish` per
  alert, metrics added once per batch (one EMF document), invalid records logged and skipped, no de-duplication,
  no quarantine, no error-burst counting.
- **naive** (secondary, the old baseline): hand-written dict checks, one SNS `Publish` per alert and one CloudWatch
  `PutMetricData` per record, on a 500-record slice (its per-record call makes it ~100x slower).

Batches: **alert-free** (normal sensor readings, student events that notify nobody, INFO logs; nothing malformed)
and **mixed** (60 % sensor with 2 % above 30 °C, 25 % student with 1 in 5 a grade, 13 % logs with 10 % errors, 2 %
malformed). Rates are per record, wall clock and per CPU-second of this process (`time.process_time`: user +
system of every thread; moto runs in its own process and is not counted). The machine may be shared: CPU-seconds
are the steadier number.

What each extra of ours costs or saves is measured by swapping one adapter of the processor at a time (the handler
reads them from `handler.get_effects()`): without de-duplication (no DynamoDB lookups/writes), with one `Publish`
per alert instead of `PublishBatch`, without the quarantine write (S3 object built and put).

Also reports the handler module's import time (cold start), in a fresh interpreter, minus the interpreter's own
start-up. `--profile` prints the top functions of the processor under cProfile on each batch.
Run: `make bench` or `.venv/bin/python bench/bench_processor.py [--runs N] [--profile]`.
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


def alert_free_payloads(count: int, rng: random.Random) -> list[bytes]:
    """The same families with nothing to alert on or quarantine: normal temperatures, student events without a
    grade or channel, INFO logs. Sensors and services of their own: the mixed batch leaves its sensors in alert
    (lambdas/processor/lifecycle.py), and their normal readings here would then send "recovered" messages."""
    from lambdas.schemas import new_event

    now = datetime.now(UTC)
    payloads = []
    for i in range(count):
        roll = rng.random()
        if roll < 0.60:
            record = new_event(
                "sensor",
                source="bench",
                timestamp=now,
                sensor_id=f"calm-sensor-{i % 50}",
                temperature=round(18 + rng.random() * 8, 2),
                humidity=round(rng.uniform(30, 70), 1),
                location="Lab",
            )
        elif roll < 0.85:
            kind = rng.choice(["login", "logout", "assignment_submitted", "course_enrolled"])
            record = new_event(
                "student", source="bench", timestamp=now, student_id=f"st-{i % 300}", event_type=kind, course_id="C1"
            )
        else:
            record = new_event(
                "log",
                source="bench",
                timestamp=now,
                level="INFO",
                service=f"calm-svc-{i % 4}",
                message=f"request {i} done",
            )
        payloads.append(json.dumps(record).encode("utf-8"))
    return payloads


BATCHES = {"alert-free": alert_free_payloads, "mixed": mixed_payloads}


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


def simple_handler_factory() -> Any:
    """The honest baseline: a competent simple Powertools handler (see the module docstring)."""
    from collections import Counter

    import boto3
    from aws_lambda_powertools import Logger, Metrics
    from aws_lambda_powertools.metrics import MetricUnit
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    sns = boto3.client("sns")
    topic = os.environ["ALERTS_TOPIC_ARN"]
    logger = Logger(service="simple")
    metrics = Metrics(namespace="Simple", service="simple")
    processor = BatchProcessor(event_type=EventType.KinesisDataStreams)
    counts: Counter[str] = Counter()
    required = {
        "sensor": {"sensor_id": str, "temperature": (int, float), "humidity": (int, float), "location": str},
        "student": {"student_id": str, "event_type": str},
        "log": {"level": str, "service": str, "message": str},
    }

    def record_handler(record: Any) -> None:
        try:
            body = json.loads(record.kinesis.data_as_bytes())
            family = body.get("family", "sensor") if isinstance(body, dict) else None
            if family not in required or not isinstance(body.get("timestamp"), str):
                raise ValueError("unknown family or no timestamp")
            for name, kind in required[family].items():
                if not isinstance(body.get(name), kind):
                    raise ValueError(f"{name} missing or not {kind}")
        except ValueError as error:
            logger.warning("invalid record skipped", extra={"reason": str(error)})
            counts["invalid"] += 1
            return
        counts[family] += 1
        if family == "sensor" and body["temperature"] > 30:
            sns.publish(TopicArn=topic, Subject="High temperature", Message=json.dumps(body))
        elif family == "student" and body["event_type"] == "grade_posted":
            sns.publish(TopicArn=topic, Subject="New grade", Message=json.dumps(body))

    @logger.inject_lambda_context
    @metrics.log_metrics
    def simple_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        counts.clear()
        response = process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
        for name, value in counts.items():
            metrics.add_metric(name=f"{name}_records", unit=MetricUnit.Count, value=value)
        return response

    return simple_handler


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


# -- variants of the processor: one extra swapped out at a time ------------------------------------------------------


def _variant_effects(variant: str) -> Any:
    """The processor's adapters with one extra removed or replaced (`variant` names which)."""
    from lambdas.processor.adapters import AlertSender, AlertStateStore, QuarantineWriter, aws_client
    from lambdas.processor.batch import Effects
    from lambdas.processor.settings import get_settings

    settings = get_settings()
    dynamodb = aws_client("dynamodb")
    sns = aws_client("sns")

    class NoDedup(AlertSender):
        """PublishBatch without the DynamoDB de-duplication lookups and writes."""

        def _already_sent(self, alert_ids: list[str]) -> set[str]:
            return set()

        def _record_sent(self, alert_ids: list[str], expiration: str) -> None:
            return None

    class PublishEach(NoDedup):
        """One Publish per alert, one after the other, as the simple handler does (no de-duplication either)."""

        def send(self, alerts: Any, now: float | None = None) -> Any:
            from lambdas.processor.adapters import SendReport

            report = SendReport()
            for alert in {a.alert_id: a for a in alerts}.values():
                self.sns.publish(TopicArn=self._topic_arn, Subject=alert.subject, Message=alert.message)
                report.published.append(alert.alert_id)
            return report

    class NoQuarantine(QuarantineWriter):
        def write(self, records: Any, now: Any) -> str:
            return "not-written"

    alerts = {"no de-duplication": NoDedup, "Publish per alert, no de-duplication": PublishEach}.get(
        variant, AlertSender
    )(sns, dynamodb, settings.alerts_topic_arn, settings.idempotency_table)
    quarantine = (NoQuarantine if variant == "no quarantine" else QuarantineWriter)(
        aws_client("s3"), settings.lake_bucket
    )
    return Effects(alerts=alerts, states=AlertStateStore(dynamodb, settings.idempotency_table), quarantine=quarantine)


VARIANTS = ("no de-duplication", "Publish per alert, no de-duplication", "no quarantine")


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


def _set_effects(effects: Any) -> None:
    import lambdas.processor.handler as processor_module

    processor_module._effects = effects


def profile(handler: Any, event: dict[str, Any], context: Any, label: str, top: int = 25) -> None:
    """cProfile of one invocation: the top functions by own time, and own time grouped by where it is spent."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    handler(event, context)
    profiler.disable()
    stats = pstats.Stats(profiler)
    groups: dict[str, float] = {}
    rows = []
    for (filename, line, name), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        group = _group_of(filename, name)
        groups[group] = groups.get(group, 0.0) + own
        rows.append((own, cumulative, calls, f"{Path(filename).name}:{line}({name})"))
    total = sum(groups.values())
    print(f"\nprofile, {label} batch: {total * 1000:.0f} ms own time in total", file=sys.__stdout__)
    for group, own in sorted(groups.items(), key=lambda item: -item[1]):
        print(f"  {own / total:6.1%}  {group}", file=sys.__stdout__)
    print("  top functions by own time (ms own, ms cumulative, calls):", file=sys.__stdout__)
    for own, cumulative, calls, where in sorted(rows, reverse=True)[:top]:
        print(f"    {own * 1000:7.1f} {cumulative * 1000:8.1f} {calls:7d}  {where}", file=sys.__stdout__)


def _group_of(filename: str, name: str) -> str:
    path = filename.replace("\\", "/")
    if "lambdas/schemas.py" in path:
        return "validation (lambdas/schemas.py)"
    if "json/" in path or name in ("<method 'decode' of 'json.decoder'>", "raw_decode") or "scanner" in name:
        return "JSON (json module)"
    if "lambdas/processor/" in path or "lambdas/quarantine.py" in path:
        return "processor rules/batch/adapters (lambdas/)"
    if "aws_lambda_powertools" in path:
        return "Powertools (batch, logger, metrics, data classes)"
    if any(part in path for part in ("botocore", "boto3", "urllib3", "http/client", "s3transfer", "/ssl.py")):
        return "botocore/HTTP (AWS calls)"
    if "base64" in path or "binascii" in name:
        return "base64"
    if "concurrent/" in path or "threading.py" in path or "queue.py" in path or "acquire" in name:
        return "threads (pool, locks, waits)"
    if "datetime" in name or "_strptime" in path:
        return "datetime"
    if "gzip" in path or "zlib" in name:
        return "gzip (quarantine object)"
    return "other (builtins, stdlib)"


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS, help="runs of each handler per batch (median reported)")
    parser.add_argument("--profile", action="store_true", help="also profile the processor on each batch")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
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
    results: dict[str, dict[str, tuple[float, float]]] = {}
    with moto_process() as endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        os.environ.update(provision())
        from lambdas.processor.handler import get_effects, handler
        from local.poller import LambdaContext

        context = LambdaContext(function_name="bench", invoked_function_arn="arn:aws:lambda:us-east-1:1:function:b")
        devnull = open(os.devnull, "w")  # noqa: SIM115 - the handler's JSON logs and EMF would swamp the output
        stdout, sys.stdout = sys.stdout, devnull
        try:
            simple = simple_handler_factory()
            naive = naive_handler_factory()
            ours = get_effects()
            variants = {name: _variant_effects(name) for name in VARIANTS}
            for warm in (handler, simple):  # clients, connections, imports
                warm(kinesis_event(mixed_payloads(200, rng), 0), context)
            naive(kinesis_event(mixed_payloads(20, rng), 0), context)
            first = BATCH
            for _ in range(args.runs):
                # Interleaved, so a busy moment of a shared machine does not land on one handler only.
                for kind, make in BATCHES.items():
                    runs = results.setdefault(kind, {})
                    runs.setdefault("streamlake processor", [])
                    _set_effects(ours)
                    runs["streamlake processor"].append(timed(handler, kinesis_event(make(BATCH, rng), first), context))
                    first += BATCH
                    runs.setdefault("simple (Powertools, Publish per alert)", []).append(
                        timed(simple, kinesis_event(make(BATCH, rng), first), context)
                    )
                    first += BATCH
                    if kind == "mixed":
                        for name, effects in variants.items():
                            _set_effects(effects)
                            runs.setdefault(f"processor, {name}", []).append(
                                timed(handler, kinesis_event(make(BATCH, rng), first), context)
                            )
                            first += BATCH
                        runs.setdefault("naive (a call per record)", []).append(
                            timed(naive, kinesis_event(make(NAIVE_SLICE, rng), first), context)
                        )
                        first += NAIVE_SLICE
            _set_effects(ours)
            if args.profile:
                for kind, make in BATCHES.items():
                    profile(handler, kinesis_event(make(BATCH, rng), first), context, kind)
                    first += BATCH
        finally:
            sys.stdout = stdout
    handler_ms, powertools_ms = import_time_ms()

    table = {
        kind: {
            name: {
                "records": (count := NAIVE_SLICE if name.startswith("naive") else BATCH),
                "wall_per_s": count / statistics.median(w for w, _ in runs),
                "cpu_per_s": count / statistics.median(c for _, c in runs),
            }
            for name, runs in by_handler.items()
        }
        for kind, by_handler in results.items()
    }
    if args.json:
        print(json.dumps({"batches": table, "import_ms": handler_ms, "powertools_import_ms": powertools_ms}, indent=2))
        return
    print(f"processor, {BATCH:,}-record batches, AWS in moto (median of {args.runs}; naive on {NAIVE_SLICE} records)")
    print("| batch | handler | records/s (wall) | records/s per CPU-second | CPU µs/record | vs simple (CPU) |")
    print("|---|---|---:|---:|---:|---:|")
    for kind, by_handler in table.items():
        baseline = by_handler["simple (Powertools, Publish per alert)"]["cpu_per_s"]
        for name, row in by_handler.items():
            print(
                f"| {kind} | {name} | {row['wall_per_s']:,.0f} | {row['cpu_per_s']:,.0f} | "
                f"{1e6 / row['cpu_per_s']:.1f} | {row['cpu_per_s'] / baseline:.2f}x |"
            )
    mixed = table["mixed"]

    def cost(more: str, less: str) -> str:
        cpu = 1e6 / mixed[more]["cpu_per_s"] - 1e6 / mixed[less]["cpu_per_s"]
        wall = (BATCH / mixed[more]["wall_per_s"] - BATCH / mixed[less]["wall_per_s"]) * 1000
        return f"{cpu:+6.1f} µs/record CPU, {wall:+7.0f} ms/batch wall"

    ours, no_dedup = "streamlake processor", "processor, no de-duplication"
    print("\nwhat each extra of ours costs (+) or saves (-) on the mixed batch:")
    print(f"  de-duplication (DynamoDB lookups and writes)     {cost(ours, no_dedup)}")
    print(f"  PublishBatch instead of a Publish per alert      {cost(no_dedup, 'processor, ' + VARIANTS[1])}")
    print(f"  quarantine (gzip JSON object to S3)              {cost(ours, 'processor, no quarantine')}")
    print(
        f"import of lambdas.processor.handler: {handler_ms:.0f} ms "
        f"(Powertools Logger/Metrics/Tracer/batch alone: {powertools_ms:.0f} ms); no network at import"
    )


if __name__ == "__main__":
    main()
