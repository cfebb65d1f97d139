"""A Kinesis event source mapping: reads the stream and invokes a Lambda handler in this process.

It follows what AWS documents for Kinesis event source mappings:
- "Using Lambda with Kinesis": https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html
- batch item failures: https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html
- on-failure destinations: https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html

Semantics, per shard, one batch in flight at a time (ParallelizationFactor 1), records in sequence order:
- Batching: up to `batch_size` records and 6 MB of payload. With a batching window, the mapping waits until the
  batch is full or the window has passed since the oldest waiting record arrived in the poller.
- Event: `{"Records": [...]}` with each record's base64 `data`, `partitionKey`, `sequenceNumber`,
  `approximateArrivalTimestamp`, `eventID` `<shardId>:<sequenceNumber>`, `eventSourceARN`, as Lambda sends it.
- ReportBatchItemFailures: an empty or missing `batchItemFailures` is success; otherwise the records before the
  lowest reported sequence number are done and the batch is retried from that record. A failure entry whose
  `itemIdentifier` is missing, empty or not in the batch fails the whole batch.
- Function error (the handler raises): with bisect on, the batch is split in two and each half retried in order;
  splitting does not use up a retry, so a poison record ends up alone in a batch of one. A batch that cannot be
  split (or with bisect off) uses one retry per failure.
- A batch that has failed more than `max_retries` times, or whose records are older than `max_record_age`, is
  discarded: an invocation record naming the shard and sequence range (condition `RetryAttemptsExhausted` or
  `RecordAgeExceeded`) goes to the SQS on-failure destination, and the shard moves on.
- Checkpoints are kept per shard (optionally in a file, so a restarted poller resumes after the last record it
  finished; with no checkpoint it starts at TRIM_HORIZON).
- Shards are polled independently, as Lambda runs one poller per shard: `run` gives each shard its own thread, so one
  shard's batching window, retry backoff or throttled read never holds up another's. The invocations themselves take
  turns: the handler module's globals (Powertools' `BatchProcessor` and `Metrics`) belong to one execution
  environment, which handles one invocation at a time; Lambda would run one environment per shard, in processes of
  their own (local mode runs them in this one, so they share the CPU too).

Metrics published as the Lambda and Kinesis services would: `AWS/Lambda` Invocations, Errors, Duration and
IteratorAge by FunctionName, and `AWS/Kinesis` GetRecords.IteratorAgeMilliseconds by StreamName.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local.metrics import HandlerOutput, MetricsSink, metric_datum
from streamlake.config import METRICS_MAX_RECORD_AGE_SECONDS, METRICS_MAX_RETRIES, Config

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # synchronous invocation payload limit
GET_RECORDS_LIMIT = 10_000
# Errors Kinesis answers to a read it will serve later. A shard allows 5 GetRecords calls per second, shared by every
# consumer (here the processor and Firehose), and botocore's few retries do not outlast a busy second: the event
# source mapping and Firehose back off and read the shard again; they never give up on it.
TRANSIENT_READ_ERRORS = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "LimitExceededException",
        "KMSThrottlingException",
        "InternalFailure",
        "InternalFailureException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
    }
)
MAX_READ_BACKOFF_SECONDS = 1.0
Handler = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True)
class EventSourceSettings:
    batch_size: int = 100
    batch_window_seconds: float = 0.0
    max_retries: int = 3
    max_record_age_seconds: float = 3600
    bisect_on_error: bool = True
    report_batch_item_failures: bool = True

    @classmethod
    def for_window_metrics(cls, config: Config) -> EventSourceSettings:
        """The settings stacks/metrics.py gives the window-metrics function's mapping (whole batches are
        idempotent there, so no partial-failure reporting)."""
        return cls(
            batch_size=config.metrics.batch_size,
            batch_window_seconds=config.metrics.batch_window_seconds,
            max_retries=METRICS_MAX_RETRIES,
            max_record_age_seconds=METRICS_MAX_RECORD_AGE_SECONDS,
            report_batch_item_failures=False,
        )

    @classmethod
    def from_config(cls, config: Config) -> EventSourceSettings:
        """The settings stacks/processor.py gives the deployed event source mapping."""
        return cls(
            batch_size=config.processor_batch_size,
            batch_window_seconds=config.processor_batch_window_seconds,
            max_retries=config.processor_max_retries,
            max_record_age_seconds=config.processor_max_record_age_seconds,
        )


@dataclass
class LambdaContext:
    """What the Lambda runtime passes as `context` (the attributes Powertools reads)."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    timeout_seconds: float = 60.0
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = "local"
    _started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self._started)) * 1000))


@dataclass
class _Batch:
    records: list[dict[str, Any]]  # as returned by Kinesis GetRecords
    attempts: int = 0  # failed invocations so far


