"""What we deploy, written down by hand: the literal tables tests/infra/test_deployed_spec.py checks the
synthesised templates against, and tests/local/test_alarm_specs.py checks the alarm definitions against.

Nothing here is computed from the code under test (streamlake.alarms, streamlake.lake, the config, the stacks): a
row is what the design, the README and the AWS documentation say is deployed. This module imports no CDK, so the
fast tests can use the tables too. If a row and the template disagree, the template changed what is deployed:
update the row only if the change is intended (and the README with it).
"""

from __future__ import annotations

from typing import Any, NamedTuple

MSK_ARN = "arn:aws:kafka:eu-west-1:123456789012:cluster/events/0a1b2c3d-4e5f-6789-abcd-ef01234567-1"

# Every tunable the deployed spec depends on, set away from its default (as `npx cdk synth -c key=value` gives them:
# strings). The tables below give, by hand, the values these must produce.
TUNED = {
    "prefix": "tuned",
    "processor_batch_size": "250",
    "processor_batch_window_seconds": "7",
    "processor_max_retries": "5",
    "processor_max_record_age_seconds": "7200",
    "firehose_buffer_seconds": "300",
    "firehose_buffer_mib": "128",
    "threshold_iterator_age_seconds": "120",
    "threshold_write_throttle_records": "50",
    "threshold_data_freshness_seconds": "900",
    "threshold_lambda_errors": "3",
    "threshold_lambda_throttles": "4",
    "threshold_dlq_messages": "2",
    "threshold_invalid_records": "25",
    "threshold_high_temperature_c": "27.5",
    "threshold_high_temperature_hysteresis_c": "0.5",
    "threshold_error_burst_count": "8",
    "threshold_error_burst_window_seconds": "120",
    "alert_reminder_minutes": "15",
    "kafka_mode": "msk",
    "kafka_msk_cluster_arn": MSK_ARN,
    "kafka_topics": "clicks,grades",
    "kafka_batch_size": "500",
}


class Alarm(NamedTuple):
    """One CloudWatch alarm as deployed. `watches` names the resource behind the single dimension."""

    namespace: str
    metric: str
    statistic: str
    period: int
    evaluation_periods: int
    threshold: float
    comparison: str
    dimension: str
    watches: str


GE = "GreaterThanOrEqualToThreshold"
GT = "GreaterThanThreshold"

# Alarms with cdk.json's settings. Resources: `stream` the Kinesis stream, `delivery` the Firehose delivery stream,
# `processor` the processor function, `dlq` the processor's on-failure queue (by name), `service=processor` the
# EMF dimension Powertools writes for POWERTOOLS_SERVICE_NAME=processor.
DEFAULT_ALARMS = [
    Alarm("AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", "Maximum", 60, 5, 60_000, GE, "StreamName", "stream"),
    Alarm("AWS/Kinesis", "WriteProvisionedThroughputExceeded", "Sum", 300, 1, 1, GE, "StreamName", "stream"),
    Alarm("AWS/Firehose", "DeliveryToS3.DataFreshness", "Maximum", 300, 1, 600, GT, "DeliveryStreamName", "delivery"),
    Alarm("AWS/Lambda", "Errors", "Sum", 300, 1, 1, GE, "FunctionName", "processor"),
    Alarm("AWS/Lambda", "Throttles", "Sum", 300, 1, 1, GE, "FunctionName", "processor"),
    Alarm("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", 60, 1, 1, GE, "QueueName", "dlq"),
    Alarm("Streamlake", "InvalidRecords", "Sum", 300, 1, 10, GE, "service", "service=processor"),
]

