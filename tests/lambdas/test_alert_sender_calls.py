"""The alert sender's AWS calls: PublishBatch per 10 alerts, de-duplication records written 25 at a time, and only
for what SNS accepted."""

from __future__ import annotations

from typing import Any

from lambdas.processor.adapters import AlertSender, aws_client
from lambdas.processor.rules import Alert


class CountingClient:
    """Wraps a boto3 client and records each call's operation name and request size."""

    def __init__(self, client: Any, calls: list[tuple[str, int]]) -> None:
        self._client = client
        self._calls = calls
        self.exceptions = client.exceptions

    def publish_batch(self, **request: Any) -> Any:
        self._calls.append(("PublishBatch", len(request["PublishBatchRequestEntries"])))
        return self._client.publish_batch(**request)

    def batch_write_item(self, **request: Any) -> Any:
        self._calls.append(("BatchWriteItem", sum(len(items) for items in request["RequestItems"].values())))
        return self._client.batch_write_item(**request)

    def batch_get_item(self, **request: Any) -> Any:
        self._calls.append(("BatchGetItem", sum(len(r["Keys"]) for r in request["RequestItems"].values())))
        return self._client.batch_get_item(**request)


def _alerts(count: int) -> list[Alert]:
    return [
        Alert(f"temperature#{n:04d}", "high_temperature", f"Alert {n}", f"message {n}", {"kind": "high_temperature"})
        for n in range(count)
    ]


def test_sixty_alerts_take_six_publishes_and_three_record_writes_and_a_retry_sends_nothing(aws):
    # GIVEN a sender whose calls are counted
    calls: list[tuple[str, int]] = []
    sender = AlertSender(
        CountingClient(aws_client("sns"), calls), CountingClient(aws_client("dynamodb"), calls), aws.topic_arn,
        aws.table,
    )
    # WHEN 60 new alerts are sent
    report = sender.send(_alerts(60), now=1_700_000_000)
    # THEN all 60 went out, in 6 PublishBatch calls of 10, and were recorded in 3 writes (groups of 50: 25 + 25,
    # then 10), after one lookup of 60 keys
    assert sorted(report.published) == [f"temperature#{n:04d}" for n in range(60)]
    assert report.failed == {} and report.duplicates == []
    assert sorted(c for c in calls if c[0] == "PublishBatch") == [("PublishBatch", 10)] * 6
    assert sorted(c for c in calls if c[0] == "BatchWriteItem") == [
        ("BatchWriteItem", 10),
        ("BatchWriteItem", 25),
        ("BatchWriteItem", 25),
    ]
    assert [c for c in calls if c[0] == "BatchGetItem"] == [("BatchGetItem", 60)]
    assert len(aws.received_alerts()) == 60
    # WHEN the same alerts are sent again (a retried batch) THEN nothing is published twice
    calls.clear()
    again = sender.send(_alerts(60), now=1_700_000_000)
    assert again.published == [] and len(again.duplicates) == 60
    assert [c for c in calls if c[0] != "BatchGetItem"] == []
    assert aws.received_alerts() == []


def test_alerts_sns_refused_are_not_recorded_so_a_retry_sends_them(aws):
    # GIVEN SNS refuses the entries of alerts 3 and 42
    refused = {"temperature#0003", "temperature#0042"}
    sns = aws_client("sns")

    class Refusing:
        exceptions = sns.exceptions

        def publish_batch(self, **request: Any) -> Any:
            entries = request["PublishBatchRequestEntries"]
            keep = [e for e in entries if f"temperature#{int(e['Subject'].split()[1]):04d}" not in refused]
            response = sns.publish_batch(TopicArn=request["TopicArn"], PublishBatchRequestEntries=keep)
            failed = [
                {"Id": e["Id"], "Code": "Throttled", "Message": "slow down", "SenderFault": False}
                for e in entries
                if e not in keep
            ]
            return {"Successful": response["Successful"], "Failed": failed}

    sender = AlertSender(Refusing(), aws_client("dynamodb"), aws.topic_arn, aws.table)
    report = sender.send(_alerts(60), now=1_700_000_000)
    assert set(report.failed) == refused and len(report.published) == 58
    # WHEN retried with a working SNS THEN exactly the two refused alerts go out
    retry = AlertSender(aws_client("sns"), aws_client("dynamodb"), aws.topic_arn, aws.table).send(
        _alerts(60), now=1_700_000_000
    )
    assert sorted(retry.published) == sorted(refused) and len(retry.duplicates) == 58