@dataclass
class _Shard:
    shard_id: str
    iterator: str | None
    pending: deque = field(default_factory=deque)  # fetched, not yet in a batch
    work: deque = field(default_factory=deque)  # batches to invoke, in order (bisect adds halves)
    first_pending_at: float | None = None
    retry_at: float = 0.0
    read_failures: int = 0  # consecutive throttled reads
    read_at: float = 0.0  # no read before this (backing off after a throttled read)


class CheckpointStore:
    """Last finished sequence number per shard, optionally persisted as JSON. Safe to set from one thread per shard."""

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._data: dict[str, str] = json.loads(path.read_text()) if path and path.exists() else {}
        self._lock = threading.Lock()

    def get(self, shard_id: str) -> str | None:
        return self._data.get(shard_id)

    def set(self, shard_id: str, sequence_number: str) -> None:
        with self._lock:
            self._data = {**self._data, shard_id: sequence_number}
            if self._path:
                tmp = self._path.with_suffix(".tmp")
                tmp.write_text(json.dumps(self._data))
                tmp.replace(self._path)


@dataclass
class PollerStats:
    invocations: int = 0
    function_errors: int = 0
    records_succeeded: int = 0
    records_discarded: int = 0
    batches_discarded: int = 0
    reads_throttled: int = 0


