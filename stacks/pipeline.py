"""The streamlake stacks and how they depend on each other:

    DataLakeStack ─┐
    AlertingStack ─┴─► IngestionStack ─► MonitoringStack
                                      └─► KafkaBridgeStack (only when kafka_mode is msk or confluent)

Stacks only wire constructs; each construct owns one concern. Resources cross stacks as interfaces.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from cdk_nag import AwsSolutionsChecks
from constructs import Construct

from athena_queries import saved_queries
from lambdas.metrics import metric_names as window_metric_names
from lambdas.processor import metric_names
from stacks.analytics import AnalyticsWorkgroup, AnalyticsWorkgroupProps
from stacks.catalog import LakeCatalog, LakeCatalogProps
from stacks.delivery import LakeDelivery, LakeDeliveryProps
from stacks.kafka_bridge import KafkaBridge, KafkaBridgeProps
from stacks.metrics import WindowMetrics, WindowMetricsProps
from stacks.monitoring import PipelineMonitoring, PipelineMonitoringProps
from stacks.nag import suppress
from stacks.notifications import Notifications, NotificationsProps
from stacks.processor import METRICS_NAMESPACE, SERVICE_NAME, StreamProcessor, StreamProcessorProps
from stacks.storage import LakeStorage, LakeStorageProps
from stacks.stream import EventStream, EventStreamProps
from streamlake.alarms import alarm_specs
from streamlake.config import CDK_JSON, Config, config_from_context

# Names of the stack outputs that producers, local mode and the query runner look up.
OUTPUT_STREAM_NAME = "StreamName"
OUTPUT_LAKE_BUCKET = "LakeBucketName"
OUTPUT_DATABASE = "GlueDatabaseName"
OUTPUT_WORKGROUP = "AthenaWorkGroupName"


# Objects of the lake bucket, however the cross-stack reference is rendered (`<StorageLakeXXXXXXXX.Arn>` or the
# name of the export it is imported from).
_LAKE_OBJECTS_REGEX = "/^Resource::.*StorageLake[0-9A-F]{{8}}[^/]*\\/{suffix}$/g"


def _acknowledge_cdk_helpers(stack: cdk.Stack) -> None:
    """Findings on the Lambda functions CDK itself adds (the bucket auto-delete custom resource provider); our own
    functions have roles that write only their own log group (stacks/lambda_code.py)."""
    suppress(
        stack,
        "AwsSolutions-IAM4",
        "AWSLambdaBasicExecutionRole is attached by CDK to its own custom-resource provider (auto-delete of bucket "
        "objects), whose role and code CDK owns; streamlake's functions do not use it.",
        applies_to=["Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"],
    )


class DataLakeStack(cdk.Stack):
    """Lake and results buckets, Glue catalog, Athena workgroup and saved queries."""

    def __init__(self, scope: Construct, construct_id: str, *, config: Config, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.storage = LakeStorage(self, "Storage", LakeStorageProps(retain_data=config.retain_data))
        self.catalog = LakeCatalog(
            self,
            "Catalog",
            LakeCatalogProps(database_name=config.prefix.replace("-", "_"), lake_bucket=self.storage.lake_bucket),
        )
        self.analytics = AnalyticsWorkgroup(
            self,
            "Analytics",
            AnalyticsWorkgroupProps(
                workgroup_name=config.prefix,
                database_name=self.catalog.database.database_name,
                results_bucket=self.storage.results_bucket,
                bytes_scanned_cutoff=config.athena_bytes_scanned_cutoff_mb * 1_000_000,
                queries=tuple(saved_queries()),
                delete_with_queries=not config.retain_data,
            ),
        )
        _acknowledge_cdk_helpers(self)
        cdk.CfnOutput(self, OUTPUT_LAKE_BUCKET, value=self.storage.lake_bucket.bucket_name)
        cdk.CfnOutput(self, "AthenaResultsBucketName", value=self.storage.results_bucket.bucket_name)
        cdk.CfnOutput(self, OUTPUT_DATABASE, value=self.catalog.database.database_name)
        cdk.CfnOutput(self, OUTPUT_WORKGROUP, value=self.analytics.workgroup.ref)


class AlertingStack(cdk.Stack):
    """SNS topics for people (alerts) and for the pipeline's alarms (ops)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: Config, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.notifications = Notifications(
            self, "Notifications", NotificationsProps(alert_emails=config.alert_emails, ops_emails=config.ops_emails)
        )
        cdk.CfnOutput(self, "AlertsTopicArn", value=self.notifications.alerts_topic.topic_arn)
        cdk.CfnOutput(self, "OpsTopicArn", value=self.notifications.ops_topic.topic_arn)


