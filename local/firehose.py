"""A Firehose delivery stream with a Kinesis source, as stacks/delivery.py configures the deployed one.

Follows the Amazon Data Firehose developer guide: reads the stream through its own iterators (independently of the
processor), buffers until `buffer_seconds` have passed since the oldest buffered record arrived or `buffer_bytes`
are buffered, then for each buffer:

- backs every source record up, byte for byte, as GZIP JSON lines under raw/ (S3 backup mode "Enabled");
- hands the buffer to the same transformation function Firehose invokes (lambdas.transform.handler, with the
  event and response shapes of a Firehose data transformation): records it returns `ProcessingFailed` go to
  errors/processing-failed/ unchanged; the others come back normalised with their family as partitioning key;
- converts those to the Glue schema of `all_events` the way the OpenX JSON SerDe does (numbers into double
  columns, scalars into string columns); a record that does not fit goes to errors/format-conversion-failed/;
- writes one Snappy Parquet object per family under processed/family=<f>/year=/month=/day=/hour=/, the hour being
  that of the oldest record in the object ("Firehose uses the approximate arrival timestamp of the oldest record
  that's contained in the Amazon S3 object being written", Custom Prefixes for Amazon S3 Objects).

Error objects hold one JSON document per failed record with the fields of Firehose's error records
(attemptsMade, arrivalTimestamp, errorCode, errorMessage, attemptEndingTimestamp, rawData, sequenceNumber).
Objects are put into the lake bucket (moto S3) and mirrored to a directory DuckDB can read. The read position is
checkpointed only after a buffer is written, so a deliverer killed between buffering and writing re-reads those
records when it restarts: at-least-once, as Firehose is.
"""

from __future__ import annotations

import base64
import gzip
import json
import math
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
from botocore.exceptions import BotoCoreError, ClientError

from lambdas.transform.handler import handler as transform_handler
from local.metrics import MetricsSink, metric_datum
from local.poller import CheckpointStore, is_transient_read_error, read_backoff
from streamlake import lake

# Firehose's own text for records a transformation marked ProcessingFailed (the processor's quarantine has reasons).
_PROCESSING_FAILED = "The record was marked as ProcessingFailed by the Lambda function."
# "If your Lambda function invocation fails [...] Amazon Data Firehose retries the invocation three times by default.
# If the invocation does not succeed, Amazon Data Firehose then skips that batch of records", which then go to
# processing-failed/ (developer guide, "Handle failure in data transformation"). stacks/delivery.py keeps retries=3.
TRANSFORM_RETRIES = 3
_DUCKDB_TYPES = {"string": "VARCHAR", "double": "DOUBLE", "int": "INTEGER", "bigint": "BIGINT", "boolean": "BOOLEAN"}


class ConversionError(ValueError):
    """A record does not fit the Glue schema."""


@dataclass
class _Buffered:
    data: bytes
    sequence_number: str
    shard_id: str
    arrival: datetime


class LakeWriter:
    """Puts objects into the lake bucket and mirrors them under `mirror_dir` (the local lake DuckDB reads)."""

    def __init__(self, s3: Any, bucket: str, mirror_dir: Path | None) -> None:
        self._s3 = s3
        self.bucket = bucket
        self.mirror_dir = mirror_dir

    def put(self, key: str, body: bytes) -> None:
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        self._mirror(key, body)

    def as_s3_client(self) -> Any:
        """An S3 client whose put_object also mirrors the object (for other writers of the lake bucket)."""
        writer = self

        class _Mirrored:
            def __getattr__(self, name: str) -> Any:
                return getattr(writer._s3, name)

            def put_object(self, **kwargs: Any) -> Any:
                response = writer._s3.put_object(**kwargs)
                if kwargs.get("Bucket") == writer.bucket:
                    writer._mirror(kwargs["Key"], kwargs["Body"])
                return response

        return _Mirrored()

    def _mirror(self, key: str, body: bytes) -> None:
        if self.mirror_dir is not None:
            path = self.mirror_dir / key
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_bytes(body)
            tmp.replace(path)


