"""Window-metrics Lambda: event-time windows over the stream, on its own event source mapping.

Each invocation gets one shard's batch. Records are judged by the event contract (`lambdas.schemas.judge`, the
verdict every stage shares); records that fail it are skipped here (the processor quarantines them). The batch is
merged into DynamoDB by `lambdas.metrics.windows.apply_batch`, which is safe to retry and to bisect, and the windows
the combined watermark has passed are written to the lake (`window_metrics`) and as EMF metrics. An error fails the
whole invocation: the event source mapping retries it (bisecting), and nothing is counted twice.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.metrics import metric_names
from lambdas.metrics.settings import get_settings
from lambdas.metrics.sink import WindowSink, emf_document
from lambdas.metrics.store import DynamoWindowStore
from lambdas.metrics.windows import BatchResult, StreamRecord, WindowStore, apply_batch
from lambdas.processor.adapters import aws_client
from lambdas.schemas import judge

logger = Logger(service=metric_names.SERVICE)

SHARD_LIST_TTL_SECONDS = 60


class _Runtime:
    """AWS adapters and the cached shard list, created on the first invocation (importing makes no client)."""

    def __init__(self) -> None:
        settings = get_settings()
        self.store: WindowStore = DynamoWindowStore(
            aws_client("dynamodb"), settings.windows_table, settings.windows.window_ms, settings.ttl_seconds
        )
        self.sink = WindowSink(aws_client("s3"), settings.lake_bucket, settings.windows)
        self.kinesis = aws_client("kinesis")
        self._shards: tuple[float, list[str]] | None = None

    def open_shards(self, stream_arn: str) -> list[str]:
        """The stream's open shards (ListShards), cached for a minute; resharding is rare and idleness covers it."""
        if self._shards is None or time.monotonic() - self._shards[0] > SHARD_LIST_TTL_SECONDS:
            shards: list[str] = []
            request: dict[str, Any] = {"StreamARN": stream_arn}
            while True:
                page = self.kinesis.list_shards(**request)
                shards += [
                    s["ShardId"]
                    for s in page.get("Shards", [])
                    if "EndingSequenceNumber" not in s["SequenceNumberRange"]
                ]
                if not page.get("NextToken"):
                    break
                request = {"NextToken": page["NextToken"]}
            self._shards = (time.monotonic(), shards)
        return self._shards[1]


_runtime: _Runtime | None = None


def get_runtime() -> _Runtime:
    global _runtime
    if _runtime is None:
        _runtime = _Runtime()
    return _runtime


def new_execution_environment() -> None:
    """Forget cached settings and clients, as a fresh execution environment would (local mode, tests)."""
    global _runtime
    _runtime = None
    get_settings.cache_clear()


def stream_records(records: list[dict[str, Any]]) -> tuple[str, list[StreamRecord], int]:
    """The batch's shard, its records that satisfy the event contract, and how many did not."""
    shard_id = records[0]["eventID"].split(":", 1)[0]
    valid: list[StreamRecord] = []
    skipped = 0
    for record in records:
        # The contract's one verdict (total: any bytes give an event or a reason), as the processor and Firehose's
        # transformation reach it; what they quarantine is skipped here.
        verdict = judge(base64.b64decode(record["kinesis"]["data"]))
        if verdict.event is None:
            skipped += 1
            continue
        valid.append(StreamRecord(shard_id, record["kinesis"]["sequenceNumber"], verdict.event))
    return shard_id, valid, skipped


def batch_metrics(result: BatchResult, skipped: int, now_ms: int) -> list[dict[str, Any]]:
    """EMF documents describing one invocation: records aggregated, skipped, late per family, windows closed."""
    docs = [
        emf_document(
            now_ms,
            {},
            {
                metric_names.RECORDS_AGGREGATED: (result.merged, "Count"),
                metric_names.RECORDS_SKIPPED: (skipped, "Count"),
                metric_names.WINDOWS_CLOSED: (len(result.closed), "Count"),
            },
        )
    ]
    if result.watermark_ms is not None:
        delay = max(0, now_ms - result.watermark_ms)
        docs.append(emf_document(now_ms, {}, {metric_names.WATERMARK_DELAY: (delay, "Milliseconds")}))
    for family, count in sorted(result.late.items()):
        docs.append(emf_document(now_ms, {"family": family}, {metric_names.LATE_RECORDS: (count, "Count")}))
    return docs


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records") or []
    if not records:
        return {}
    runtime = get_runtime()
    shard_id, valid, skipped = stream_records(records)
    now_ms = int(time.time() * 1000)
    result = apply_batch(
        runtime.store,
        shard_id,
        valid,
        get_settings().windows,
        now_ms,
        stream_shards=runtime.open_shards(records[0]["eventSourceARN"]),
        emit=runtime.sink,
    )
    for doc in batch_metrics(result, skipped, now_ms):
        print(json.dumps(doc, separators=(",", ":")))
    logger.info(
        "windows updated",
        extra={
            "shard": shard_id,
            "records": len(records),
            "aggregated": result.merged,
            "late": result.late,
            "replayed": result.replayed,
            "skipped": skipped,
            "closed": sorted(result.closed),
            "watermark_ms": result.watermark_ms,
        },
    )
    return {}
