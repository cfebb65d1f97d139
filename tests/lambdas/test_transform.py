"""The Firehose transformation: valid records normalised with their family as partition key, the rest failed."""

from __future__ import annotations

import base64
import json

from lambdas.transform.handler import handler


def firehose_event(payloads: list[bytes]) -> dict:
    return {
        "invocationId": "invocation-1",
        "deliveryStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/streamlake-lake",
        "sourceKinesisStreamArn": "arn:aws:kinesis:us-east-1:123456789012:stream/streamlake-events",
        "region": "us-east-1",
        "records": [
            {
                "recordId": f"4959033827149025660855969253836157109592157598913658{i:04d}",
                "approximateArrivalTimestamp": 1790000000000,
                "data": base64.b64encode(data).decode(),
                "kinesisRecordMetadata": {
                    "shardId": "shardId-000000000000",
                    "partitionKey": "k",
                    "approximateArrivalTimestamp": 1790000000000,
                    "sequenceNumber": "49590338271490256608559692538361571095921575989136588898",
                    "subsequenceNumber": "",
                },
            }
            for i, data in enumerate(payloads)
        ],
    }


def test_valid_records_come_back_normalised_with_their_family_and_invalid_ones_fail_unchanged():
    lab = (
        b'{"sensor_id": "s1", "temperature": 25, "humidity": 50, "timestamp": "2025-03-01T08:00:00+01:00", '
        b'"location": "Lab"}'
    )
    log = json.dumps(
        {"family": "log", "timestamp": "2025-03-01T07:00:00Z", "level": "warn", "service": "api", "message": "slow"}
    ).encode()
    event = firehose_event([lab, b"not json", log])

    response = handler(event, None)

    ok_lab, failed, ok_log = response["records"]
    assert [r["recordId"] for r in response["records"]] == [r["recordId"] for r in event["records"]]
    assert ok_lab["result"] == "Ok" and ok_lab["metadata"] == {"partitionKeys": {"family": "sensor"}}
    normalised = json.loads(base64.b64decode(ok_lab["data"]))
    assert normalised["timestamp"] == "2025-03-01T07:00:00.000Z" and normalised["family"] == "sensor"
    assert base64.b64decode(ok_lab["data"]).endswith(b"\n")
    assert failed["result"] == "ProcessingFailed" and base64.b64decode(failed["data"]) == b"not json"
    assert json.loads(base64.b64decode(ok_log["data"]))["level"] == "WARNING"
    assert ok_log["metadata"]["partitionKeys"]["family"] == "log"
