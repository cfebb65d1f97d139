"""The pipeline's CloudWatch alarms as data: the monitoring construct turns them into alarms and dashboard
widgets, and local mode's alarm evaluator applies the very same definitions to the metrics it stores.

A spec names its resource symbolically (`stream`, `function`, ...) because physical names are only known once
CloudFormation (or local mode) has created the resources.
"""

from __future__ import annotations

from dataclasses import dataclass

from lambdas.processor import metric_names
from streamlake.config import Config

# Resource kinds an alarm can watch, with the CloudWatch dimension naming them.
DIMENSION_OF_RESOURCE: dict[str, str] = {
    "stream": "StreamName",
    "delivery_stream": "DeliveryStreamName",
    "function": "FunctionName",
    "queue": "QueueName",
    "service": "service",  # Powertools EMF metrics: dimension `service`, value POWERTOOLS_SERVICE_NAME
}
STATISTICS = ("Sum", "Maximum", "Minimum", "Average", "SampleCount")
COMPARISONS = ("GreaterThanOrEqualToThreshold", "GreaterThanThreshold")

# The processor's own EMF metrics: names shared with the handler (lambdas/processor/metric_names.py).
PROCESSOR_NAMESPACE = metric_names.NAMESPACE
PROCESSOR_SERVICE = metric_names.SERVICE
INVALID_RECORDS_METRIC = metric_names.INVALID_RECORDS


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm: which metric of which resource, aggregated how, compared with what."""

    key: str
    description: str
    namespace: str
    metric_name: str
    resource: str
    statistic: str
    period_seconds: int
    evaluation_periods: int
    threshold: float
    comparison: str = "GreaterThanOrEqualToThreshold"
    treat_missing_data: str = "notBreaching"

    def __post_init__(self) -> None:
        if self.resource not in DIMENSION_OF_RESOURCE:
            raise ValueError(f"alarm {self.key}: unknown resource {self.resource!r}")
        if self.statistic not in STATISTICS:
            raise ValueError(f"alarm {self.key}: unknown statistic {self.statistic!r}")
        if self.comparison not in COMPARISONS:
            raise ValueError(f"alarm {self.key}: unknown comparison {self.comparison!r}")
        if self.period_seconds < 60 or self.period_seconds % 60:
            raise ValueError(f"alarm {self.key}: period must be a multiple of 60 s, got {self.period_seconds}")
        if self.evaluation_periods < 1:
            raise ValueError(f"alarm {self.key}: evaluation_periods must be at least 1")

    @property
    def dimension_name(self) -> str:
        return DIMENSION_OF_RESOURCE[self.resource]


def alarm_specs(config: Config) -> list[AlarmSpec]:
    """Every alarm of a deployment, with thresholds from the config."""
    t = config.thresholds
    return [
        AlarmSpec(
            key="iterator-age",
            description=(
                f"Records wait more than {t.iterator_age_seconds} s in the Kinesis stream before a consumer reads "
                "them: the processor or Firehose is falling behind. Check the processor's errors and duration, "
                "then consider more shards."
            ),
            namespace="AWS/Kinesis",
            metric_name="GetRecords.IteratorAgeMilliseconds",
            resource="stream",
            statistic="Maximum",
            period_seconds=60,
            evaluation_periods=5,
            threshold=t.iterator_age_seconds * 1000,
        ),
        AlarmSpec(
            key="write-throttling",
            description=(
                f"At least {t.write_throttle_records} writes to the stream were throttled in 5 minutes: producers "
                "exceed 1 MB/s or 1,000 records/s per shard. Producers retry, but raise shard_count if it persists."
            ),
            namespace="AWS/Kinesis",
            metric_name="WriteProvisionedThroughputExceeded",
            resource="stream",
            statistic="Sum",
            period_seconds=300,
            evaluation_periods=1,
            threshold=t.write_throttle_records,
        ),
        AlarmSpec(
            key="firehose-freshness",
            description=(
                f"The oldest record in Firehose is older than {t.data_freshness_seconds} s: data is not reaching "
                "the lake. Look under errors/ in the lake bucket and at the delivery stream's log group."
            ),
            namespace="AWS/Firehose",
            metric_name="DeliveryToS3.DataFreshness",
            resource="delivery_stream",
            statistic="Maximum",
            period_seconds=300,
            evaluation_periods=1,
            threshold=t.data_freshness_seconds,
            comparison="GreaterThanThreshold",
        ),
        AlarmSpec(
            key="processor-errors",
            description=(
                f"The stream processor failed at least {t.lambda_errors} invocation(s) in 5 minutes. Failed "
                "batches are retried and bisected; see the function's logs and the dead-letter queue."
            ),
            namespace="AWS/Lambda",
            metric_name="Errors",
            resource="function",
            statistic="Sum",
            period_seconds=300,
            evaluation_periods=1,
            threshold=t.lambda_errors,
        ),
        AlarmSpec(
            key="processor-throttles",
            description=(
                f"The stream processor was throttled at least {t.lambda_throttles} time(s) in 5 minutes: the "
                "account's Lambda concurrency is exhausted, so the stream backs up."
            ),
            namespace="AWS/Lambda",
            metric_name="Throttles",
            resource="function",
            statistic="Sum",
            period_seconds=300,
            evaluation_periods=1,
            threshold=t.lambda_throttles,
        ),
        AlarmSpec(
            key="dlq-depth",
            description=(
                f"At least {t.dlq_messages} batch(es) were given up on and sit in the dead-letter queue. Each "
                "message gives the shard and sequence range to replay from the stream (or raw/ in the lake)."
            ),
            namespace="AWS/SQS",
            metric_name="ApproximateNumberOfMessagesVisible",
            resource="queue",
            statistic="Maximum",
            period_seconds=60,
            evaluation_periods=1,
            threshold=t.dlq_messages,
        ),
        AlarmSpec(
            key="invalid-records",
            description=(
                f"At least {t.invalid_records} records in 5 minutes failed validation and went to quarantine/ in "
                "the lake: a producer is sending malformed events. Each quarantined record carries its reason."
            ),
            namespace=PROCESSOR_NAMESPACE,
            metric_name=INVALID_RECORDS_METRIC,
            resource="service",
            statistic="Sum",
            period_seconds=300,
            evaluation_periods=1,
            threshold=t.invalid_records,
        ),
    ]
