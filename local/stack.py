"""The whole local stack: moto server, resources, and the runners standing in for Lambda's event source mapping,
Firehose, CloudWatch alarms and SNS e-mail, each on its own thread, around the real processor handler.

    with LocalStack(load_config(), LocalOptions(run_dir=Path("run"))) as stack:
        ...  # producers write to stack.resources.stream_name at stack.endpoint.url

Everything a run leaves behind is under the run directory: `lake/` (the lake bucket's objects as files),
`mailbox.mbox`, `logs/`, `resources.json` and `endpoint.json` (for tools in other terminals), and the
checkpoints that let a restarted stack resume where it stopped.
"""

from __future__ import annotations

import importlib
import json
import os
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.utils import parse_timestamp
from dateutil.tz import tzlocal

from lambdas import quarantine
from local.alarms import AlarmEvaluator
from local.firehose import FirehoseDeliverer, LakeWriter
from local.mailbox import Inbox, Mailbox
from local.metrics import HandlerOutput, MetricsSink, metric_datum
from local.moto_server import (
    ACCOUNT_ID,
    REGION,
    KinesisRetention,
    MotoEndpoint,
    MotoServer,
    SnsEmail,
    sweep_expired_items,
)
from local.policies import PublishGate, alerting_template
from local.poller import CheckpointStore, EventSourceSettings, KinesisEventSourceMapping
from local.resources import LocalResources, provision
from streamlake import lake
from streamlake.alarms import alarm_specs
from streamlake.config import Config

PROCESSOR_HANDLER = "lambdas.processor.handler.handler"
METRICS_HANDLER = "lambdas.metrics.handler.handler"
# A runner that raises is restarted after RESTART_BACKOFF_SECONDS, doubling per failure in a row up to the maximum;
# one that then ran for HEALTHY_AFTER_SECONDS starts from the shortest backoff again.
RESTART_BACKOFF_SECONDS = 0.5
MAX_RESTART_BACKOFF_SECONDS = 30.0
HEALTHY_AFTER_SECONDS = 60.0
# The local stream's default retention. Kinesis keeps records at least 24 h (stream_retention_hours) on disk; local
# mode keeps them in memory, about 1 KB each, so a day at a shard's rate would need tens of GB. Ten minutes is far
# longer than any runner is behind while it keeps up (seconds) or restarts (backoff at most 30 s).
LOCAL_STREAM_RETENTION_SECONDS = 600.0
METRICS_FLUSH_SECONDS = 1.0
# Where each runner keeps its read position per shard, in the run directory.
CHECKPOINT_FILES = {
    "processor": "processor-checkpoints.json",
    "firehose": "firehose-checkpoints.json",
    "metrics": "metrics-checkpoints.json",
}


@dataclass
class RunnerHealth:
    """What the supervisor knows about one runner thread: its state, how often it was restarted, its last error."""

    state: str = "running"  # running | restarting | stopped
    restarts: int = 0
    errors: int = 0
    last_error: str | None = None
    last_error_at: str | None = None
    recent: list[str] = field(default_factory=list)  # the last few errors, newest last

    def to_dict(self) -> dict[str, object]:
        return {
            "state": self.state,
            "restarts": self.restarts,
            "errors": self.errors,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
        }


@dataclass(frozen=True)
class LocalOptions:
    run_dir: Path
    # Firehose buffer interval; None keeps the config's (60 s by default). The demo shortens it.
    buffer_seconds: float | None = None
    port: int | None = None
    alarm_interval_seconds: float = 5.0
    handler: str = PROCESSOR_HANDLER
    # How long the local stream keeps records (moto keeps them in this process's memory). None: the config's
    # `stream_retention_hours`, at most LOCAL_STREAM_RETENTION_SECONDS (docs/reliability.md, "Bounded memory").
    stream_retention_seconds: float | None = None

    def retention_seconds(self, config: Config) -> float:
        if self.stream_retention_seconds is not None:
            return self.stream_retention_seconds
        return min(config.stream_retention_hours * 3600, LOCAL_STREAM_RETENTION_SECONDS)