class KinesisEventSourceMapping:
    """Call `poll()` repeatedly (or `run(stop)` on a thread) to move records from the stream through `handler`."""

    def __init__(
        self,
        *,
        kinesis: Any,
        sqs: Any,
        stream_name: str,
        stream_arn: str,
        handler: Handler,
        function_name: str,
        on_failure_queue_url: str,
        settings: EventSourceSettings,
        metrics: MetricsSink | None = None,
        checkpoints: CheckpointStore | None = None,
        output: HandlerOutput | None = None,
        log: Callable[[str], None] | None = None,
        region: str = "us-east-1",
        account_id: str = "123456789012",
    ) -> None:
        self._kinesis = kinesis
        self._sqs = sqs
        self._stream_name = stream_name
        self._stream_arn = stream_arn
        self._handler = handler
        self._function_name = function_name
        self._function_arn = f"arn:aws:lambda:{region}:{account_id}:function:{function_name}"
        self._queue_url = on_failure_queue_url
        self.settings = settings
        self._metrics = metrics
        self._checkpoints = checkpoints or CheckpointStore()
        self._output = output
        self._log = log or (lambda line: None)
        self._region = region
        self._shards: dict[str, _Shard] = {}
        self.stats = PollerStats()
        # One execution environment: invocations take turns (see the module docstring); counters are shared.
        self._invoke_lock = threading.Lock()
        self._stats_lock = threading.Lock()

    # -- public -------------------------------------------------------------------------------------------------

    def run(self, stop: threading.Event, idle_sleep: float = 0.05) -> None:
        """Poll until `stop` is set: the one shard on this thread, or each shard on a thread of its own. If one
        shard's poller raises, the others are stopped and the error is raised here (the supervisor restarts the
        mapping, which resumes every shard from its checkpoint)."""
        self._discover_shards()
        shards = list(self._shards.values())
        if len(shards) <= 1:
            while not stop.is_set():
                if not self.poll():
                    stop.wait(idle_sleep)
            return
        failed: list[BaseException] = []
        halt = threading.Event()

        def poll_shard(shard: _Shard) -> None:
            try:
                while not stop.is_set() and not halt.is_set():
                    if not self._step(shard):
                        stop.wait(idle_sleep)
            except BaseException as error:  # noqa: BLE001 - handed to run()'s thread, which raises it
                failed.append(error)
                halt.set()

        threads = [
            threading.Thread(target=poll_shard, args=(shard,), name=f"poller-{shard.shard_id}", daemon=True)
            for shard in shards
        ]
        for thread in threads:
            thread.start()
        while not stop.is_set() and not halt.is_set():
            halt.wait(0.2)
        halt.set()
        for thread in threads:
            thread.join()
        if failed:
            raise failed[0]

    def poll(self) -> bool:
        """One round over every shard. Returns whether anything was invoked."""
        self._discover_shards()
        worked = False
        for shard in self._shards.values():
            worked |= self._step(shard)
        return worked

    def drain(self, timeout: float = 30.0) -> None:
        """Poll until every record now in the stream is finished (for tests and a clean shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.poll()
            if all(not s.pending and not s.work for s in self._shards.values()) and not self._fetch_all():
                return
            time.sleep(0.01)
        raise TimeoutError("records still pending after drain timeout")

    # -- reading ------------------------------------------------------------------------------------------------

    def _discover_shards(self) -> None:
        if self._shards:
            return
        for shard in self._kinesis.list_shards(StreamName=self._stream_name)["Shards"]:
            shard_id = shard["ShardId"]
            after = self._checkpoints.get(shard_id)
            kwargs = (
                {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": after}
                if after
                else {"ShardIteratorType": "TRIM_HORIZON"}
            )
            iterator = self._kinesis.get_shard_iterator(StreamName=self._stream_name, ShardId=shard_id, **kwargs)
            self._shards[shard_id] = _Shard(shard_id, iterator["ShardIterator"])

    def _fetch(self, shard: _Shard) -> int:
        if shard.iterator is None or time.monotonic() < shard.read_at:
            return 0
        try:
            response = self._kinesis.get_records(ShardIterator=shard.iterator, Limit=GET_RECORDS_LIMIT)
        except Exception as error:
            if not is_transient_read_error(error):
                raise
            shard.read_failures += 1
            shard.read_at = time.monotonic() + read_backoff(shard.read_failures)
            with self._stats_lock:
                self.stats.reads_throttled += 1
            return 0
        shard.read_failures = 0
        shard.iterator = response.get("NextShardIterator")
        records = response["Records"]
        if records and shard.first_pending_at is None:
            shard.first_pending_at = time.monotonic()
        shard.pending.extend(records)
        if self._metrics and records:
            age_ms = max(0.0, (time.time() - records[-1]["ApproximateArrivalTimestamp"].timestamp()) * 1000)
            self._metrics.put(
                "AWS/Kinesis",
                "GetRecords.IteratorAgeMilliseconds",
                age_ms,
                {"StreamName": self._stream_name},
                "Milliseconds",
            )
        return len(records)

    def _fetch_all(self) -> int:
        return sum(self._fetch(shard) for shard in self._shards.values())

    # -- batching and invoking ----------------------------------------------------------------------------------

    def _step(self, shard: _Shard) -> bool:
        if not shard.work:
            if len(shard.pending) < self.settings.batch_size:
                self._fetch(shard)
            if not shard.pending:
                return False
            waited = time.monotonic() - (shard.first_pending_at or time.monotonic())
            if len(shard.pending) < self.settings.batch_size and waited < self.settings.batch_window_seconds:
                return False
            shard.work.append(_Batch(self._take_batch(shard)))
        if time.monotonic() < shard.retry_at:
            return False
        batch = shard.work.popleft()
        self._run_batch(shard, batch)
        return True

    def _take_batch(self, shard: _Shard) -> list[dict[str, Any]]:
        batch, size = [], 0
        while shard.pending and len(batch) < self.settings.batch_size:
            record_size = len(shard.pending[0]["Data"]) * 4 // 3 + 512  # base64 plus the record's envelope
            if batch and size + record_size > MAX_PAYLOAD_BYTES:
                break
            batch.append(shard.pending.popleft())
            size += record_size
        shard.first_pending_at = time.monotonic() if shard.pending else None
        return batch

    def _run_batch(self, shard: _Shard, batch: _Batch) -> None:
        too_old = self._expired_prefix(batch.records)
        if too_old:
            self._discard(shard, too_old, "RecordAgeExceeded", batch.attempts)
            batch = _Batch(batch.records[len(too_old) :], batch.attempts)
            if not batch.records:
                return

        failed_from = self._invoke(shard, batch.records)
        if failed_from is None:
            self._finish(shard, batch.records)
            return
        done, remaining, whole_batch_error = failed_from
        if done:
            self._finish(shard, done)
        if whole_batch_error and self.settings.bisect_on_error and len(remaining) > 1:
            half = len(remaining) // 2
            shard.work.appendleft(_Batch(remaining[half:], batch.attempts))
            shard.work.appendleft(_Batch(remaining[:half], batch.attempts))
            return
        attempts = batch.attempts + 1
        if attempts > self.settings.max_retries:
            self._discard(shard, remaining, "RetryAttemptsExhausted", attempts)
            return
        shard.work.appendleft(_Batch(remaining, attempts))
        shard.retry_at = time.monotonic() + min(1.0, 0.05 * 2**attempts)

    def _invoke(self, shard: _Shard, records: list[dict[str, Any]]) -> tuple[list, list, bool] | None:
        """None when the whole batch succeeded, else (finished records, records to retry, was a function error)."""
        event = {"Records": [self._event_record(shard.shard_id, r) for r in records]}
        error = None
        response: Any = None
        with self._invoke_lock:
            context = LambdaContext(self._function_name, self._function_arn)
            started = time.monotonic()
            if self._output:
                with self._output.capture() as captured:
                    try:
                        response = self._handler(event, context)
                    except Exception:  # noqa: BLE001 - a function error, whatever the handler raised
                        error = traceback.format_exc()
                output = captured.getvalue()
            else:
                try:
                    response = self._handler(event, context)
                except Exception:  # noqa: BLE001
                    error = traceback.format_exc()
                output = ""
            duration_ms = (time.monotonic() - started) * 1000
        with self._stats_lock:
            self.stats.invocations += 1
        logs = self._metrics.put_emf_output(output) if self._metrics else output.split("\n")
        for line in logs:
            self._log(line)
        self._publish_invocation_metrics(records, duration_ms, error is not None)
        if error is not None:
            with self._stats_lock:
                self.stats.function_errors += 1
            self._log(json.dumps({"level": "ERROR", "source": "event-source-mapping", "function_error": error}))
            return [], records, True
        return self._failed_from(records, response)

    def _failed_from(self, records: list[dict[str, Any]], response: Any) -> tuple[list, list, bool] | None:
        if not self.settings.report_batch_item_failures or not isinstance(response, dict):
            return None
        failures = response.get("batchItemFailures")
        if not failures:
            return None
        index = {r["SequenceNumber"]: i for i, r in enumerate(records)}
        positions = []
        for failure in failures:
            identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
            if not identifier or identifier not in index:
                return [], records, False  # an unusable identifier fails the whole batch
            positions.append(index[identifier])
        first = min(positions)
        return records[:first], records[first:], False

    def _expired_prefix(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        now = time.time()
        limit = self.settings.max_record_age_seconds
        expired = []
        for record in records:
            if now - record["ApproximateArrivalTimestamp"].timestamp() <= limit:
                break
            expired.append(record)
        return expired

    def _event_record(self, shard_id: str, record: dict[str, Any]) -> dict[str, Any]:
        sequence = record["SequenceNumber"]
        return {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": record["PartitionKey"],
                "sequenceNumber": sequence,
                "data": base64.b64encode(record["Data"]).decode("ascii"),
                "approximateArrivalTimestamp": record["ApproximateArrivalTimestamp"].timestamp(),
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": f"{shard_id}:{sequence}",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": f"{self._function_arn.rsplit(':function:', 1)[0]}:role/local",
            "awsRegion": self._region,
            "eventSourceARN": self._stream_arn,
        }

    # -- outcomes -----------------------------------------------------------------------------------------------

    def _finish(self, shard: _Shard, records: list[dict[str, Any]]) -> None:
        with self._stats_lock:
            self.stats.records_succeeded += len(records)
        self._checkpoints.set(shard.shard_id, records[-1]["SequenceNumber"])

    def _discard(self, shard: _Shard, records: list[dict[str, Any]], condition: str, attempts: int) -> None:
        """Send the batch's position to the on-failure destination, then move past it."""
        first, last = records[0], records[-1]
        message = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self._function_arn,
                "condition": condition,
                "approximateInvokeCount": attempts,
            },
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "KinesisBatchInfo": {
                "shardId": shard.shard_id,
                "startSequenceNumber": first["SequenceNumber"],
                "endSequenceNumber": last["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(first["ApproximateArrivalTimestamp"]),
                "approximateArrivalOfLastRecord": _iso(last["ApproximateArrivalTimestamp"]),
                "batchSize": len(records),
                "streamArn": self._stream_arn,
            },
        }
        self._sqs.send_message(QueueUrl=self._queue_url, MessageBody=json.dumps(message))
        with self._stats_lock:
            self.stats.records_discarded += len(records)
            self.stats.batches_discarded += 1
        self._checkpoints.set(shard.shard_id, last["SequenceNumber"])

    def _publish_invocation_metrics(self, records: list[dict[str, Any]], duration_ms: float, failed: bool) -> None:
        if not self._metrics:
            return
        dims = {"FunctionName": self._function_name}
        age_ms = max(0.0, (time.time() - records[-1]["ApproximateArrivalTimestamp"].timestamp()) * 1000)
        namespace = "AWS/Lambda"
        self._metrics.put_data(
            [
                (namespace, metric_datum("Invocations", 1, dims, "Count")),
                (namespace, metric_datum("Errors", 1 if failed else 0, dims, "Count")),
                (namespace, metric_datum("Duration", duration_ms, dims, "Milliseconds")),
                (namespace, metric_datum("IteratorAge", age_ms, dims, "Milliseconds")),
            ]
        )


def is_transient_read_error(error: Exception) -> bool:
    """Whether a failed GetRecords is one to back off from and retry (throttling, a 5xx), not a bug to surface."""
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return False
    code = response.get("Error", {}).get("Code")
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return code in TRANSIENT_READ_ERRORS or status >= 500


def read_backoff(failures: int) -> float:
    """Seconds to wait before reading a shard again after `failures` throttled reads in a row."""
    return min(MAX_READ_BACKOFF_SECONDS, 0.1 * 2 ** (failures - 1))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