def to_row(record: dict[str, Any], columns: list[tuple[str, str]]) -> dict[str, Any]:
    """One record as a row of the Glue schema; ConversionError names the first field that does not fit."""
    row: dict[str, Any] = {}
    for name, glue_type in columns:
        value = record.get(name)
        if value is None:
            row[name] = None
        elif glue_type == "string":
            row[name] = (
                json.dumps(value, ensure_ascii=False)
                if isinstance(value, dict | list)
                else (str(value).lower() if isinstance(value, bool) else str(value))
            )
        elif glue_type == "double":
            row[name] = _to_double(name, value)
        elif glue_type == "bigint":
            # The OpenX JSON SerDe reads a JSON integer into a bigint column; anything else does not fit.
            if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
                raise ConversionError(f"column {name} is bigint but the value is not a 64-bit integer: {value!r:.80}")
            row[name] = value
        else:
            raise ConversionError(f"column {name}: unsupported Glue type {glue_type}")
    return row


def _to_double(name: str, value: Any) -> float:
    if isinstance(value, bool | dict | list):
        raise ConversionError(f"column {name} is double but the value is {type(value).__name__}: {value!r:.80}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConversionError(f"column {name} is double but the value is not a number: {value!r:.80}") from None
    if not math.isfinite(number):
        raise ConversionError(f"column {name} is double but the value is not finite: {value!r:.80}")
    return number


def _strict_json(data: bytes) -> Any:
    def reject(constant: str) -> Any:
        raise ValueError(f"{constant} is not valid JSON")

    return json.loads(data.decode("utf-8"), parse_constant=reject)


@dataclass
class DeliveryStats:
    records_in: int = 0
    records_delivered: int = 0
    records_failed: int = 0
    objects_written: int = 0
    flushes: int = 0
    last_flush_at: float | None = None
    reads_throttled: int = 0
    delivery_errors: int = 0
    last_delivery_error: str | None = None
    # Transformation invocations that raised or answered out of shape (each retry counts).
    transform_failures: int = 0
    last_transform_error: str | None = None
    keys: list[str] = field(default_factory=list)


class FirehoseDeliverer:
    """Call `poll()` repeatedly (or `run(stop)` on a thread); `flush()` writes whatever is buffered now."""

    def __init__(
        self,
        *,
        kinesis: Any,
        stream_name: str,
        writer: LakeWriter,
        delivery_stream_name: str,
        buffer_seconds: float,
        buffer_bytes: int,
        metrics: MetricsSink | None = None,
        checkpoints: CheckpointStore | None = None,
        on_flush: Callable[[list[str]], None] | None = None,
    ) -> None:
        self._kinesis = kinesis
        self._stream_name = stream_name
        self._writer = writer
        self._name = delivery_stream_name
        self.buffer_seconds = buffer_seconds
        self.buffer_bytes = buffer_bytes
        self._metrics = metrics
        self._checkpoints = checkpoints or CheckpointStore()
        self._on_flush = on_flush
        self._iterators: dict[str, str | None] = {}
        self._read_failures: dict[str, int] = {}  # consecutive throttled reads per shard
        self._read_at: dict[str, float] = {}  # no read of the shard before this
        self._buffer: list[_Buffered] = []
        self._buffered_bytes = 0
        self._oldest_buffered_at: float | None = None
        self._lock = threading.Lock()
        self._columns = lake.table_columns(None)
        self._transformation = transform_handler
        self._crashed = False
        self.stats = DeliveryStats()

    def run(self, stop: threading.Event, idle_sleep: float = 0.1) -> None:
        while not stop.is_set() and not self._crashed:
            if not self.poll():
                stop.wait(idle_sleep)
        self.flush()

    def poll(self) -> bool:
        """Read what is new on the stream; flush when a buffer condition is met. Returns whether records came."""
        with self._lock:
            if self._crashed:
                return False
            fetched = self._fetch()
            due = self._oldest_buffered_at is not None and (
                time.monotonic() - self._oldest_buffered_at >= self.buffer_seconds
                or self._buffered_bytes >= self.buffer_bytes
            )
        if due:
            try:
                self.flush()
            except (ClientError, BotoCoreError) as error:
                # S3 refused or could not be reached: the records stay buffered, unwritten and not checkpointed, and
                # the next attempt comes one buffer interval later. Firehose retries S3 delivery the same way (for up
                # to 24 hours) rather than stop; an error of the deliverer's own code still stops it.
                self.stats.delivery_errors += 1
                self.stats.last_delivery_error = str(error)
        return fetched > 0

    def crash(self) -> int:
        """Die now, as a crashed process would: stop reading, forget what is buffered without writing or
        checkpointing it, and write nothing more. Returns how many records were lost from the buffer (a new
        deliverer re-reads them from the checkpoint)."""
        with self._lock:
            self._crashed = True
            dropped = len(self._buffer)
            self._buffer, self._buffered_bytes, self._oldest_buffered_at = [], 0, None
            self.stats.records_in -= dropped  # they will be read again
            return dropped

    def flush(self) -> list[str]:
        """Deliver the buffer now. Returns the keys written."""
        with self._lock:
            if self._crashed:
                return []
            buffered, self._buffer = self._buffer, []
            self._buffered_bytes = 0
            self._oldest_buffered_at = None
            if not buffered:
                return []
            try:
                keys = self._deliver(buffered)
            except Exception:
                # Nothing is checkpointed: keep the records for the next attempt, as Firehose retries delivery.
                self._buffer = buffered + self._buffer
                self._buffered_bytes = sum(len(b.data) for b in self._buffer)
                self._oldest_buffered_at = time.monotonic()
                raise
            for shard_id in {b.shard_id for b in buffered}:
                last = [b for b in buffered if b.shard_id == shard_id][-1]
                self._checkpoints.set(shard_id, last.sequence_number)
            self.stats.flushes += 1
            self.stats.last_flush_at = time.time()
            self.stats.keys += keys
        if self._on_flush:
            self._on_flush(keys)
        return keys

    # -- reading ------------------------------------------------------------------------------------------------

    def _fetch(self) -> int:
        if not self._iterators:
            for shard in self._kinesis.list_shards(StreamName=self._stream_name)["Shards"]:
                after = self._checkpoints.get(shard["ShardId"])
                kwargs = (
                    {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": after}
                    if after
                    else {"ShardIteratorType": "TRIM_HORIZON"}
                )
                self._iterators[shard["ShardId"]] = self._kinesis.get_shard_iterator(
                    StreamName=self._stream_name, ShardId=shard["ShardId"], **kwargs
                )["ShardIterator"]
        fetched = 0
        for shard_id, iterator in self._iterators.items():
            if iterator is None or time.monotonic() < self._read_at.get(shard_id, 0.0):
                continue
            try:
                response = self._kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            except Exception as error:
                # Throttled (5 reads/s per shard, shared with the processor): back off and read the shard again.
                if not is_transient_read_error(error):
                    raise
                failures = self._read_failures[shard_id] = self._read_failures.get(shard_id, 0) + 1
                self._read_at[shard_id] = time.monotonic() + read_backoff(failures)
                self.stats.reads_throttled += 1
                continue
            self._read_failures[shard_id] = 0
            self._iterators[shard_id] = response.get("NextShardIterator")
            for record in response["Records"]:
                self._buffer.append(
                    _Buffered(
                        record["Data"],
                        record["SequenceNumber"],
                        shard_id,
                        record["ApproximateArrivalTimestamp"].astimezone(UTC),
                    )
                )
                self._buffered_bytes += len(record["Data"])
            if response["Records"] and self._oldest_buffered_at is None:
                self._oldest_buffered_at = time.monotonic()
            fetched += len(response["Records"])
        self.stats.records_in += fetched
        return fetched

    # -- writing ------------------------------------------------------------------------------------------------

    def _deliver(self, buffered: list[_Buffered]) -> list[str]:
        now = datetime.now(UTC)
        keys = []
        oldest = min(b.arrival for b in buffered)
        raw = gzip.compress(b"".join(b.data.rstrip(b"\n") + b"\n" for b in buffered))
        keys.append(self._put(f"{lake.RAW_PREFIX}{_hour_path(oldest)}", raw, ""))

        rows_by_family: dict[str, list[tuple[_Buffered, dict[str, Any]]]] = {}
        errors: dict[str, list[dict[str, Any]]] = {}
        transformed, failure, attempts = self._transform_with_retries(buffered)
        if transformed is None:
            # Every retry failed: Firehose skips the batch, its records go to processing-failed/ with the error.
            errors["processing-failed"] = [
                _error_record(item, "Lambda.FunctionError", failure or "", now, attempts) for item in buffered
            ]
            transformed = []
        for item, output in zip(buffered, transformed, strict=False):
            if output.get("result") == "Dropped":
                # "If a record has a status of Ok or Dropped, Amazon Data Firehose considers it successfully
                # processed" (developer guide, "Required parameters for data transformation"): not an error.
                continue
            if output.get("result") != "Ok":
                errors.setdefault("processing-failed", []).append(
                    _error_record(item, "Lambda.ProcessingFailed", _PROCESSING_FAILED, now)
                )
                continue
            try:
                record = _strict_json(base64.b64decode(output["data"]))
                family = output["metadata"]["partitionKeys"][lake.FAMILY_PARTITION_KEY]
                if not isinstance(record, dict) or not _known_partition(family):
                    raise ValueError("not a JSON object with a known family partition key")
            except Exception as error:  # noqa: BLE001 - a record the transformation answered out of shape
                errors.setdefault("processing-failed", []).append(
                    _error_record(item, "Lambda.InvalidOutput", f"{type(error).__name__}: {error}"[:500], now)
                )
                continue
            try:
                row = to_row(record, self._columns)
            except ConversionError as error:
                errors.setdefault("format-conversion-failed", []).append(
                    _error_record(item, "DataFormatConversion.InvalidSchema", str(error), now)
                )
                continue
            rows_by_family.setdefault(family, []).append((item, row))

        for family, items in sorted(rows_by_family.items()):
            family_oldest = min(item.arrival for item, _ in items)
            body = _parquet([row for _, row in items], self._columns)
            key_prefix = f"{lake.table_prefix(family)}{_hour_path(family_oldest)}"
            keys.append(self._put(key_prefix, body, lake.PARQUET_EXTENSION))
        for error_type, records in sorted(errors.items()):
            error_oldest = datetime.fromtimestamp(min(r["arrivalTimestamp"] for r in records) / 1000, UTC)
            body = b"".join(json.dumps(r).encode() + b"\n" for r in records)
            keys.append(self._put(f"{lake.ERRORS_PREFIX}{error_type}/{_hour_path(error_oldest)}", body, ""))

        delivered = sum(len(items) for items in rows_by_family.values())
        failed = sum(len(records) for records in errors.values())
        self.stats.records_delivered += delivered
        self.stats.records_failed += failed
        if self._metrics:
            dims = {"DeliveryStreamName": self._name}
            freshness = max(0.0, (now - oldest).total_seconds())
            self._metrics.put_data(
                [
                    ("AWS/Firehose", metric_datum("DeliveryToS3.DataFreshness", freshness, dims, "Seconds")),
                    ("AWS/Firehose", metric_datum("DeliveryToS3.Records", delivered, dims, "Count")),
                    ("AWS/Firehose", metric_datum("DeliveryToS3.Success", 1, dims, "None")),
                ]
            )
        return keys

    def _transform_with_retries(self, buffered: list[_Buffered]) -> tuple[list[dict[str, Any]] | None, str | None, int]:
        """(records, None, attempts) from the first invocation that worked, or (None, last error, attempts)."""
        error_text = None
        for attempt in range(1, TRANSFORM_RETRIES + 2):
            try:
                return self._transform(buffered), None, attempt
            except Exception as error:  # noqa: BLE001 - the function's error is Firehose's to record, not to die of
                error_text = f"The Lambda function invocation failed: {type(error).__name__}: {error}"[:1000]
                self.stats.transform_failures += 1
                self.stats.last_transform_error = error_text
        return None, error_text, TRANSFORM_RETRIES + 1

    def _transform(self, buffered: list[_Buffered]) -> list[dict[str, Any]]:
        """Invoke the transformation with Firehose's event shape; its records, in order (checked by recordId)."""
        event = {
            "invocationId": str(uuid.uuid4()),
            "deliveryStreamArn": f"arn:aws:firehose:us-east-1:123456789012:deliverystream/{self._name}",
            "sourceKinesisStreamArn": f"arn:aws:kinesis:us-east-1:123456789012:stream/{self._stream_name}",
            "region": "us-east-1",
            "records": [
                {
                    "recordId": f"{i:08d}",
                    "approximateArrivalTimestamp": int(item.arrival.timestamp() * 1000),
                    "data": base64.b64encode(item.data).decode("ascii"),
                    "kinesisRecordMetadata": {
                        "shardId": item.shard_id,
                        "partitionKey": "",
                        "approximateArrivalTimestamp": int(item.arrival.timestamp() * 1000),
                        "sequenceNumber": item.sequence_number,
                        "subsequenceNumber": "",
                    },
                }
                for i, item in enumerate(buffered)
            ],
        }
        records = self._transformation(event, None)["records"]
        if [r["recordId"] for r in records] != [r["recordId"] for r in event["records"]]:
            raise RuntimeError("the transformation did not return every record once, in order")
        return records

    def _put(self, prefix: str, body: bytes, extension: str) -> str:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d-%H-%M-%S")
        key = f"{prefix}{self._name}-1-{stamp}-{uuid.uuid4()}{extension}"
        self._writer.put(key, body)
        self.stats.objects_written += 1
        return key


def _hour_path(moment: datetime) -> str:
    return f"year={moment:%Y}/month={moment:%m}/day={moment:%d}/hour={moment:%H}/"


def _known_partition(value: object) -> bool:
    """A family partition key the deployed prefix can take: a family, or `change/source_table=<table>` (no `/`)."""
    if value in lake.PARTITION_FAMILIES:
        return True
    prefix = f"{lake.CHANGE_FAMILY}/{lake.SOURCE_TABLE_KEY}="
    if not isinstance(value, str) or not value.startswith(prefix):
        return False
    table = value[len(prefix) :]
    return bool(table) and "/" not in table and table not in (".", "..")


def _error_record(item: _Buffered, code: str, message: str, now: datetime, attempts: int = 1) -> dict[str, Any]:
    return {
        "attemptsMade": attempts,
        "arrivalTimestamp": int(item.arrival.timestamp() * 1000),
        "errorCode": code,
        "errorMessage": message,
        "attemptEndingTimestamp": int(now.timestamp() * 1000),
        "rawData": base64.b64encode(item.data).decode("ascii"),
        "sequenceNumber": item.sequence_number,
        "subSequenceNumber": None,
    }


def _parquet(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> bytes:
    """Snappy Parquet with exactly the Glue columns and types, written by DuckDB."""
    with tempfile.TemporaryDirectory(prefix="streamlake-firehose-") as tmp:
        source, target = Path(tmp) / "rows.json", Path(tmp) / "out.parquet"
        source.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
        spec = ", ".join(f"'{name}': '{_DUCKDB_TYPES[glue_type]}'" for name, glue_type in columns)
        select = ", ".join(f'"{name}"' for name, _ in columns)
        with duckdb.connect() as con:
            con.execute(
                f"COPY (SELECT {select} FROM read_json('{source}', format='newline_delimited', columns={{{spec}}})) "
                f"TO '{target}' (FORMAT parquet, COMPRESSION snappy)"
            )
        return target.read_bytes()
