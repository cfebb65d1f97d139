"""`make demo`: the whole pipeline on this machine, narrated step by step.

1. starts the local stack (moto, processor poller, Firehose deliverer, alarm evaluator, mailbox) in a fresh,
   timestamped run directory;
2. runs the producer: a mixed run of sensor, student and log events with a few malformed records, forced
   temperature spikes and an ERROR burst, showing records flowing;
3. shows the alerts raised and where the mailbox is; the objects landing in the lake; the quarantine count and
   reasons; each lab query's result table (the saved Athena SQL, run on DuckDB over the local lake);
4. stops cleanly — also on Ctrl-C — and leaves the run directory with logs, lake, mailbox and a summary.

`--continuous` keeps producing (at `--rate`, default 5 records/s) until Ctrl-C, then shows steps 3-4.
`--kafka` adds the Confluent Cloud path: a local Kafka broker (noida-db) with SASL authentication, the standalone
Kafka bridge consuming `estudiante-eventos`, `sistema-logs` and `notificaciones` into the same stream, and the
Kafka producer sending a mixed run to those topics.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local.stack import LocalOptions, LocalStack
from streamlake import lake
from streamlake.config import load_config

DEMO_BUFFER_SECONDS = 5.0
LAB_QUERIES = ("lab_latest_readings", "lab_avg_temperature_by_sensor", "lab_readings_above_30c")
STATUS_INTERVAL = 1.0
# Slow enough to watch the records flow for a few seconds, fast enough to finish well inside a minute.
DEMO_RATE = 200.0
CONTINUOUS_RATE = 5.0


def _say(text: str = "") -> None:
    print(text, flush=True)


def _step(number: int, title: str) -> None:
    _say()
    _say(f"[{number}] {title}")


def run_demo(args: argparse.Namespace) -> int:
    """Run the demo; returns the exit status (0 when every produced record was accounted for)."""
    from local.__main__ import _overrides

    config = load_config(_overrides(args.context))
    run_dir = Path(args.run_dir) / datetime.now(UTC).strftime("demo-%Y%m%d-%H%M%S")
    buffer_seconds = args.buffer_seconds if args.buffer_seconds is not None else DEMO_BUFFER_SECONDS
    _say("streamlake demo: the deployed pipeline's design, running on this machine with no AWS account")
    _say(f"run directory: {run_dir}")
    _say(
        f"config: prefix {config.prefix}, {config.shard_count} shard(s), Firehose buffer {buffer_seconds:g} s "
        f"(deployed: {config.firehose_buffer_seconds} s), "
        f"alert above {config.thresholds.high_temperature_c:g} °C"
    )

    _step(1, "starting the local stack")
    minutes = getattr(args, "stream_retention_minutes", None)
    retention = minutes * 60 if minutes is not None else None
    options = LocalOptions(
        run_dir, buffer_seconds, args.port, alarm_interval_seconds=2.0, stream_retention_seconds=retention
    )
    stack = LocalStack(config, options)
    kafka = KafkaPath(run_dir) if getattr(args, "kafka", False) else None
    interrupted = False
    summary: Any = None
    web = None
    try:
        stack.start()
        _say(f"    AWS endpoint {stack.endpoint.url}, stream {stack.resources.stream_name}")
        if args.continuous:  # the one-shot demo finishes before anyone could open a page
            from local.__main__ import start_web

            web = start_web(stack, args)
            if web:
                _say(f"    live view {web.url} (events, alerts and the lake as they happen; docs/web.md)")
        if kafka:
            kafka.start(stack)
        _step(2, "producing events" + (" until Ctrl-C" if args.continuous else ""))
        summary, interrupted = _produce(stack, args, kafka)
        _say(
            f"    producer: {summary.sent} sent ({summary.malformed_sent} malformed on purpose), "
            f"{summary.failed} failed, {summary.records_per_second:,.0f} records/s, "
            f"ack p50 {_ms(summary.p50_ms)} p99 {_ms(summary.p99_ms)}"
        )
        if kafka:
            kafka.finish()
        exit_status = _report(stack, summary, run_dir)
    except KeyboardInterrupt:
        interrupted = True
        exit_status = 130
        _say("\ninterrupted: stopping")
    finally:
        _say()
        _say("stopping: Firehose writes what it buffered, the mailbox delivers what is queued ...")
        if kafka:
            kafka.stop()
        if web:
            web.stop()
        stack.stop()
        _say(f"stopped cleanly. Everything from this run is in {run_dir}/ (logs/, lake/, mailbox.mbox, summary.json)")
    return 130 if interrupted and exit_status == 0 else exit_status


class KafkaPath:
    """A local broker with SASL (Confluent Cloud's authentication, without TLS), the standalone bridge on a thread,
    and the Kafka producer's run: Kafka -> bridge -> the same stream."""

    def __init__(self, run_dir: Path) -> None:
        from local.kafka_broker import KafkaBroker

        self.broker = KafkaBroker(run_dir / "kafka", log_path=run_dir / "logs" / "kafka-broker.log")
        # The local broker accepts any SASL PLAIN credentials; a fresh random pair shows nothing is hard-coded.
        self.username, self.password = "demo", secrets.token_urlsafe(16)
        self.stats: Any = None
        self.summary: Any = None
        self._stack: LocalStack | None = None
        self._stop = threading.Event()

    def start(self, stack: LocalStack) -> None:
        from producers.kafka_bridge import BridgeSettings, BridgeStats, run_bridge

        self.broker.start()
        settings = BridgeSettings(
                bootstrap_servers=self.broker.bootstrap_servers,
                stream_name=stack.resources.stream_name,
                lake_bucket=stack.resources.lake_bucket,
                endpoint_url=stack.endpoint.url,
                region=stack.clients["kinesis"].meta.region_name,
                security_protocol="SASL_PLAINTEXT",
                sasl_username=self.username,
                sasl_password=self.password,
                instance_id="local-demo-bridge",
                session_timeout_ms=6000,
                lag_interval=5,
            )
        self.stats = BridgeStats()
        self._stack = stack
        # Supervised like every local runner: an error is recorded (`up`, summary.json, the demo's exit status) and the
        # bridge starts again after a backoff, resuming from the offsets it committed.
        stack.supervise("kafka-bridge", lambda: run_bridge(settings, self._stop, stats=self.stats))
        _say(f"    Kafka broker {self.broker.bootstrap_servers} (SASL PLAIN), bridge consuming into the stream")

    def produce(self, args: argparse.Namespace, stop: threading.Event) -> None:
        from producers.kafka_producer import produce_kafka

        self.summary = produce_kafka(
            count=None if args.continuous else max(1, args.records // 3),
            family="mixed",
            rate=args.rate or (CONTINUOUS_RATE if args.continuous else DEMO_RATE),
            bad_ratio=0.03,
            seed=args.seed + 1,
            bootstrap_servers=self.broker.bootstrap_servers,
            continuous=args.continuous,
            security_protocol="SASL_PLAINTEXT",
            environ={"KAFKA_API_KEY": self.username, "KAFKA_API_SECRET": self.password},
            create_topics=True,
            stop=stop,
        )

    def status(self) -> str:
        s = self.stats
        return f"kafka bridge: {s.messages} consumed, {s.written} to stream, {s.quarantined} quarantined"

    def finish(self, timeout: float = 60.0) -> None:
        """Wait until the bridge has consumed everything the Kafka producer sent."""
        deadline = time.monotonic() + timeout
        sent = self.summary.sent if self.summary else 0
        while self.stats.messages < sent and time.monotonic() < deadline:
            time.sleep(0.2)
        _say(f"    kafka producer: {sent} sent; {self.status()}")

    def stop(self, timeout: float = 30.0) -> None:
        """Let the bridge finish the batch in hand and commit it, then stop the broker."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        while self._stack is not None and time.monotonic() < deadline:
            health = self._stack.runner_health().get("kafka-bridge", {})
            if health.get("state") == "stopped":
                break
            time.sleep(0.05)
        self.broker.stop()


def _produce(stack: LocalStack, args: argparse.Namespace, kafka: KafkaPath | None = None) -> tuple[Any, bool]:
    from producers.test_producer import produce

    stop = threading.Event()
    result: dict[str, Any] = {}
    kafka_thread = None
    if kafka is not None:
        kafka_thread = threading.Thread(target=kafka.produce, args=(args, stop), name="demo-kafka", daemon=True)
        kafka_thread.start()

    def target() -> None:
        try:
            result["summary"] = produce(
                stack.resources.stream_name,
                count=None if args.continuous else args.records,
                family="mixed",
                rate=args.rate or (CONTINUOUS_RATE if args.continuous else DEMO_RATE),
                bad_ratio=0.03,
                seed=args.seed,
                endpoint_url=stack.endpoint.url,
                region=stack.clients["kinesis"].meta.region_name,
                continuous=args.continuous,
                spikes=3,
                error_bursts=1,
                stop=stop,
                failure_path=stack.run_dir / "producer-failures.jsonl",
            )
        except Exception as error:  # noqa: BLE001 - shown to the user, the demo then stops
            result["error"] = error

    producer = threading.Thread(target=target, name="demo-producer", daemon=True)
    producer.start()
    interrupted = False
    try:
        while producer.is_alive() or (kafka_thread is not None and kafka_thread.is_alive()):
            producer.join(STATUS_INTERVAL)
            _say("    " + _status(stack) + (f" | {kafka.status()}" if kafka else ""))
    except KeyboardInterrupt:
        interrupted = True
        _say("\n    Ctrl-C: the producers flush what they buffered ...")
        stop.set()
        producer.join()
        if kafka_thread is not None:
            kafka_thread.join()
    if "error" in result:
        raise SystemExit(f"streamlake demo: the producer could not run: {result['error']}")
    return result["summary"], interrupted


def _report(stack: LocalStack, summary: Any, run_dir: Path) -> int:
    _step(3, "processing")
    stack.wait_until_processed(timeout=120)
    _say("    " + _status(stack))

    _step(4, "alerts")
    # Alarms are evaluated every few seconds; one evaluation now shows the pipeline alarms this run triggered.
    for change in stack.evaluate_alarms():
        _say(f"    alarm {change.alarm_name}: {change.old_state} -> {change.new_state}")
        if change.action_error:
            _say(f"      not e-mailed, as on AWS: {change.action_error}")
    stack.wait_for_mail()
    delivered = stack.mailbox.delivered
    alerts = [d for d in delivered if d.topic_arn == stack.resources.alerts_topic_arn]
    # "New grade in MAT101: 85" and "New grade in CS101: 70" are one kind of alert.
    kinds = Counter(re.sub(r" in \S+$", "", d.subject.split(":")[0]) for d in alerts)
    _say(f"    {len(alerts)} alerts to {', '.join(sorted({d.recipient for d in alerts})) or 'nobody'}:")
    for kind, count in sorted(kinds.items()):
        _say(f"    {count:>4} x {kind}")
    for message in alerts[:3]:
        _say(f"    e.g. {message.subject}")
    for message in (d for d in delivered if d.topic_arn != stack.resources.alerts_topic_arn):
        _say(f"    pipeline alarm to {message.recipient}: {message.subject}")
    _say(f"    mailbox (open it with any mail client, or `less`): {stack.mailbox_path}")

    _step(5, "data landing in the lake")
    stack.wait_until_delivered(timeout=120)
    objects = stack.lake_objects()
    by_prefix: Counter[str] = Counter(key.split("/", 1)[0] + "/" for key in objects)
    for prefix in (lake.RAW_PREFIX, lake.PROCESSED_PREFIX, lake.ERRORS_PREFIX, lake.QUARANTINE_PREFIX):
        _say(f"    {prefix:<12} {by_prefix.get(prefix, 0):>4} objects")
    for key in sorted(k for k in objects if k.startswith(lake.PROCESSED_PREFIX))[:4]:
        _say(f"      {key}")
    _say(f"    local copy for DuckDB: {stack.lake_dir}/")

    _step(6, "quarantine")
    quarantined = stack.quarantined()
    from_kafka = sum(1 for r in quarantined if "topic" in r["position"])
    _say(
        f"    {len(quarantined) - from_kafka} records quarantined by the processor "
        f"({summary.malformed_sent} sent malformed to the stream)"
        + (f", {from_kafka} by the Kafka bridge" if from_kafka else "")
    )
    for reason, count in Counter(r["reason"] for r in quarantined).most_common(5):
        _say(f"    {count:>4} x {reason}")

    _step(7, "event-time windows (the window-metrics function, its own poller)")
    stack.wait_until_windowed(timeout=120)
    windows = stack.recent_windows(limit=3)
    m = stack.config.metrics
    _say(
        f"    {m.window_seconds} s tumbling windows over event time; a window closes once the watermark (newest event "
        f"- {m.allowed_lateness_seconds} s) passes its end, then lands in the lake's window_metrics table"
    )
    for window in windows:
        _say(f"    {_window_line(window)}")
    if not windows:
        _say("    no window yet")

    _step(8, "lab queries (athena_queries/*.sql on DuckDB over the local lake)")
    for name in LAB_QUERIES:
        _say()
        _say(_query_table(name, stack.lake_dir))

    accounted = stack.poller.stats.records_succeeded + stack.poller.stats.records_discarded
    (run_dir / "summary.json").write_text(
        json.dumps(
            {
                "producer": summary.to_dict(),
                "processed": stack.poller.stats.records_succeeded,
                "discarded_to_dlq": stack.poller.stats.records_discarded,
                "quarantined": len(quarantined),
                "emails": len(delivered),
                "lake_objects": dict(by_prefix),
                "firehose_delivered": stack.firehose.stats.records_delivered,
                "windows": [{"start_ms": w["start_ms"], "closed": w["closed"]} for w in windows],
                # A runner that raised was restarted; its errors still fail the demo (exit status 1).
                "runner_errors": list(stack.errors),
                "runner_restarts": stack.runner_restarts,
                "runners": stack.runner_health(),
            },
            indent=2,
        )
    )
    if stack.errors:
        _say(f"local stack errors ({stack.runner_restarts} runner restarts; logs/runners.log has the tracebacks):")
        for error in stack.errors[-10:]:
            _say(f"    {error}")
        return 1
    return 0 if accounted >= summary.sent and summary.ok else 1


def _window_line(window: dict[str, Any]) -> str:
    """One window: its start, whether it closed, readings, average and hottest location, error rate, student events."""
    rows = window["rows"]
    start = datetime.fromtimestamp(window["start_ms"] / 1000, UTC).strftime("%H:%M:%S")
    parts = [f"{start} {'closed' if window['closed'] else 'open  '}"]
    locations = [r for r in rows if r["dimension"] == "location"]
    readings = sum(r["count"] for r in locations)
    if readings:
        average = sum(r["avg_temperature"] * r["count"] for r in locations) / readings
        hottest = max(locations, key=lambda r: r["max_temperature"])
        parts.append(
            f"{readings} readings, avg {average:.1f} °C, max {hottest['max_temperature']:.1f} °C at {hottest['entity']}"
        )
    services = [r for r in rows if r["dimension"] == "service"]
    logs = sum(r["count"] for r in services)
    if logs:
        errors = sum(r["count_error"] + r["count_critical"] for r in services)
        parts.append(f"{logs} logs, {100 * errors / logs:.0f} % errors")
    students = sum(r["count"] for r in rows if r["dimension"] == "course_event")
    if students:
        parts.append(f"{students} student events")
    return " | ".join(parts)


def _query_table(name: str, lake_dir: Path) -> str:
    from athena_queries.runner import format_table, run_local

    try:
        result = run_local(name, {}, lake_dir)
    except Exception as error:  # noqa: BLE001 - one failing query must not hide the others
        return f"    {name}: failed: {error}"
    return f"    {name} ({len(result.rows)} rows, {result.bytes_scanned:,} bytes scanned)\n" + "\n".join(
        "    " + line for line in format_table(result).splitlines()
    )


def _status(stack: LocalStack) -> str:
    p, f = stack.poller.stats, stack.firehose.stats
    return (
        f"stream {stack.stream_record_count():>6} | processed {p.records_succeeded:>6} | "
        f"in lake {f.records_delivered:>6} | e-mails {len(stack.mailbox.delivered):>4} | "
        f"quarantine objects {len(stack.lake_objects(lake.QUARANTINE_PREFIX)):>3}"
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"