class LocalStack:
    """Start with `start()` (or use as a context manager); `stop()` drains the buffers and shuts down cleanly."""

    def __init__(self, config: Config, options: LocalOptions) -> None:
        self.config = config
        self.options = options
        self.run_dir = options.run_dir
        self.lake_dir = self.run_dir / "lake"
        self.mailbox_path = self.run_dir / "mailbox.mbox"
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._alarm_lock = threading.Lock()
        self._server: MotoServer | None = None
        self._saved_environment: dict[str, str | None] = {}
        self.endpoint: MotoEndpoint | None = None
        self.resources: LocalResources | None = None
        self.poller: KinesisEventSourceMapping | None = None
        # The window-metrics function's own event source mapping, as deployed (stacks/metrics.py).
        self.metrics_poller: KinesisEventSourceMapping | None = None
        self.firehose: FirehoseDeliverer | None = None
        self.alarms: AlarmEvaluator | None = None
        self.mailbox: Mailbox | None = None
        self.inbox: Inbox | None = None
        self.metrics: MetricsSink | None = None
        # Every error a runner raised ("<runner>: <error>"), in order; the runner was restarted after each.
        self.errors: list[str] = []
        self.runners: dict[str, RunnerHealth] = {}
        self._checkpoint_stores: dict[str, CheckpointStore] = {}

    # -- lifecycle ----------------------------------------------------------------------------------------------

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> LocalStack:
        (self.run_dir / "logs").mkdir(parents=True, exist_ok=True)
        KinesisRetention.seconds = self.options.retention_seconds(self.config)
        self._server = MotoServer(self.options.port)
        self.endpoint = self._server.start()
        self._set_environment(self.endpoint.environment())
        session = boto3.Session(region_name=REGION)
        use_fast_epoch_timestamps(session)
        self.clients = {name: session.client(name) for name in ("kinesis", "s3", "sqs", "sns", "cloudwatch")}
        self.resources = provision(self.config, session)
        # A new server means a new, empty stream (moto keeps state in memory). Checkpoints an earlier start left in the
        # run directory point into a stream that is gone; resuming from them would skip the new stream's first records.
        for name in CHECKPOINT_FILES.values():
            (self.run_dir / name).unlink(missing_ok=True)
        (self.run_dir / "resources.json").write_text(self.resources.to_json())
        # The topics' e-mail goes to the mailbox's inbox; it belongs to the stack, not to the mailbox runner, so a
        # restarted mailbox finds what was not yet written.
        self.inbox = Inbox()
        for topic in (self.resources.alerts_topic_arn, self.resources.ops_topic_arn):
            SnsEmail.deliver_to(topic, self.inbox.put)
        (self.run_dir / "endpoint.json").write_text(json.dumps({"endpoint_url": self.endpoint.url, "region": REGION}))
        self.start_runners()
        return self

    def start_runners(self) -> None:
        """Start the processor poller, Firehose deliverer, alarm evaluator and mailbox, each resuming from the
        checkpoints in the run directory (what a Lambda or Firehose restart does on AWS; the stream persists)."""
        self._stop = threading.Event()
        previous_stats = (
            (self.poller.stats, self.firehose.stats, self.metrics_poller.stats)
            if self.poller and self.firehose and self.metrics_poller
            else None
        )
        # The runners' metrics go out once a second (MetricsSink); alarm evaluation and the waits flush first.
        metrics = self.metrics = MetricsSink(self.clients["cloudwatch"], flush_seconds=METRICS_FLUSH_SECONDS)
        handler = self._load_handler()
        window_handler = self._load_module_handler(METRICS_HANDLER, self.resources.metrics_environment(self.config))
        self._mirror_window_objects()
        processor_log = _LineLog(self.run_dir / "logs" / "processor.log")
        self._checkpoint_stores = {
            runner: CheckpointStore(self.run_dir / name) for runner, name in CHECKPOINT_FILES.items()
        }
        self.poller = KinesisEventSourceMapping(
            kinesis=self.clients["kinesis"],
            sqs=self.clients["sqs"],
            stream_name=self.resources.stream_name,
            stream_arn=self.resources.stream_arn,
            handler=handler,
            function_name=self.resources.processor_function,
            on_failure_queue_url=self.resources.dlq_url,
            settings=EventSourceSettings.from_config(self.config),
            metrics=metrics,
            checkpoints=self._checkpoint_stores["processor"],
            output=self._output,
            log=processor_log.write,
        )
        self.metrics_poller = KinesisEventSourceMapping(
            kinesis=self.clients["kinesis"],
            sqs=self.clients["sqs"],
            stream_name=self.resources.stream_name,
            stream_arn=self.resources.stream_arn,
            handler=window_handler,
            function_name=self.resources.metrics_function,
            on_failure_queue_url=self.resources.dlq_url,
            settings=EventSourceSettings.for_window_metrics(self.config),
            metrics=metrics,
            checkpoints=self._checkpoint_stores["metrics"],
            output=self._output,
            log=_LineLog(self.run_dir / "logs" / "window-metrics.log").write,
        )
        buffer_seconds = self.options.buffer_seconds
        self.firehose = FirehoseDeliverer(
            kinesis=self.clients["kinesis"],
            stream_name=self.resources.stream_name,
            writer=LakeWriter(self.clients["s3"], self.resources.lake_bucket, self.lake_dir),
            delivery_stream_name=self.resources.delivery_stream,
            buffer_seconds=buffer_seconds if buffer_seconds is not None else self.config.firehose_buffer_seconds,
            buffer_bytes=self.config.firehose_buffer_mib << 20,
            metrics=metrics,
            checkpoints=self._checkpoint_stores["firehose"],
        )
        self.alarms = AlarmEvaluator(
            cloudwatch=self.clients["cloudwatch"],
            sns=self.clients["sns"],
            specs=alarm_specs(self.config),
            resource_names=self.resources.resource_names(),
            ops_topic_arn=self.resources.ops_topic_arn,
            name_prefix=self.config.prefix,
            # The synthesised ops topic and key policies decide whether CloudWatch may publish, as on AWS.
            publish_policy=PublishGate(alerting_template(), account=ACCOUNT_ID, region=REGION),
            region=REGION,
            account_id=ACCOUNT_ID,
        )
        self.mailbox = Mailbox(inbox=self.inbox, path=self.mailbox_path)
        if previous_stats is not None:
            # Counters are the run's, not one runner's: a restarted runner resumes from its checkpoint.
            self.poller.stats, self.firehose.stats, self.metrics_poller.stats = previous_stats
        stop = self._stop
        self._spawn("processor", lambda: self.poller.run(stop))
        self._spawn("metrics", lambda: self.metrics_poller.run(stop))
        self._spawn("firehose", lambda: self.firehose.run(stop))
        self._spawn("alarms", self._run_alarms)
        self._spawn("mailbox", lambda: self.mailbox.run(stop))

    def stop_runners(self, *, kill: bool = False) -> None:
        """Stop the runners. Normally Firehose writes what it buffered; `kill=True` drops its buffer unwritten (a
        crash), so a restart must re-read those records from its checkpoint."""
        if kill:
            self.firehose.crash()
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        self._threads.clear()
        if self.metrics is not None:
            self.metrics.flush()

    def stop(self) -> None:
        """Stop the runners (the deliverer writes what it buffered, the mailbox delivers what is queued)."""
        if self._threads:
            self.stop_runners()
        if self.resources is not None:
            for topic in (self.resources.alerts_topic_arn, self.resources.ops_topic_arn):
                SnsEmail.remove(topic)
        if self._server:
            self._server.stop()
            self._server = None
            KinesisRetention.seconds = None
        self._restore_environment()

    # -- waiting for the pipeline -------------------------------------------------------------------------------

    def wait_until_processed(self, timeout: float = 60.0) -> None:
        """Block until the processor has finished (or discarded) every record now in the stream."""
        total = self.stream_record_count()
        self._wait(
            lambda: self.poller.stats.records_succeeded + self.poller.stats.records_discarded >= total,
            timeout,
            f"the processor did not finish {total} records",
        )

    def wait_until_windowed(self, timeout: float = 60.0) -> None:
        """Block until the window-metrics function has finished (or discarded) every record now in the stream."""
        total = self.stream_record_count()
        self._wait(
            lambda: self.metrics_poller.stats.records_succeeded + self.metrics_poller.stats.records_discarded >= total,
            timeout,
            f"the window-metrics function did not finish {total} records",
        )

    def recent_windows(self, family: str | None = None, limit: int = 10) -> list[dict[str, Any]]:
        """The newest windows, newest first, with their KPI rows (those of `family` only, if given): what the
        window-metrics function has in its table, open windows included (`closed` tells them apart)."""
        from lambdas.metrics.sink import window_rows
        from lambdas.metrics.windows import WindowSettings

        store = self.window_store()
        settings = WindowSettings(
            window_seconds=self.config.metrics.window_seconds,
            allowed_lateness_seconds=self.config.metrics.allowed_lateness_seconds,
            high_temperature_c=self.config.thresholds.high_temperature_c,
        )
        windows = []
        for start, emitted in store.recent_windows(limit):
            rows = window_rows(store.window_entities(start), settings)
            windows.append(
                {
                    "start_ms": start,
                    "closed": emitted,
                    "rows": [row for row in rows if family is None or row["family"] == family],
                }
            )
        return windows

    def window_store(self) -> Any:
        """The window-metrics state (read it, don't write it): the same DynamoDB table the function writes."""
        from lambdas.metrics.store import DynamoWindowStore

        m = self.config.metrics
        return DynamoWindowStore(
            boto3.Session(region_name=REGION).client("dynamodb"),
            self.resources.windows_table,
            m.window_seconds * 1000,
            m.ttl_seconds,
        )

    def wait_until_delivered(self, timeout: float = 120.0) -> None:
        """Flush Firehose's buffer now and block until every record in the stream is in the lake or errors/."""
        total = self.stream_record_count()
        self._wait(lambda: self.firehose.stats.records_in >= total, timeout, "Firehose did not read every record")
        self.firehose.flush()

    def wait_for_mail(self, timeout: float = 10.0) -> None:
        """Deliver what SNS has queued for e-mail."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.mailbox.deliver_pending():
            pass

    def stream_record_count(self) -> int:
        """Records written to the stream so far. moto numbers each shard's records 1, 2, 3..., so a shard's highest
        sequence number is its record count (the server runs in this process)."""
        from moto.kinesis.models import kinesis_backends

        stream = kinesis_backends[ACCOUNT_ID][REGION].streams[self.resources.stream_name]
        return sum(shard.get_max_sequence_number() for shard in stream.shards.values())

    def checkpoint(self, runner: str, shard_id: str) -> str | None:
        """Read-only: the last sequence number of `shard_id` that `runner` ("processor" or "firehose") has finished
        (processor: handled or sent to the DLQ; Firehose: written to the lake), None before the first. The live view
        (local/web) reads it to tell which records each runner is done with, without touching the runners."""
        store = self._checkpoint_stores.get(runner)
        return store.get(shard_id) if store is not None else None

    def lake_objects(self, prefix: str = "") -> list[str]:
        s3 = self.clients["s3"]
        keys = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.resources.lake_bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return keys

    def quarantined(self) -> list[dict[str, Any]]:
        """Every quarantined record (JSON lines under quarantine/), as written by the processor."""
        s3 = self.clients["s3"]
        return quarantine.read_objects(
            s3.get_object(Bucket=self.resources.lake_bucket, Key=key)["Body"].read()
            for key in self.lake_objects(lake.QUARANTINE_PREFIX)
        )

    # -- internals ----------------------------------------------------------------------------------------------

    def evaluate_alarms(self) -> list[Any]:
        """One alarm tick now: sample the dead-letter queue's depth (a service metric SQS publishes itself on AWS),
        then evaluate every alarm; returns the state changes (their notifications are on the ops topic)."""
        queue_name = self.resources.resource_names()["queue"]
        depth = self.clients["sqs"].get_queue_attributes(
            QueueUrl=self.resources.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]["ApproximateNumberOfMessages"]
        MetricsSink(self.clients["cloudwatch"]).put_data(
            [
                (
                    "AWS/SQS",
                    metric_datum(
                        "ApproximateNumberOfMessagesVisible", float(depth), {"QueueName": queue_name}, "Count"
                    ),
                ),
            ]
        )
        self.metrics.flush()
        with self._alarm_lock:
            return self.alarms.evaluate()

    def _run_alarms(self) -> None:
        stop = self._stop
        while not stop.wait(self.options.alarm_interval_seconds):
            self.evaluate_alarms()
            self.expire_items()

    def expire_items(self, now: float | None = None) -> int:
        """DynamoDB's TTL, which moto does not run: delete the items whose TTL attribute has passed (the
        window-metrics table's after `metrics_ttl_seconds`). The processor's de-duplication entries live 8 days
        (lambdas/processor/adapters.py, for a stream kept up to 7); locally they go after twice the local stream's
        retention: the records they guard are gone from the stream by then, so no retry or replay can bring them
        back, and kept for 8 days they were most of local mode's memory growth. Returns how many were deleted."""
        from lambdas.processor.adapters import DEDUP_TTL_SECONDS

        idempotency = self.resources.idempotency_table
        horizon = 2 * self.options.retention_seconds(self.config)

        def expires_before(table: str, moment: float) -> float:
            return moment + DEDUP_TTL_SECONDS - horizon if table == idempotency else moment

        return sweep_expired_items(time.time() if now is None else now, expires_before)

    def _mirror_window_objects(self) -> None:
        """The window-metrics function writes closed windows to the lake bucket; locally they are also mirrored
        under the lake directory, as the Firehose deliverer's objects are, so local Athena reads window_metrics."""
        from lambdas.metrics import handler
        from lambdas.metrics.sink import WindowSink

        runtime = handler.get_runtime()
        runtime.sink = WindowSink(
            LakeWriter(self.clients["s3"], self.resources.lake_bucket, self.lake_dir).as_s3_client(),
            self.resources.lake_bucket,
            handler.get_settings().windows,
        )

    def _load_handler(self) -> Callable[[dict[str, Any], Any], Any]:
        return self._load_module_handler(self.options.handler, self.resources.processor_environment(self.config))

    def _load_module_handler(self, handler: str, environment: dict[str, str]) -> Callable[[dict[str, Any], Any], Any]:
        # Powertools' Logger binds stdout at import: install the per-thread capture first, then import the handler
        # with the environment the CDK gives the deployed function. Both functions share this process's
        # environment; their variables do not collide (the values they share, LAKE_BUCKET and HIGH_TEMPERATURE_C,
        # are equal).
        self._output = HandlerOutput.install()
        self._set_environment(environment)
        module_name, _, attribute = handler.rpartition(".")
        module = importlib.import_module(module_name)
        new_environment = getattr(module, "new_execution_environment", None)
        if new_environment is not None:
            new_environment()
        return getattr(module, attribute)

    def supervise(self, name: str, target: Callable[[], None]) -> None:
        """Run another runner of this machine's pipeline (the demo's Kafka bridge) under the same supervisor."""
        self._spawn(name, target)

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        """Run `target` on a thread, supervised: when it raises, the error is recorded (stack.errors, the runner's
        health, logs/runners.log) and the runner is started again after a backoff, until the stack stops."""
        stop = self._stop
        health = self.runners.setdefault(name, RunnerHealth())
        health.state = "running"
        log = _LineLog(self.run_dir / "logs" / "runners.log")

        def supervised() -> None:
            failures_in_a_row = 0
            while True:
                started = time.monotonic()
                try:
                    target()
                    break  # a runner returns when the stack stops it
                except Exception as error:  # noqa: BLE001 - recorded and restarted, never lost with the thread
                    if time.monotonic() - started >= HEALTHY_AFTER_SECONDS:
                        failures_in_a_row = 0
                    failures_in_a_row += 1
                    self._record_runner_error(name, health, error, log)
                    delay = min(MAX_RESTART_BACKOFF_SECONDS, RESTART_BACKOFF_SECONDS * 2 ** (failures_in_a_row - 1))
                    health.state = "restarting"
                    if stop.wait(delay):
                        break
                    health.restarts += 1
                    health.state = "running"
                    log.write(f"{_now()} {name}: restarted (restart {health.restarts}, after {delay:g} s)")
            health.state = "stopped"

        thread = threading.Thread(target=supervised, name=f"local-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _record_runner_error(self, name: str, health: RunnerHealth, error: Exception, log: _LineLog) -> None:
        text = f"{name}: {error!r}"
        self.errors.append(text)
        health.errors += 1
        health.last_error = repr(error)[:500]
        health.last_error_at = _now()
        health.recent = [*health.recent[-4:], health.last_error]
        log.write(f"{health.last_error_at} {text}\n" + "".join(traceback.format_exception(error)))

    def runner_health(self) -> dict[str, dict[str, object]]:
        """Per runner: state, restarts, errors and the last error (what `up`, the live view and the demo show)."""
        return {name: health.to_dict() for name, health in sorted(self.runners.items())}

    @property
    def runner_restarts(self) -> int:
        return sum(health.restarts for health in self.runners.values())

    def _wait(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        # A runner's error does not end the wait: the runner is restarted and may well catch up. The errors stay
        # in `errors` for the caller to report, and are named if the wait times out.
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                recent = f" (runner errors: {self.errors[-3:]})" if self.errors else ""
                raise TimeoutError(f"{what} within {timeout} s{recent}")
            time.sleep(0.05)
        if self.metrics is not None:
            self.metrics.flush()  # what the runners measured up to now is in CloudWatch for the caller

    def _set_environment(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            self._saved_environment.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def _restore_environment(self) -> None:
        for key, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_environment.clear()


_LOCAL_TIME = tzlocal()


def epoch_or_botocore_timestamp(value: Any) -> datetime:
    """botocore's timestamp parsing, with epoch seconds (how Kinesis's JSON protocol sends every record's
    ApproximateArrivalTimestamp) converted directly: botocore builds a new `tzlocal()` for each value, 5 % of local
    mode's CPU with three readers on a busy shard. The result is the same aware datetime."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, _LOCAL_TIME)
    return parse_timestamp(value)


def use_fast_epoch_timestamps(session: boto3.Session) -> None:
    """Clients made from `session` after this parse timestamps with `epoch_or_botocore_timestamp`."""
    factory = session._session.get_component("response_parser_factory")
    factory.set_parser_defaults(timestamp_parser=epoch_or_botocore_timestamp)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class _LineLog:
    """Appends lines to a log file, thread-safely."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()

    def write(self, line: str) -> None:
        with self._lock, self._path.open("a", encoding="utf-8") as handle:
            handle.write(line.rstrip("\n") + "\n")
