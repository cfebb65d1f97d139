"""The live view's readers: three background threads that feed `LiveModel` from a running `LocalStack`.

- the stream reader reads the Kinesis stream with its own position per shard (independently of the processor, whose
  handler and poller are untouched) every `tap_interval`, and after each read looks at the processor's and
  Firehose's checkpoints to tell which records each has finished. Two readers do the same thing:
  `InProcessStreamReader` (the default) reads the shards where the local stack's moto server keeps them, in this
  process, through the same shard read moto's GetRecords uses; `KinesisApiReader` calls GetRecords with its own
  shard iterators, as Firehose does. Over the API, each record costs the pipeline's process the server's JSON and
  base64 encoding and the client's parsing, about 364 us of CPU against the pipeline's 2,889 us (12.6 %), in
  process 28 us (1.0 %) (bench/bench_web.py): there it is a dictionary lookup;
- the sampler closes a one-second interval (rates, lags) for the server-sent events, and copies new alarm
  transitions and delivered e-mails (read from the evaluator and the mailbox, in memory) into bounded lists;
- the lake scanner lists the lake bucket and reads quarantine objects it has not seen yet.

The view must never slow the pipeline, which runs in the same process: the readers only read; every buffer is
bounded (local/web/model.py); and the lake scanner, the one reader whose work grows with the run, spends at most
`SCAN_DUTY` of its time scanning (after a scan that took 0.2 s it waits at least 0.2 s / SCAN_DUTY).
"""

from __future__ import annotations

import base64
import gzip
import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore.session
from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserFactory

from lambdas.quarantine import PREFIX as QUARANTINE_PREFIX
from lambdas.schemas import FAMILIES
from local.moto_server import ACCOUNT_ID, REGION
from local.web.model import LiveModel, StreamRecord
from streamlake import lake
from streamlake.alarms import alarm_specs

TAP_INTERVAL = 0.25
TAP_LIMIT = 5_000  # records per GetRecords call; at 4 calls/s far above what one local shard carries
SAMPLE_INTERVAL = 1.0
LAKE_INTERVAL = 2.0
SCAN_DUTY = 0.02
MAX_HISTORY = 500  # alarm transitions kept
MAX_MAIL = 500  # e-mails kept (the mbox file has them all)
MAX_PARTITIONS = 300
LAKE_AREAS = (lake.RAW_PREFIX, lake.PROCESSED_PREFIX, lake.ERRORS_PREFIX, lake.QUARANTINE_PREFIX)