# The same alarms with TUNED's thresholds: only the thresholds move (iterator age is configured in seconds and
# alarmed on in milliseconds).
TUNED_ALARMS = [
    Alarm("AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", "Maximum", 60, 5, 120_000, GE, "StreamName", "stream"),
    Alarm("AWS/Kinesis", "WriteProvisionedThroughputExceeded", "Sum", 300, 1, 50, GE, "StreamName", "stream"),
    Alarm("AWS/Firehose", "DeliveryToS3.DataFreshness", "Maximum", 300, 1, 900, GT, "DeliveryStreamName", "delivery"),
    Alarm("AWS/Lambda", "Errors", "Sum", 300, 1, 3, GE, "FunctionName", "processor"),
    Alarm("AWS/Lambda", "Throttles", "Sum", 300, 1, 4, GE, "FunctionName", "processor"),
    Alarm("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", 60, 1, 2, GE, "QueueName", "dlq"),
    Alarm("Streamlake", "InvalidRecords", "Sum", 300, 1, 25, GE, "service", "service=processor"),
]

# The processor's Kinesis event source mapping (AWS::Lambda::EventSourceMapping properties), resources by role.
DEFAULT_PROCESSOR_MAPPING = {
    "EventSourceArn": "stream",
    "FunctionName": "processor",
    "StartingPosition": "TRIM_HORIZON",
    "BatchSize": 100,
    "MaximumBatchingWindowInSeconds": 1,
    "MaximumRetryAttempts": 3,
    "MaximumRecordAgeInSeconds": 3600,
    "BisectBatchOnFunctionError": True,
    "FunctionResponseTypes": ["ReportBatchItemFailures"],
    "ParallelizationFactor": 1,
    "OnFailure": "dlq",
}
TUNED_PROCESSOR_MAPPING = {
    **DEFAULT_PROCESSOR_MAPPING,
    "BatchSize": 250,
    "MaximumBatchingWindowInSeconds": 7,
    "MaximumRetryAttempts": 5,
    "MaximumRecordAgeInSeconds": 7200,
}

# The processor's business-alert settings (its environment): the lifecycle's thresholds, reminder in seconds.
DEFAULT_PROCESSOR_ALERTS = {
    "HIGH_TEMPERATURE_C": "30",
    "HIGH_TEMPERATURE_HYSTERESIS_C": "2",
    "ERROR_BURST_THRESHOLD": "5",
    "ERROR_BURST_WINDOW_SECONDS": "60",
    "ALERT_REMINDER_SECONDS": "3600",
}
TUNED_PROCESSOR_ALERTS = {
    "HIGH_TEMPERATURE_C": "27.5",
    "HIGH_TEMPERATURE_HYSTERESIS_C": "0.5",
    "ERROR_BURST_THRESHOLD": "8",
    "ERROR_BURST_WINDOW_SECONDS": "120",
    "ALERT_REMINDER_SECONDS": "900",
}

# The window-metrics function's own mapping (stacks/metrics.py): whole batches are idempotent, so no partial-failure
# reporting; shard order kept (parallelization 1) for the watermark; the processor's dead-letter queue.
DEFAULT_METRICS_MAPPING = {
    "EventSourceArn": "stream",
    "FunctionName": "metrics",
    "StartingPosition": "TRIM_HORIZON",
    "BatchSize": 1000,
    "MaximumBatchingWindowInSeconds": 10,
    "MaximumRetryAttempts": 10,
    "MaximumRecordAgeInSeconds": 3600,
    "BisectBatchOnFunctionError": True,
    "ParallelizationFactor": 1,
    "OnFailure": "dlq",
}

# The Kafka bridge's mappings: one per topic, each {topic: properties}.
MSK_BRIDGE_MAPPINGS = {
    topic: {
        "EventSourceArn": MSK_ARN,
        "FunctionName": "bridge",
        "StartingPosition": "TRIM_HORIZON",
        "BatchSize": 100,
        "MaximumBatchingWindowInSeconds": 1,
        "Topics": [topic],
        "AmazonManagedKafkaEventSourceConfig": {"ConsumerGroupId": "streamlake-bridge"},
    }
    for topic in ("estudiante-eventos", "sistema-logs", "notificaciones")
}
TUNED_BRIDGE_MAPPINGS = {
    topic: {
        "EventSourceArn": MSK_ARN,
        "FunctionName": "bridge",
        "StartingPosition": "TRIM_HORIZON",
        "BatchSize": 500,
        "MaximumBatchingWindowInSeconds": 1,
        "Topics": [topic],
        "AmazonManagedKafkaEventSourceConfig": {"ConsumerGroupId": "tuned-bridge"},
    }
    for topic in ("clicks", "grades")
}

