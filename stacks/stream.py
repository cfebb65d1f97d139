"""The Kinesis data stream every producer and the Kafka bridge write to."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kinesis as kinesis
from constructs import Construct

from stacks.nag import suppress


@dataclass(frozen=True)
class EventStreamProps:
    shard_count: int
    retention_hours: int
    retain_data: bool

    def __post_init__(self) -> None:
        if self.shard_count < 1:
            raise ValueError(f"shard_count must be at least 1, got {self.shard_count}")
        if not 24 <= self.retention_hours <= 8760:
            raise ValueError(f"retention_hours must be between 24 and 8760, got {self.retention_hours}")


class EventStream(Construct):
    """Provisioned, server-side encrypted stream. Attribute: `stream`."""

    def __init__(self, scope: Construct, construct_id: str, props: EventStreamProps) -> None:
        super().__init__(scope, construct_id)
        self.stream = kinesis.Stream(
            self,
            "Stream",
            shard_count=props.shard_count,
            stream_mode=kinesis.StreamMode.PROVISIONED,
            retention_period=Duration.hours(props.retention_hours),
            encryption=kinesis.StreamEncryption.MANAGED,
            removal_policy=RemovalPolicy.RETAIN if props.retain_data else RemovalPolicy.DESTROY,
        )
        suppress(
            self.stream,
            "AwsSolutions-KDS3",
            "Encrypted with the AWS managed key aws/kinesis so producers outside this app need no KMS grants; "
            "switch to a customer managed key if a key policy must be audited.",
        )
