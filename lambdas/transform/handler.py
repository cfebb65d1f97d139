"""Firehose data transformation: only records that satisfy the event contract reach the lake's tables.

Firehose invokes this function with buffered stream records before partitioning and Parquet conversion. Each valid
record comes back normalised (UTC timestamp, `family`, `event_id` — derived for the bare lab shape) with its family
as the dynamic partitioning key; each invalid one comes back `ProcessingFailed`, so Firehose writes it, unchanged,
under errors/processing-failed/ (the processor quarantines the same record with the reason). The raw/ backup keeps
every source record as it arrived. Response format: Amazon Data Firehose developer guide, "Transform source data".

The verdict is the contract's (lambdas.schemas.judge), the same the processor quarantines by. A record our own code
fails on is `ProcessingFailed` too, never an exception: an invocation that raises makes Firehose retry the whole
buffer and then send every record of it to errors/. Such records are logged and counted in the `InternalErrors`
metric (namespace Streamlake, service transform).
"""

from __future__ import annotations

import base64
import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from lambdas.processor.metric_names import INTERNAL_ERRORS, NAMESPACE
from lambdas.schemas import internal_error_reason, judge, partition_value

OK, FAILED = "Ok", "ProcessingFailed"
SERVICE = "transform"
_log = logging.getLogger(__name__)


def transform(data: bytes, now: datetime) -> tuple[str, bytes, str | None]:
    """(result, output bytes, partitioning key) for one source record; the output is one JSON line. Never raises.

    The key is the family, or `change/source_table=<t>` for a change (lambdas.schemas.partition_value)."""
    result, output, key, _ = _transform(data, now)
    return result, output, key


def _transform(data: bytes, now: datetime) -> tuple[str, bytes, str | None, bool]:
    verdict = judge(data, now=now)
    if verdict.event is None:
        return FAILED, data, None, verdict.internal
    try:
        return OK, verdict.event.to_json().encode("utf-8") + b"\n", partition_value(verdict.event), False
    except Exception as error:  # noqa: BLE001 - the record boundary: fail this record, not the invocation
        _log.exception("unexpected error serialising a record: %s", internal_error_reason(error))
        return FAILED, data, None, True


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    records = []
    internal_errors = 0
    for record in event["records"]:
        try:
            source = base64.b64decode(record["data"])
        except (ValueError, TypeError):
            # Firehose always sends base64; anything else is handed back unchanged, as failed.
            source = str(record.get("data", "")).encode("utf-8", errors="replace")
            result, data, family, internal = FAILED, source, None, False
        else:
            result, data, family, internal = _transform(source, now)
        internal_errors += internal
        output: dict[str, Any] = {
            "recordId": record["recordId"],
            "result": result,
            "data": base64.b64encode(data).decode("ascii"),
        }
        if family is not None:
            output["metadata"] = {"partitionKeys": {"family": family}}
        records.append(output)
    if internal_errors:
        _emit_internal_errors(internal_errors)
    return {"records": records}


def _emit_internal_errors(count: int) -> None:
    """One CloudWatch embedded metric format document on stdout (the function runs without the Powertools layer)."""
    document = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [["service"]],
                    "Metrics": [{"Name": INTERNAL_ERRORS, "Unit": "Count"}],
                }
            ],
        },
        "service": SERVICE,
        INTERNAL_ERRORS: count,
    }
    print(json.dumps(document, separators=(",", ":")), flush=True)