class IngestionStack(cdk.Stack):
    """Kinesis stream, Firehose into the lake, and the stream processor."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: Config,
        lake: DataLakeStack,
        alerting: AlertingStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        lake_bucket = lake.storage.lake_bucket
        self.stream = EventStream(
            self,
            "Stream",
            EventStreamProps(
                shard_count=config.shard_count,
                retention_hours=config.stream_retention_hours,
                retain_data=config.retain_data,
            ),
        ).stream
        self.delivery = LakeDelivery(
            self,
            "Delivery",
            LakeDeliveryProps(
                stream=self.stream,
                lake_bucket=lake_bucket,
                schema_table=lake.catalog.all_events.node.default_child,
                buffer_seconds=config.firehose_buffer_seconds,
                buffer_mib=config.firehose_buffer_mib,
                retain_logs=config.retain_data,
            ),
        )
        t = config.thresholds
        self.processor = StreamProcessor(
            self,
            "Processor",
            StreamProcessorProps(
                stream=self.stream,
                lake_bucket=lake_bucket,
                alerts_topic=alerting.notifications.alerts_topic,
                powertools_version=config.powertools_layer_version,
                batch_size=config.processor_batch_size,
                batch_window_seconds=config.processor_batch_window_seconds,
                max_retries=config.processor_max_retries,
                max_record_age_seconds=config.processor_max_record_age_seconds,
                high_temperature_c=t.high_temperature_c,
                error_burst_count=t.error_burst_count,
                error_burst_window_seconds=t.error_burst_window_seconds,
                high_temperature_hysteresis_c=t.high_temperature_hysteresis_c,
                alert_reminder_minutes=config.alert_reminder_minutes,
                retain_logs=config.retain_data,
            ),
        )
        m = config.metrics
        self.window_metrics = WindowMetrics(
            self,
            "WindowMetrics",
            WindowMetricsProps(
                stream=self.stream,
                lake_bucket=lake_bucket,
                dead_letter_queue=self.processor.dead_letter_queue,
                powertools_version=config.powertools_layer_version,
                window_seconds=m.window_seconds,
                allowed_lateness_seconds=m.allowed_lateness_seconds,
                ttl_seconds=m.ttl_seconds,
                idle_shard_seconds=m.idle_shard_seconds,
                batch_size=m.batch_size,
                batch_window_seconds=m.batch_window_seconds,
                high_temperature_c=t.high_temperature_c,
                retain_logs=config.retain_data,
            ),
        )
        suppress(
            self,
            "AwsSolutions-IAM5",
            "Object-level wildcards of bucket grants, scoped to this app's lake bucket: quarantine/ for the processor, "
            "metrics/window_metrics/ for the window-metrics function; the KMS and S3 action groups CDK grants expand "
            "to (Abort* is AbortMultipartUpload); and X-Ray trace writes, which support no resource-level permissions.",
            applies_to=[
                "Action::s3:Abort*",
                "Action::kms:GenerateDataKey*",
                "Resource::*",
                {"regex": _LAKE_OBJECTS_REGEX.format(suffix="(quarantine\\/|metrics\\/window_metrics\\/)\\*")},
            ],
        )
        cdk.CfnOutput(self, OUTPUT_STREAM_NAME, value=self.stream.stream_name)
        cdk.CfnOutput(self, "DeliveryStreamName", value=self.delivery.delivery_stream.delivery_stream_name)
        cdk.CfnOutput(self, "ProcessorFunctionName", value=self.processor.function.function_name)
        cdk.CfnOutput(self, "DeadLetterQueueUrl", value=self.processor.dead_letter_queue.queue_url)
        cdk.CfnOutput(self, "WindowsTableName", value=self.window_metrics.table.table_name)


class MonitoringStack(cdk.Stack):
    """Alarms on the ingestion resources, wired to the ops topic, and the pipeline dashboard."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: Config,
        ingestion: IngestionStack,
        alerting: AlertingStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        function = ingestion.processor.function
        service = {"service": SERVICE_NAME}
        self.monitoring = PipelineMonitoring(
            self,
            "Monitoring",
            PipelineMonitoringProps(
                specs=tuple(alarm_specs(config)),
                resource_names={
                    "stream": ingestion.stream.stream_name,
                    "delivery_stream": ingestion.delivery.delivery_stream.delivery_stream_name,
                    "function": function.function_name,
                    "queue": ingestion.processor.dead_letter_queue.queue_name,
                    "service": SERVICE_NAME,
                },
                ops_topic=alerting.notifications.ops_topic,
                dashboard_name=f"{config.prefix}-pipeline",
                extra_widgets=(
                    (
                        "Stream traffic (records)",
                        (
                            ingestion.stream.metric_incoming_records(statistic="Sum"),
                            ingestion.stream.metric_get_records(statistic="Sum"),
                        ),
                    ),
                    (
                        "Processor duration and iterator age (ms)",
                        (
                            function.metric_duration(statistic="Maximum"),
                            function.metric("IteratorAge", statistic="Maximum"),
                        ),
                    ),
                    (
                        "Processor records by outcome",
                        tuple(
                            cloudwatch.Metric(
                                namespace=METRICS_NAMESPACE, metric_name=name, dimensions_map=service, statistic="Sum"
                            )
                            for name in (
                                *metric_names.FAMILY_RECORDS.values(),
                                metric_names.INVALID_RECORDS,
                                metric_names.ALERTS_PUBLISHED,
                                metric_names.RECORDS_RETRIED,
                            )
                        ),
                    ),
                    *_window_widgets(config.metrics.window_seconds),
                    (
                        "End-to-end lag, event time to processing (ms)",
                        (
                            cloudwatch.Metric(
                                namespace=METRICS_NAMESPACE,
                                metric_name=metric_names.END_TO_END_LAG,
                                dimensions_map=service,
                                statistic="Maximum",
                            ),
                        ),
                    ),
                ),
            ),
        )


