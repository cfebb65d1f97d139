"""Transient AWS failures: only the affected records are retried, and a retry never sends an alert twice."""

from __future__ import annotations

from botocore.exceptions import ClientError

from lambdas import quarantine
from lambdas.processor.handler import get_effects, handler
from lambdas.schemas import new_event
from tests.lambdas.faults import fail_operation, throttle_sns_entries
from tests.lambdas.kinesis_events import kinesis_event, sequence_numbers


def spike(sensor_id: str) -> dict:
    return new_event("sensor", source="t", sensor_id=sensor_id, temperature=45.0, humidity=30, location="Roof")


def normal(sensor_id: str) -> dict:
    return new_event("sensor", source="t", sensor_id=sensor_id, temperature=20.0, humidity=30, location="Hall")


def test_sns_throttling_some_alerts_reports_only_their_records(aws, context):
    # GIVEN SNS throttles the alert for sensor "b"
    throttled = throttle_sns_entries(get_effects().alerts.sns, lambda entry: "(b)" in entry["Subject"])
    event = kinesis_event([spike("a"), normal("x"), spike("b"), normal("y"), spike("c")])
    # WHEN
    response = handler(event, context)
    # THEN only b's record is retried; a and c were e-mailed
    assert len(throttled) == 1
    assert response == {"batchItemFailures": [{"itemIdentifier": sequence_numbers(event)[2]}]}
    assert sorted(a["MessageAttributes"]["sensor_id"]["Value"] for a in aws.received_alerts()) == ["a", "c"]


def test_retry_after_throttling_sends_only_the_missing_alert(aws, context):
    heal = fail_operation(get_effects().alerts.sns, "sns.PublishBatch", "Throttling")
    event = kinesis_event([spike("a"), spike("b")])
    first = handler(event, context)
    assert len(first["batchItemFailures"]) == 2
    assert aws.received_alerts() == []
    # WHEN SNS recovers and Lambda retries the batch twice (the second retry as if the first timed out)
    heal()
    assert handler(event, context) == {"batchItemFailures": []}
    assert handler(event, context) == {"batchItemFailures": []}
    # THEN each alert went out exactly once
    assert sorted(a["MessageAttributes"]["sensor_id"]["Value"] for a in aws.received_alerts()) == ["a", "b"]


def test_s3_failure_retries_the_invalid_records_only(aws, context):
    heal = fail_operation(get_effects().quarantine.s3, "s3.PutObject")
    event = kinesis_event([normal("a"), b"garbage", normal("b"), b'{"family": "weather"}'])
    response = handler(event, context)
    seqs = sequence_numbers(event)
    assert response == {"batchItemFailures": [{"itemIdentifier": seqs[1]}, {"itemIdentifier": seqs[3]}]}
    heal()
    assert handler(event, context) == {"batchItemFailures": []}
    reasons = {r["position"]["sequence_number"]: r["reason"] for r in quarantine.read_objects(aws.quarantine_bodies())}
    assert set(reasons) == {seqs[1], seqs[3]}
    assert reasons[seqs[3]] == "unknown family 'weather'; expected one of sensor, student, log, change"


def test_dynamodb_failure_on_recording_an_open_burst_retries_those_error_logs(aws, context):
    # UpdateItem adds the service to the open alerts; its state is not written, so the retry decides the same burst
    # again (same message id: sent once).
    heal = fail_operation(
        get_effects().states.dynamodb, "dynamodb.UpdateItem", "ProvisionedThroughputExceededException"
    )
    errors = [new_event("log", source="t", level="CRITICAL", service="db", message=f"down {i}") for i in range(3)]
    event = kinesis_event([normal("a"), *errors])
    response = handler(event, context)
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == sequence_numbers(event)[1:]
    heal()
    assert handler(event, context) == {"batchItemFailures": []}
    [alert] = aws.received_alerts()
    assert alert["MessageAttributes"]["kind"]["Value"] == "error_burst"


def test_failed_dedup_lookup_retries_alerting_records_without_sending(aws, context):
    def refuse_dedup_reads(params: dict, **_: object) -> None:
        keys = [k["id"]["S"] for request in params["RequestItems"].values() for k in request["Keys"]]
        if not any(k.startswith("alert-") for k in keys):  # the de-duplication lookup, not the alert state
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "x"}}, "BatchGetItem")

    dynamodb = get_effects().alerts.dynamodb
    dynamodb.meta.events.register("before-parameter-build.dynamodb.BatchGetItem", refuse_dedup_reads)

    def heal() -> None:
        dynamodb.meta.events.unregister("before-parameter-build.dynamodb.BatchGetItem", refuse_dedup_reads)

    event = kinesis_event([normal("a"), spike("b")])
    assert handler(event, context) == {"batchItemFailures": [{"itemIdentifier": sequence_numbers(event)[1]}]}
    assert aws.received_alerts() == []
    heal()
    handler(event, context)
    assert len(aws.received_alerts()) == 1
