"""Processor tests: AWS through moto (in-process), the handler's environment as the CDK stack sets it."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

REGION = "us-east-1"


@dataclass
class Aws:
    """Resources the processor uses, and an SQS queue subscribed to the alerts topic (what a subscriber sees)."""

    s3: Any
    sns: Any
    sqs: Any
    dynamodb: Any
    bucket: str
    topic_arn: str
    table: str
    inbox_url: str

    def received_alerts(self) -> list[dict[str, Any]]:
        """Every SNS notification delivered to the subscriber so far (drains the queue)."""
        messages = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.inbox_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return messages
            for message in batch:
                messages.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.inbox_url, ReceiptHandle=message["ReceiptHandle"])

    def quarantine_bodies(self) -> list[bytes]:
        keys = [o["Key"] for o in self.s3.list_objects_v2(Bucket=self.bucket, Prefix="quarantine/").get("Contents", [])]
        return [self.s3.get_object(Bucket=self.bucket, Key=k)["Body"].read() for k in keys]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    for key, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "processor",
        "POWERTOOLS_METRICS_NAMESPACE": "Streamlake",
        "HIGH_TEMPERATURE_C": "30",
        "ERROR_BURST_THRESHOLD": "3",
        "ERROR_BURST_WINDOW_SECONDS": "60",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        s3.create_bucket(Bucket="lake")
        topic_arn = sns.create_topic(Name="alerts")["TopicArn"]
        inbox_url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=inbox_arn)
        dynamodb.create_table(
            TableName="idempotency",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        monkeypatch.setenv("ALERTS_TOPIC_ARN", topic_arn)
        monkeypatch.setenv("LAKE_BUCKET", "lake")
        monkeypatch.setenv("IDEMPOTENCY_TABLE", "idempotency")
        from lambdas.processor.handler import new_execution_environment

        # Settings and clients belong to an execution environment; each test gets a fresh one.
        new_execution_environment()
        yield Aws(s3, sns, sqs, dynamodb, "lake", topic_arn, "idempotency", inbox_url)
        new_execution_environment()


@pytest.fixture
def context() -> Any:
    @dataclass
    class Context:
        function_name: str = "streamlake-processor"
        memory_limit_in_mb: int = 512
        invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:streamlake-processor"
        aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"

    return Context()


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto intercepts botocore in-process, so a unit test that opens a connection is a bug: make it fail."""

    def refuse(self: socket.socket, address: Any) -> None:
        raise OSError(f"network access in a unit test: {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    yield
    from lambdas.processor.handler import metrics

    metrics.clear_metrics()
