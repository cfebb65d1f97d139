"""The local counterparts of the deployed resources, created in moto from the same config.

CloudFormation names things in AWS; locally the names are derived from the prefix. `provision` is idempotent, so
`python -m local up` can be run against a moto server that already has them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

import boto3

from lambdas.schemas import FAMILY_TABLES
from local.moto_server import REGION
from streamlake import lake
from streamlake.config import Config


@dataclass(frozen=True)
class LocalResources:
    """Physical names and ARNs of everything local mode created."""

    stream_name: str
    stream_arn: str
    lake_bucket: str
    dlq_url: str
    dlq_arn: str
    alerts_topic_arn: str
    ops_topic_arn: str
    idempotency_table: str
    glue_database: str
    processor_function: str
    delivery_stream: str
    # Windowed metrics (lambdas/metrics); defaults keep a resources.json written before them readable.
    windows_table: str = ""
    metrics_function: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> LocalResources:
        # A resources.json of an earlier version may name resources local mode no longer makes (mail_queue_url).
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in json.loads(text).items() if k in known})

    def processor_environment(self, config: Config) -> dict[str, str]:
        """The environment the CDK gives the processor Lambda (stacks/processor.py), with local names."""
        t = config.thresholds
        return {
            "ALERTS_TOPIC_ARN": self.alerts_topic_arn,
            "LAKE_BUCKET": self.lake_bucket,
            "IDEMPOTENCY_TABLE": self.idempotency_table,
            "HIGH_TEMPERATURE_C": f"{t.high_temperature_c:g}",
            "ERROR_BURST_THRESHOLD": str(t.error_burst_count),
            "ERROR_BURST_WINDOW_SECONDS": str(t.error_burst_window_seconds),
            "HIGH_TEMPERATURE_HYSTERESIS_C": f"{t.high_temperature_hysteresis_c:g}",
            "ALERT_REMINDER_SECONDS": str(config.alert_reminder_minutes * 60),
            "POWERTOOLS_SERVICE_NAME": "processor",
            "POWERTOOLS_METRICS_NAMESPACE": "Streamlake",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "INFO",
            "AWS_LAMBDA_FUNCTION_NAME": self.processor_function,
        }

    def metrics_environment(self, config: Config) -> dict[str, str]:
        """The environment the CDK gives the window-metrics Lambda (stacks/metrics.py), with local names."""
        m = config.metrics
        return {
            "WINDOWS_TABLE": self.windows_table,
            "LAKE_BUCKET": self.lake_bucket,
            "METRICS_WINDOW_SECONDS": str(m.window_seconds),
            "METRICS_ALLOWED_LATENESS_SECONDS": str(m.allowed_lateness_seconds),
            "METRICS_TTL_SECONDS": str(m.ttl_seconds),
            "METRICS_IDLE_SHARD_SECONDS": str(m.idle_shard_seconds),
            "HIGH_TEMPERATURE_C": f"{config.thresholds.high_temperature_c:g}",
        }

    def resource_names(self) -> dict[str, str]:
        """Name of each resource kind an alarm can watch (streamlake.alarms), as the monitoring stack passes them."""
        return {
            "stream": self.stream_name,
            "delivery_stream": self.delivery_stream,
            "function": self.processor_function,
            "queue": self.dlq_url.rsplit("/", 1)[-1],
            "service": "processor",
        }


def names_for(config: Config) -> dict[str, str]:
    p = config.prefix
    return {
        "stream_name": f"{p}-events",
        "lake_bucket": f"{p}-lake",
        "dlq": f"{p}-processor-dlq",
        "alerts_topic": f"{p}-alerts",
        "ops_topic": f"{p}-ops",
        "idempotency_table": f"{p}-idempotency",
        "windows_table": f"{p}-windows",
        "metrics_function": f"{p}-window-metrics",
        "glue_database": p.replace("-", "_"),
        "processor_function": f"{p}-processor",
        "delivery_stream": f"{p}-lake-delivery",
    }


def email_recipients(config: Config) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The alerts and ops topics' e-mail addresses: the config's, or alerts@localhost / ops@localhost."""
    return config.alert_emails or ("alerts@localhost",), config.ops_emails or ("ops@localhost",)