HOUR = "year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
PROCESSED_PREFIX = "processed/family=!{partitionKeyFromLambda:family}/" + HOUR
RAW_PREFIX = "raw/" + HOUR
ERROR_PREFIX = "errors/!{firehose:error-output-type}/" + HOUR


def firehose_spec(interval_seconds: int, size_mib: int) -> dict[str, Any]:
    """The delivery stream's settings that are literals (resources are checked separately)."""
    buffering = {"IntervalInSeconds": interval_seconds, "SizeInMBs": size_mib}
    return {
        "DeliveryStreamType": "KinesisStreamAsSource",
        "BufferingHints": buffering,
        "Prefix": PROCESSED_PREFIX,
        "ErrorOutputPrefix": ERROR_PREFIX,
        "FileExtension": ".parquet",
        "DynamicPartitioning": {"Enabled": True, "RetryOptions": {"DurationInSeconds": 300}},
        "Input": {"Deserializer": {"OpenXJsonSerDe": {"CaseInsensitive": False}}},
        "Output": {"Serializer": {"ParquetSerDe": {"Compression": "SNAPPY"}}},
        "SchemaTable": "all_events",
        "Transform": {"BufferIntervalInSeconds": "60", "BufferSizeInMBs": "3", "NumberOfRetries": "3"},
        "Backup": {
            "S3BackupMode": "Enabled",
            "BufferingHints": buffering,
            "CompressionFormat": "GZIP",
            "Prefix": RAW_PREFIX,
            "ErrorOutputPrefix": ERROR_PREFIX,
        },
    }


# Glue tables: (name, data columns with their Glue types, partition columns with their types, family or None).
# Partition columns are strings although projection enumerates them as integers: the saved queries prune with
# `concat(year, month, day, hour) BETWEEN date_format(...)`, which needs the zero-padded text ('2026', '03', '07').
TIME_PARTITIONS = [("year", "string"), ("month", "string"), ("day", "string"), ("hour", "string")]
COMMON = [("event_id", "string"), ("timestamp", "string"), ("source", "string")]
SENSOR = [("sensor_id", "string"), ("temperature", "double"), ("humidity", "double"), ("location", "string")]
STUDENT = [
    ("student_id", "string"),
    ("event_type", "string"),
    ("course_id", "string"),
    ("grade", "double"),
    ("channel", "string"),
]
LOG = [("level", "string"), ("service", "string"), ("message", "string"), ("host", "string"), ("trace_id", "string")]
# The change family's columns (source_table is a partition of table_changes); all_events' Parquet schema holds them
# too, because Firehose converts every record with it.
CHANGE = [
    ("connector", "string"),
    ("op", "string"),
    ("row_key", "string"),
    ("before", "string"),
    ("after", "string"),
    ("source_position", "string"),
    ("ts_ms", "bigint"),
]
GLUE_TABLES = {
    "sensor_data": (COMMON + SENSOR, TIME_PARTITIONS, "sensor"),
    "student_events": (COMMON + STUDENT, TIME_PARTITIONS, "student"),
    "system_logs": (COMMON + LOG, TIME_PARTITIONS, "log"),
    "all_events": (COMMON + SENSOR + STUDENT + LOG + CHANGE, [("family", "string"), *TIME_PARTITIONS], None),
}
TIME_PROJECTION = {
    "projection.enabled": "true",
    "projection.year.type": "date",
    "projection.year.format": "yyyy",
    "projection.year.range": "2024,NOW",
    "projection.year.interval": "1",
    "projection.year.interval.unit": "YEARS",
    "projection.month.type": "integer",
    "projection.month.range": "1,12",
    "projection.month.digits": "2",
    "projection.day.type": "integer",
    "projection.day.range": "1,31",
    "projection.day.digits": "2",
    "projection.hour.type": "integer",
    "projection.hour.range": "0,23",
    "projection.hour.digits": "2",
}
FAMILY_PROJECTION = {"projection.family.type": "enum", "projection.family.values": "sensor,student,log"}
