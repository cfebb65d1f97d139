"""Firehose data transformation: only records that satisfy the event contract reach the lake's tables.

Firehose invokes this function with buffered stream records before partitioning and Parquet conversion. Each valid
record comes back normalised (UTC timestamp, `family`, `event_id` — derived for the bare lab shape) with its family
as the dynamic partitioning key; each invalid one comes back `ProcessingFailed`, so Firehose writes it, unchanged,
under errors/processing-failed/ (the processor quarantines the same record with the reason). The raw/ backup keeps
every source record as it arrived. Response format: Amazon Data Firehose developer guide, "Transform source data".
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from lambdas.schemas import InvalidEventError, parse, partition_value

OK, FAILED = "Ok", "ProcessingFailed"


def transform(data: bytes, now: datetime) -> tuple[str, bytes, str | None]:
    """(result, output bytes, partitioning key) for one source record; the output is one JSON line.

    The key is the family, or `change/source_table=<t>` for a change (lambdas.schemas.partition_value)."""
    try:
        event = parse(data, now=now)
    except InvalidEventError:
        return FAILED, data, None
    return OK, event.to_json().encode("utf-8") + b"\n", partition_value(event)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    records = []
    for record in event["records"]:
        result, data, family = transform(base64.b64decode(record["data"]), now)
        output: dict[str, Any] = {
            "recordId": record["recordId"],
            "result": result,
            "data": base64.b64encode(data).decode("ascii"),
        }
        if family is not None:
            output["metadata"] = {"partitionKeys": {"family": family}}
        records.append(output)
    return {"records": records}
