"""Windowed metrics: a Lambda function on its own event source mapping, with its state in DynamoDB.

Its own mapping means metrics never slow alerts down: the processor and this function read the stream independently
(each mapping is a separate consumer of the shard's 2 MB/s read throughput; with two consumers and Firehose, a shard
has three readers, within the five reads per second a shard allows when each polls about once a second).
`parallelization_factor` stays 1: the watermark is per shard and needs the shard's records in order.
Windows are idempotent under retries and bisection (lambdas/metrics/windows.py), so a failing batch is retried and
bisected; what still fails after `MAX_RETRIES` goes, as a position, to the pipeline's dead-letter queue (the
processor's: one `dlq-depth` alarm covers both consumers; Lambda's failure record names the function).
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy, Token
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from lambdas.metrics import metric_names
from lambdas.metrics.sink import WINDOW_METRICS_PREFIX
from lambdas.metrics.windows import WindowSettings
from stacks.lambda_code import python_function
from stacks.nag import suppress
from streamlake.config import METRICS_MAX_RECORD_AGE_SECONDS, METRICS_MAX_RETRIES

HANDLER = "lambdas.metrics.handler.handler"
MEMORY_MB = 256
TIMEOUT = Duration.seconds(60)
MAX_RETRIES = METRICS_MAX_RETRIES
MAX_RECORD_AGE = Duration.seconds(METRICS_MAX_RECORD_AGE_SECONDS)
TTL_ATTRIBUTE = "expires_at"


@dataclass(frozen=True)
class WindowMetricsProps:
    stream: kinesis.IStream
    lake_bucket: s3.IBucket
    dead_letter_queue: sqs.IQueue
    powertools_version: str
    window_seconds: int
    allowed_lateness_seconds: int
    ttl_seconds: int
    idle_shard_seconds: int
    batch_size: int
    batch_window_seconds: int
    high_temperature_c: float
    retain_logs: bool

    def __post_init__(self) -> None:
        # The engine's own rules (a window dividing a minute or an hour, lateness below the window).
        WindowSettings(
            window_seconds=self.window_seconds,
            allowed_lateness_seconds=self.allowed_lateness_seconds,
            high_temperature_c=self.high_temperature_c,
            idle_seconds=self.idle_shard_seconds,
        )
        if not 60 <= self.ttl_seconds <= 7 * 86400:
            raise ValueError(f"ttl_seconds must be 60-604800, got {self.ttl_seconds}")
        if not 1 <= self.batch_size <= 10000:
            raise ValueError(f"batch_size must be 1-10000, got {self.batch_size}")
        if not 0 <= self.batch_window_seconds <= 300:
            raise ValueError(f"batch_window_seconds must be 0-300, got {self.batch_window_seconds}")
        if not Token.is_unresolved(self.powertools_version) and not self.powertools_version:
            raise ValueError("powertools_version must be set")


class WindowMetrics(Construct):
    """Attributes: `function`, `table`, `dead_letter_queue` (the shared one), `event_source`."""

    def __init__(self, scope: Construct, construct_id: str, props: WindowMetricsProps) -> None:
        super().__init__(scope, construct_id)

        self.table = dynamodb.Table(
            self,
            "WindowsTable",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=TTL_ATTRIBUTE,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            removal_policy=RemovalPolicy.DESTROY,
        )
        suppress(
            self.table,
            "AwsSolutions-DDB3",
            "Holds live window state that expires by TTL within hours; closed windows are kept in the lake "
            "(window_metrics), so a point-in-time restore has nothing worth restoring.",
        )

        self.dead_letter_queue = props.dead_letter_queue

        self.function = python_function(
            self,
            "Function",
            description="streamlake: event-time windowed metrics with a watermark",
            handler=HANDLER,
            memory_mb=MEMORY_MB,
            timeout=TIMEOUT,
            retain_logs=props.retain_logs,
            powertools_version=props.powertools_version,
            environment={
                "WINDOWS_TABLE": self.table.table_name,
                "LAKE_BUCKET": props.lake_bucket.bucket_name,
                "METRICS_WINDOW_SECONDS": str(props.window_seconds),
                "METRICS_ALLOWED_LATENESS_SECONDS": str(props.allowed_lateness_seconds),
                "METRICS_TTL_SECONDS": str(props.ttl_seconds),
                "METRICS_IDLE_SHARD_SECONDS": str(props.idle_shard_seconds),
                "HIGH_TEMPERATURE_C": f"{props.high_temperature_c:g}",
                "POWERTOOLS_SERVICE_NAME": metric_names.SERVICE,
                "POWERTOOLS_METRICS_NAMESPACE": metric_names.NAMESPACE,
                "POWERTOOLS_LOG_LEVEL": "INFO",
            },
        )
        self.table.grant_read_write_data(self.function)
        props.lake_bucket.grant_put(self.function, f"{WINDOW_METRICS_PREFIX}*")

        self.event_source = sources.KinesisEventSource(
            props.stream,
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=props.batch_size,
            max_batching_window=Duration.seconds(props.batch_window_seconds),
            bisect_batch_on_error=True,
            retry_attempts=MAX_RETRIES,
            max_record_age=MAX_RECORD_AGE,
            parallelization_factor=1,
            on_failure=sources.SqsDlq(self.dead_letter_queue),
        )
        self.function.add_event_source(self.event_source)