def _window_widgets(window_seconds: int) -> tuple[tuple[str, tuple[cloudwatch.IMetric, ...]], ...]:
    """Dashboard graphs of the closed event-time windows. Locations, services and event types are not known at
    synth time, so each graph is a metric-math SEARCH over the dimension the window-metrics function emits."""
    period = cdk.Duration.seconds(max(60, window_seconds))

    def search(dimension: str, metric: str, statistic: str, label: str) -> cloudwatch.MathExpression:
        namespace = window_metric_names.NAMESPACE
        return cloudwatch.MathExpression(
            expression=f"SEARCH('{{{namespace},service,{dimension}}} MetricName=\"{metric}\"', '{statistic}', "
            f"{int(period.to_seconds())})",
            label=label,
            period=period,
            using_metrics={},
        )

    return (
        (
            "Average temperature per location, per window (C)",
            (search("location", window_metric_names.AVG_TEMPERATURE, "Average", "avg"),),
        ),
        (
            "Error rate per service, per window (%)",
            (search("service", window_metric_names.ERROR_RATE, "Average", "error rate"),),
        ),
        (
            "Student activity per minute, by event type",
            (search("event_type", window_metric_names.STUDENT_EVENTS, "Sum", "events"),),
        ),
    )


class KafkaBridgeStack(cdk.Stack):
    """Bridge Lambda from MSK or Confluent Cloud topics into the stream."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: Config,
        ingestion: IngestionStack,
        lake: DataLakeStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        k = config.kafka
        self.bridge = KafkaBridge(
            self,
            "Bridge",
            KafkaBridgeProps(
                mode=k.mode,
                topics=k.topics,
                stream=ingestion.stream,
                lake_bucket=lake.storage.lake_bucket,
                powertools_version=config.powertools_layer_version,
                consumer_group_id=f"{config.prefix}-bridge",
                batch_size=k.batch_size,
                retain_logs=config.retain_data,
                msk_cluster_arn=k.msk_cluster_arn,
                bootstrap_servers=k.bootstrap_servers,
                secret_name=k.secret_name,
                cdc_topics=k.cdc_topics,
                schema_registry_url=k.schema_registry_url,
                schema_registry_secret_name=k.schema_registry_secret_name,
                auth=k.auth,
            ),
        )
        suppress(
            self,
            "AwsSolutions-IAM5",
            "Object-level wildcard from the bucket grant, scoped to quarantine/ of this app's lake bucket (Abort* "
            "is AbortMultipartUpload); and X-Ray trace writes, which support no resource-level permissions.",
            applies_to=[
                "Resource::*",
                "Action::s3:Abort*",
                {"regex": _LAKE_OBJECTS_REGEX.format(suffix="quarantine\\/\\*")},
            ],
        )


@dataclass(frozen=True)
class Pipeline:
    config: Config
    data_lake: DataLakeStack
    alerting: AlertingStack
    ingestion: IngestionStack
    monitoring: MonitoringStack
    kafka_bridge: KafkaBridgeStack | None

    @property
    def stacks(self) -> list[cdk.Stack]:
        parts = [self.data_lake, self.alerting, self.ingestion, self.monitoring, self.kafka_bridge]
        return [s for s in parts if s is not None]


def build_pipeline(app: cdk.App, config: Config) -> Pipeline:
    """Add every stack of the pipeline to `app`, with cdk-nag's AwsSolutions checks on all of them."""
    env = cdk.Environment(account=os.getenv("CDK_DEFAULT_ACCOUNT"), region=os.getenv("CDK_DEFAULT_REGION"))
    common = {"config": config, "env": env}
    data_lake = DataLakeStack(app, "DataLake", stack_name=config.stack_name("data-lake"), **common)
    alerting = AlertingStack(app, "Alerting", stack_name=config.stack_name("alerting"), **common)
    ingestion = IngestionStack(
        app, "Ingestion", stack_name=config.stack_name("ingestion"), lake=data_lake, alerting=alerting, **common
    )
    monitoring = MonitoringStack(
        app,
        "Monitoring",
        stack_name=config.stack_name("monitoring"),
        ingestion=ingestion,
        alerting=alerting,
        **common,
    )
    bridge = None
    if config.kafka.enabled:
        bridge = KafkaBridgeStack(
            app,
            "KafkaBridge",
            stack_name=config.stack_name("kafka-bridge"),
            ingestion=ingestion,
            lake=data_lake,
            **common,
        )
    for stack in (data_lake, alerting, ingestion, monitoring, bridge):
        if stack is not None:
            cdk.Tags.of(stack).add("project", config.prefix)
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return Pipeline(config, data_lake, alerting, ingestion, monitoring, bridge)


def create_app(context: dict[str, Any] | None = None, outdir: str | None = None) -> tuple[cdk.App, Pipeline]:
    """A CDK app holding the pipeline. `context` adds to (or replaces) cdk.json's context, like `-c`."""
    # cdk.json's context is the base, so `python app.py` and tests see the repository's settings; under the CDK CLI
    # the CLI's context (cdk.json plus `-c`) is applied on top of it by cdk.App itself.
    merged = {**json.loads(CDK_JSON.read_text()).get("context", {}), **(context or {})}
    app = cdk.App(context=merged, outdir=outdir)
    config = config_from_context(app.node.get_all_context())
    return app, build_pipeline(app, config)
