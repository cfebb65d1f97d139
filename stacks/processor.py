"""The stream processor: a Lambda function reading the Kinesis stream through an event source mapping.

Failure handling follows the AWS guidance for Kinesis (lambda/latest/dg/kinesis-on-failure-destination.html and
services-kinesis-batchfailurereporting.html): the handler reports the records it could not process
(ReportBatchItemFailures), Lambda bisects a failing batch, retries a bounded number of times, skips records older
than the maximum age, and sends the position of what it gave up on to an SQS dead-letter queue. Invalid records
never fail a batch: the handler writes them to quarantine/ in the lake.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from lambdas.processor import metric_names
from stacks.lambda_code import python_function
from stacks.nag import suppress
from streamlake import lake

HANDLER = "lambdas.processor.handler.handler"
SERVICE_NAME = metric_names.SERVICE
METRICS_NAMESPACE = metric_names.NAMESPACE
MEMORY_MB = 512
TIMEOUT = Duration.seconds(60)
DLQ_RETENTION = Duration.days(14)


@dataclass(frozen=True)
class StreamProcessorProps:
    stream: kinesis.IStream
    lake_bucket: s3.IBucket
    alerts_topic: sns.ITopic
    powertools_version: str
    batch_size: int
    batch_window_seconds: int
    max_retries: int
    max_record_age_seconds: int
    high_temperature_c: float
    error_burst_count: int
    error_burst_window_seconds: int
    high_temperature_hysteresis_c: float
    alert_reminder_minutes: int
    retain_logs: bool

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= 10000:
            raise ValueError(f"batch_size must be 1-10000, got {self.batch_size}")
        if not 0 <= self.batch_window_seconds <= 300:
            raise ValueError(f"batch_window_seconds must be 0-300, got {self.batch_window_seconds}")
        if not 0 <= self.max_retries <= 10000:
            raise ValueError(f"max_retries must be 0-10000, got {self.max_retries}")
        if not 60 <= self.max_record_age_seconds <= 604800:
            raise ValueError(f"max_record_age_seconds must be 60-604800, got {self.max_record_age_seconds}")
        if not 0 <= self.high_temperature_hysteresis_c <= 50:
            raise ValueError(f"high_temperature_hysteresis_c must be 0-50, got {self.high_temperature_hysteresis_c}")
        if not 1 <= self.alert_reminder_minutes <= 10080:
            raise ValueError(f"alert_reminder_minutes must be 1-10080, got {self.alert_reminder_minutes}")


class StreamProcessor(Construct):
    """Attributes: `function`, `dead_letter_queue`, `idempotency_table`, `event_source`."""

    def __init__(self, scope: Construct, construct_id: str, props: StreamProcessorProps) -> None:
        super().__init__(scope, construct_id)

        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DLQ_RETENTION,
        )
        suppress(
            self.dead_letter_queue,
            "AwsSolutions-SQS3",
            "This queue is the on-failure destination of the stream processor; it is the dead-letter queue.",
        )

        # Alert de-duplication records (Powertools idempotency layout: key `id`, TTL attribute `expiration`).
        self.idempotency_table = dynamodb.Table(
            self,
            "IdempotencyTable",
            partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute="expiration",
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            removal_policy=RemovalPolicy.DESTROY,
        )
        suppress(
            self.idempotency_table,
            "AwsSolutions-DDB3",
            "Holds only short-lived de-duplication keys that expire by TTL; a point-in-time restore has nothing "
            "worth restoring.",
        )

        self.function = python_function(
            self,
            "Function",
            description="streamlake: validate, enrich, alert on and quarantine stream records",
            handler=HANDLER,
            memory_mb=MEMORY_MB,
            timeout=TIMEOUT,
            retain_logs=props.retain_logs,
            powertools_version=props.powertools_version,
            environment={
                "ALERTS_TOPIC_ARN": props.alerts_topic.topic_arn,
                "LAKE_BUCKET": props.lake_bucket.bucket_name,
                "IDEMPOTENCY_TABLE": self.idempotency_table.table_name,
                "HIGH_TEMPERATURE_C": f"{props.high_temperature_c:g}",
                "ERROR_BURST_THRESHOLD": str(props.error_burst_count),
                "ERROR_BURST_WINDOW_SECONDS": str(props.error_burst_window_seconds),
                "HIGH_TEMPERATURE_HYSTERESIS_C": f"{props.high_temperature_hysteresis_c:g}",
                "ALERT_REMINDER_SECONDS": str(props.alert_reminder_minutes * 60),
                "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                "POWERTOOLS_LOG_LEVEL": "INFO",
            },
        )
        props.alerts_topic.grant_publish(self.function)
        props.lake_bucket.grant_put(self.function, f"{lake.QUARANTINE_PREFIX}*")
        self.idempotency_table.grant_read_write_data(self.function)

        self.event_source = sources.KinesisEventSource(
            props.stream,
            # TRIM_HORIZON: records written between stream creation and the mapping's creation are not skipped.
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=props.batch_size,
            max_batching_window=Duration.seconds(props.batch_window_seconds),
            report_batch_item_failures=True,
            bisect_batch_on_error=True,
            retry_attempts=props.max_retries,
            max_record_age=Duration.seconds(props.max_record_age_seconds),
            parallelization_factor=1,
            on_failure=sources.SqsDlq(self.dead_letter_queue),
        )
        self.function.add_event_source(self.event_source)