@dataclass(frozen=True)
class Mail:
    id: int
    seen_at: float
    kind: str  # "alert" (alerts topic) or "ops" (alarm notifications)
    topic_arn: str
    recipient: str
    subject: str
    body: str

    def summary(self) -> dict[str, Any]:
        # The first line that says something (an alarm's JSON starts with a lone brace).
        first_line = next((line.strip() for line in self.body.splitlines() if any(c.isalnum() for c in line)), "")
        return {
            "id": self.id,
            "seen_at": _iso(self.seen_at),
            "kind": self.kind,
            "recipient": self.recipient,
            "subject": self.subject,
            "snippet": first_line[:160],
        }


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class LiveView:
    """`start()` the readers after the stack has started, `stop()` them before it stops."""

    def __init__(
        self,
        stack: Any,
        *,
        tap_interval: float = TAP_INTERVAL,
        sample_interval: float = SAMPLE_INTERVAL,
        lake_interval: float = LAKE_INTERVAL,
        reader: str = "in-process",
    ) -> None:
        self.stack = stack
        self.started_at = time.time()
        threshold = stack.config.thresholds.high_temperature_c
        self.model = LiveModel(high_temperature_c=threshold, started_at=self.started_at)
        self.tap_interval = tap_interval
        self.sample_interval = sample_interval
        self.lake_interval = lake_interval
        self.errors: deque[str] = deque(maxlen=20)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        if reader not in READERS:
            raise ValueError(f"reader must be one of {', '.join(READERS)}, got {reader!r}")
        stream_reader, lake_reader = READERS[reader]
        self.reader = stream_reader(stack)
        self.lake = lake_reader(stack)
        # Alarms and mail, copied from the evaluator and mailbox as they change.
        self.history: deque[dict[str, Any]] = deque(maxlen=MAX_HISTORY)
        self.mail: deque[Mail] = deque(maxlen=MAX_MAIL)
        self._alarm_source: tuple[int, int] = (0, 0)  # (id of the evaluator, transitions copied)
        self._mail_source: tuple[int, int] = (0, 0)
        self._mail_ids = 0
        # Lake: the last listing, and the quarantine objects already read (key -> ETag).
        self.lake_listing: dict[str, Any] = {"scanned_at": None, "areas": {}, "families": {}, "partitions": []}
        self._quarantine_seen: dict[str, str] = {}
        self.scan_seconds = 0.0

    @property
    def stopping(self) -> threading.Event:
        return self._stop

    # -- lifecycle ----------------------------------------------------------------------------------------------

    def start(self) -> LiveView:
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._loop, args=(self._tap, self.tap_interval), name="web-tap", daemon=True),
            threading.Thread(
                target=self._loop, args=(self._sample, self.sample_interval), name="web-sampler", daemon=True
            ),
            threading.Thread(target=self._scan_loop, name="web-lake", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.model.wake_waiters()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()

    def _loop(self, work: Any, interval: float) -> None:
        while not self._stop.wait(interval):
            self._guarded(work)

    def _guarded(self, work: Any) -> None:
        try:
            work()
        except Exception as error:  # noqa: BLE001 - the view reports its own trouble, it never stops the pipeline
            self.errors.append(f"{datetime.now(UTC):%H:%M:%S} {work.__name__}: {error!r}")

    # -- the stream and the runners' positions ------------------------------------------------------------------

    def _tap(self) -> None:
        records = self.reader.read()
        if records:
            self.model.add_records(records)
        now = time.time()
        for shard_id in self.reader.shard_ids:
            self.model.finished("processor", shard_id, self.stack.checkpoint("processor", shard_id), now)
            self.model.finished("lake", shard_id, self.stack.checkpoint("firehose", shard_id), now)

    # -- sampling, alarms, mail ---------------------------------------------------------------------------------

    def _sample(self) -> None:
        now = time.time()
        self._copy_alarm_history(now)
        self._copy_mail(now)
        self.model.sample(now)

    def _copy_alarm_history(self, now: float) -> None:
        evaluator = self.stack.alarms
        if evaluator is None:
            return
        source, copied = self._alarm_source
        if source != id(evaluator):  # the runners were restarted: a new evaluator with its own history
            copied = 0
        fresh, position = evaluator.history.since(copied)
        for transition in fresh:
            self.history.appendleft(
                {
                    "alarm": transition.alarm_name,
                    "from": transition.old_state,
                    "to": transition.new_state,
                    "reason": transition.reason,
                    "seen_at": _iso(now),
                }
            )
        self._alarm_source = (id(evaluator), position)

    def _copy_mail(self, now: float) -> None:
        mailbox = self.stack.mailbox
        if mailbox is None:
            return
        source, copied = self._mail_source
        if source != id(mailbox):
            copied = 0
        alerts_topic = self.stack.resources.alerts_topic_arn
        fresh, position = mailbox.delivered.since(copied)
        with self._lock:
            for message in fresh:
                self._mail_ids += 1
                kind = "alert" if message.topic_arn == alerts_topic else "ops"
                self.mail.appendleft(
                    Mail(self._mail_ids, now, kind, message.topic_arn, message.recipient, message.subject, message.body)
                )
        self._mail_source = (id(mailbox), position)

    def alarms(self) -> list[dict[str, Any]]:
        evaluator = self.stack.alarms
        states = dict(evaluator.states) if evaluator is not None else {}
        history = list(self.history)
        result = []
        for spec in alarm_specs(self.stack.config):
            name = f"{self.stack.config.prefix}-{spec.key}" if evaluator is None else evaluator.alarm_name(spec)
            transitions = [h for h in history if h["alarm"] == name]
            result.append(
                {
                    "name": name,
                    "key": spec.key,
                    "state": states.get(name, "INSUFFICIENT_DATA"),
                    "description": spec.description,
                    "metric": f"{spec.namespace} {spec.metric_name} ({spec.statistic})",
                    "threshold": spec.threshold,
                    "comparison": spec.comparison,
                    "period_seconds": spec.period_seconds,
                    "evaluation_periods": spec.evaluation_periods,
                    "reason": transitions[0]["reason"] if transitions else None,
                    "history": transitions,
                }
            )
        return result

    def mail_list(self, limit: int) -> list[dict[str, Any]]:
        with self._lock:
            return [m.summary() for m in list(self.mail)[:limit]]

    def mail_message(self, mail_id: int) -> Mail | None:
        with self._lock:
            return next((m for m in self.mail if m.id == mail_id), None)

    # -- the lake -----------------------------------------------------------------------------------------------

    def _scan_loop(self) -> None:
        wait = 0.0
        while not self._stop.wait(wait):
            started = time.monotonic()
            self._guarded(self.scan_lake)
            self.scan_seconds = time.monotonic() - started
            wait = max(self.lake_interval, self.scan_seconds / SCAN_DUTY)

    def scan_lake(self) -> None:
        """List the lake bucket (objects and bytes per partition) and read the quarantine objects not read yet."""
        areas = {prefix.rstrip("/"): {"objects": 0, "bytes": 0} for prefix in LAKE_AREAS}
        families = {f: {"objects": 0, "bytes": 0} for f in FAMILIES}
        partitions: dict[str, dict[str, Any]] = {}
        quarantine_objects: list[tuple[str, str]] = []
        family_prefix = lake.PROCESSED_PREFIX + "family="
        for key, size, etag, modified in self.lake.objects():
            area = key.split("/", 1)[0]
            if area in areas:
                areas[area]["objects"] += 1
                areas[area]["bytes"] += size
            if key.startswith(family_prefix):
                family = key[len(family_prefix) :].split("/", 1)[0]
                if family in families:
                    families[family]["objects"] += 1
                    families[family]["bytes"] += size
            partition = key.rsplit("/", 1)[0] + "/"
            entry = partitions.get(partition)
            if entry is None:
                entry = partitions[partition] = {"partition": partition, "objects": 0, "bytes": 0, "modified": modified}
            entry["objects"] += 1
            entry["bytes"] += size
            entry["modified"] = max(entry["modified"], modified)
            if key.startswith(QUARANTINE_PREFIX) and self._quarantine_seen.get(key) != etag:
                quarantine_objects.append((key, etag))
        for key, etag in quarantine_objects:
            self.model.add_quarantined(_quarantine_lines(self.lake.read(key)))
            self._quarantine_seen[key] = etag
        newest_first = sorted(partitions.values(), key=lambda p: (p["modified"], p["partition"]), reverse=True)
        shown = []
        for entry in newest_first[:MAX_PARTITIONS]:
            modified = entry.pop("modified")
            entry["last_modified"] = modified.isoformat(timespec="seconds").replace("+00:00", "Z")
            shown.append(entry)
        self.lake_listing = {
            "scanned_at": _iso(time.time()),
            "areas": areas,
            "families": families,
            "partitions": shown,
            "partition_count": len(partitions),
        }

    # -- status -------------------------------------------------------------------------------------------------

    def pipeline_status(self) -> dict[str, Any]:
        """The runners' own counters (read, not reset) next to what the view counted."""
        stack = self.stack
        poller, firehose, mailbox = stack.poller, stack.firehose, stack.mailbox
        return {
            "started_at": _iso(self.started_at),
            "processor": {
                "records_succeeded": poller.stats.records_succeeded if poller else 0,
                "records_discarded": poller.stats.records_discarded if poller else 0,
                "invocations": poller.stats.invocations if poller else 0,
                "function_errors": poller.stats.function_errors if poller else 0,
            },
            "firehose": {
                "records_in": firehose.stats.records_in if firehose else 0,
                "records_delivered": firehose.stats.records_delivered if firehose else 0,
                "records_failed": firehose.stats.records_failed if firehose else 0,
                "objects_written": firehose.stats.objects_written if firehose else 0,
                "transform_failures": firehose.stats.transform_failures if firehose else 0,
                "last_transform_error": firehose.stats.last_transform_error if firehose else None,
            },
            "emails_delivered": len(mailbox.delivered) if mailbox else 0,
            "view": {
                "reader": type(self.reader).__name__,
                "tap_behind_ms": self.reader.behind_ms,
                "lake_scan_seconds": round(self.scan_seconds, 3),
                "lake_scanned_at": self.lake_listing["scanned_at"],
                "errors": list(self.errors),
            },
            "stack_errors": list(stack.errors),
            # Supervised runners: state, restarts and last error of each (a runner that raised is restarted).
            "runners": stack.runner_health(),
        }


class InProcessStreamReader:
    """Reads the stream where the local stack's moto server keeps it, in this process, like
    `LocalStack.stream_record_count`: per shard, the records after the last sequence number read (what an
    AFTER_SEQUENCE_NUMBER iterator returns), through the shard read moto's GetRecords itself uses
    (local.moto_server's O(batch) `Shard.get_records`). Read-only; no HTTP, JSON or base64 per record."""

    def __init__(self, stack: Any, limit: int = TAP_LIMIT) -> None:
        self._stream_name = stack.resources.stream_name
        self._limit = limit
        self._last: dict[str, str] = {}
        self.behind_ms = 0

    @property
    def shard_ids(self) -> list[str]:
        return list(self._last)

    def read(self) -> list[StreamRecord]:
        from moto.kinesis.models import kinesis_backends

        stream = kinesis_backends[ACCOUNT_ID][REGION].streams[self._stream_name]
        records: list[StreamRecord] = []
        for shard_id, shard in list(stream.shards.items()):
            found, _, self.behind_ms = shard.get_records(self._last.get(shard_id, "0"), self._limit)
            records += [
                StreamRecord(shard_id, str(r.sequence_number), r.created_at, base64.b64decode(r.data)) for r in found
            ]
            self._last[shard_id] = str(found[-1].sequence_number) if found else self._last.get(shard_id, "0")
        return records


class KinesisApiReader:
    """Reads the stream with GetRecords through its own shard iterators, as Firehose does (TRIM_HORIZON first, then
    AFTER_SEQUENCE_NUMBER the last record read when an iterator has to be renewed)."""

    def __init__(self, stack: Any, limit: int = TAP_LIMIT) -> None:
        region = stack.clients["kinesis"].meta.region_name
        self._kinesis = epoch_timestamp_session(region).client("kinesis", endpoint_url=stack.endpoint.url)
        self._stream_name = stack.resources.stream_name
        self._limit = limit
        self._iterators: dict[str, str | None] = {}
        self._last: dict[str, str] = {}
        self.behind_ms = 0

    @property
    def shard_ids(self) -> list[str]:
        return list(self._iterators)

    def read(self) -> list[StreamRecord]:
        if not self._iterators:
            for shard in self._kinesis.list_shards(StreamName=self._stream_name)["Shards"]:
                self._iterators[shard["ShardId"]] = None
        records: list[StreamRecord] = []
        for shard_id, iterator in list(self._iterators.items()):
            try:
                response = self._kinesis.get_records(
                    ShardIterator=iterator or self._new_iterator(shard_id), Limit=self._limit
                )
            except ClientError:  # an expired iterator: the next read starts after the last record read
                self._iterators[shard_id] = None
                raise
            self._iterators[shard_id] = response.get("NextShardIterator")
            self.behind_ms = response.get("MillisBehindLatest", 0)
            records += [
                StreamRecord(shard_id, r["SequenceNumber"], r["ApproximateArrivalTimestamp"], r["Data"])
                for r in response["Records"]
            ]
            if response["Records"]:
                self._last[shard_id] = response["Records"][-1]["SequenceNumber"]
        return records

    def _new_iterator(self, shard_id: str) -> str:
        after = self._last.get(shard_id)
        kwargs = (
            {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": after}
            if after
            else {"ShardIteratorType": "TRIM_HORIZON"}
        )
        return self._kinesis.get_shard_iterator(StreamName=self._stream_name, ShardId=shard_id, **kwargs)[
            "ShardIterator"
        ]


class InProcessLake:
    """The lake bucket where the local stack's moto server keeps it, in this process: its objects' keys, sizes, ETags
    and times, and an object's bytes, without an HTTP request and an XML listing per call (an S3 listing costs about
    0.2 ms of CPU per key, a GetObject 2.6 ms, both in the pipeline's process). Read-only."""

    def __init__(self, stack: Any) -> None:
        self._bucket_name = stack.resources.lake_bucket

    def _bucket(self) -> Any:
        from moto.s3.models import s3_backends

        return s3_backends[ACCOUNT_ID]["aws"].get_bucket(self._bucket_name)

    def objects(self) -> list[tuple[str, int, str, datetime]]:
        """(key, size, ETag, last modified in UTC) of the current version of every object."""
        found = []
        for key, item in self._bucket().keys.items():  # moto iterates over a copy: writers are not disturbed
            if getattr(item, "is_delete_marker", False) or not hasattr(item, "size"):
                continue
            modified = item.last_modified
            found.append(
                (key, item.size, item.etag, modified.replace(tzinfo=UTC) if modified.tzinfo is None else modified)
            )
        return found

    def read(self, key: str) -> bytes:
        return self._bucket().keys[key].value


class ApiLake:
    """The lake bucket over the S3 API (ListObjectsV2, GetObject), with the view's own client."""

    def __init__(self, stack: Any) -> None:
        region = stack.clients["s3"].meta.region_name
        self._s3 = boto3.Session(region_name=region).client("s3", endpoint_url=stack.endpoint.url)
        self._bucket_name = stack.resources.lake_bucket

    def objects(self) -> list[tuple[str, int, str, datetime]]:
        found = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket_name):
            found += [
                (o["Key"], o["Size"], o["ETag"], o["LastModified"].astimezone(UTC)) for o in page.get("Contents", [])
            ]
        return found

    def read(self, key: str) -> bytes:
        return self._s3.get_object(Bucket=self._bucket_name, Key=key)["Body"].read()


# How the view reads the stream and the lake bucket: in this process (default), or over the AWS APIs.
READERS: dict[str, tuple[Any, Any]] = {
    "in-process": (InProcessStreamReader, InProcessLake),
    "api": (KinesisApiReader, ApiLake),
}


def epoch_timestamp_session(region: str) -> boto3.Session:
    """A session whose clients leave timestamps as the epoch seconds the Kinesis (JSON) protocol carries. Turning
    every record's ApproximateArrivalTimestamp into a timezone-aware datetime is a third of what GetRecords costs
    the client, and the view shares the pipeline's process; it only needs the number."""
    core = botocore.session.get_session()
    parsers = ResponseParserFactory()
    parsers.set_parser_defaults(timestamp_parser=float)
    core.register_component("response_parser_factory", parsers)
    return boto3.Session(botocore_session=core, region_name=region)


def _quarantine_lines(body: bytes) -> list[dict[str, Any]]:
    text = gzip.decompress(body).decode("utf-8") if body[:2] == b"\x1f\x8b" else body.decode("utf-8")
    return [json.loads(line) for line in text.split("\n") if line.strip()]


__all__ = ["READERS", "ApiLake", "InProcessLake", "InProcessStreamReader", "KinesisApiReader", "LiveView", "Mail"]