def provision(config: Config, session: boto3.Session | None = None) -> LocalResources:
    """Create (or find) every local resource. Clients follow AWS_ENDPOINT_URL, i.e. the local moto server."""
    session = session or boto3.Session(region_name=REGION)
    n = names_for(config)
    kinesis, s3, sqs, sns = (session.client(s) for s in ("kinesis", "s3", "sqs", "sns"))

    existing = kinesis.list_streams()["StreamNames"]
    if n["stream_name"] not in existing:
        kinesis.create_stream(StreamName=n["stream_name"], ShardCount=config.shard_count)
    stream_arn = kinesis.describe_stream_summary(StreamName=n["stream_name"])["StreamDescriptionSummary"]["StreamARN"]

    if n["lake_bucket"] not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=n["lake_bucket"])

    dlq_url = sqs.create_queue(QueueName=n["dlq"], Attributes={"MessageRetentionPeriod": "1209600"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    # The deployed stack's e-mail subscriptions (stacks/alerting.py); e-mail cannot leave this machine, so
    # local.mailbox writes what SNS would send them to an mbox file.
    topics = {}
    for key, recipients in (("alerts_topic", email_recipients(config)[0]), ("ops_topic", email_recipients(config)[1])):
        arn = sns.create_topic(Name=n[key])["TopicArn"]
        subscribed = {s["Endpoint"] for s in sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]}
        for address in recipients:
            if address not in subscribed:
                sns.subscribe(TopicArn=arn, Protocol="email", Endpoint=address)
        topics[key] = arn

    _provision_idempotency_table(session, n["idempotency_table"])
    _provision_windows_table(session, n["windows_table"])
    _provision_glue(session, config, n["glue_database"], n["lake_bucket"])

    return LocalResources(
        stream_name=n["stream_name"],
        stream_arn=stream_arn,
        lake_bucket=n["lake_bucket"],
        dlq_url=dlq_url,
        dlq_arn=dlq_arn,
        alerts_topic_arn=topics["alerts_topic"],
        ops_topic_arn=topics["ops_topic"],
        idempotency_table=n["idempotency_table"],
        glue_database=n["glue_database"],
        processor_function=n["processor_function"],
        delivery_stream=n["delivery_stream"],
        windows_table=n["windows_table"],
        metrics_function=n["metrics_function"],
    )


def _provision_idempotency_table(session: boto3.Session, name: str) -> None:
    dynamodb = session.client("dynamodb")
    if name in dynamodb.list_tables()["TableNames"]:
        return
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"}
    )


def _provision_windows_table(session: boto3.Session, name: str) -> None:
    """The window-metrics table as stacks/metrics.py creates it: string keys pk/sk, TTL on expires_at."""
    dynamodb = session.client("dynamodb")
    if name in dynamodb.list_tables()["TableNames"]:
        return
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )


def _provision_glue(session: boto3.Session, config: Config, database: str, bucket: str) -> None:
    """The same tables as stacks/catalog.py, so tools that read the catalog see the deployed schema."""
    glue = session.client("glue")
    try:
        glue.create_database(DatabaseInput={"Name": database})
    except glue.exceptions.AlreadyExistsException:
        return
    for family, table in FAMILY_TABLES.items():
        glue.create_table(DatabaseName=database, TableInput=_table_input(table, family, bucket))
    glue.create_table(DatabaseName=database, TableInput=_table_input("all_events", None, bucket))


def _table_input(name: str, family: str | None, bucket: str) -> dict[str, Any]:
    partitions = ([] if family else ["family"]) + [*lake.family_partition_keys(family or ""), *lake.TIME_PARTITION_KEYS]
    location = f"s3://{bucket}/{lake.table_prefix(family) if family else lake.PROCESSED_PREFIX}"
    return {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "StorageDescriptor": {
            "Columns": [{"Name": c, "Type": t} for c, t in lake.table_columns(family)],
            "Location": location,
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
        },
        "PartitionKeys": [{"Name": k, "Type": "string"} for k in partitions],
        "Parameters": {
            "classification": "parquet",
            "projection.enabled": "true",
            "storage.location.template": lake.location_template(f"s3://{bucket}", family),
        },
    }
