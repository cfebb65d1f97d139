"""Kinesis event shapes exactly as Lambda delivers them to a function with a Kinesis event source mapping."""

from __future__ import annotations

import base64
import json
from typing import Any

STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/streamlake-events"
SHARD_ID = "shardId-000000000000"


def sequence_number(index: int) -> str:
    # Real sequence numbers are 56-digit decimal strings that grow with every record of the shard.
    return str(49590338271490256608559692538361571095921575989136588898 + index * 2**32)


def kinesis_record(
    data: bytes, index: int, partition_key: str = "pk", arrival: float = 1_790_000_000.0
) -> dict[str, Any]:
    seq = sequence_number(index)
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": seq,
            "data": base64.b64encode(data).decode("ascii"),
            "approximateArrivalTimestamp": arrival,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{SHARD_ID}:{seq}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/streamlake-processor",
        "awsRegion": "us-east-1",
        "eventSourceARN": STREAM_ARN,
    }


def kinesis_event(
    payloads: list[bytes | dict[str, Any]], arrival: float = 1_790_000_000.0, first_index: int = 0
) -> dict[str, Any]:
    """An event whose records carry these payloads (dicts are JSON-encoded), in order."""
    records = []
    for index, payload in enumerate(payloads, start=first_index):
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
        records.append(kinesis_record(data, index, arrival=arrival))
    return {"Records": records}


def sequence_numbers(event: dict[str, Any]) -> list[str]:
    return [record["kinesis"]["sequenceNumber"] for record in event["Records"]]
