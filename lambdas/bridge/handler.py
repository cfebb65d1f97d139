"""Kafka bridge Lambda: messages from Amazon MSK or Confluent Cloud (self-managed Kafka) into the Kinesis stream.

The event source mapping hands over a batch (`eventSource` "aws:kafka" or "SelfManagedKafka"); every message is
decoded (plain JSON or Confluent wire format, Avro or JSON Schema), routed to its family by topic, validated
against the event contract, stamped with `source` = kafka:<topic>/<partition>/<offset> and written with
PutRecords. Undecodable or invalid messages go to the lake's quarantine/stage=bridge/ with their position.

Kafka event sources have no partial-batch response: the offsets of a batch are committed only when the invocation
succeeds. So when Kinesis still refuses entries after retries, the handler raises and the whole batch comes back;
the messages already written are written again with the same event_id, and the processor drops them.

Environment: STREAM_NAME, LAKE_BUCKET (set by stacks/kafka_bridge.py); optionally KAFKA_TOPIC_FAMILIES, a JSON
object of topic -> family (see lambdas.bridge.mapping.parse_routes; default: estudiante-eventos and notificaciones
-> student, sistema-logs -> log, notificaciones with channel email unless the message says otherwise), and
KINESIS_MAX_ATTEMPTS (8) / KINESIS_RETRY_BASE_MS (50): PutRecords calls per chunk and the first backoff.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.bridge.adapters import KinesisWriteError, KinesisWriter, QuarantineWriter
from lambdas.bridge.core import run_batch
from lambdas.bridge.mapping import TOPIC_MAP_VARIABLE, Route, messages_from_event, parse_routes
from lambdas.bridge.wire import default_registry

SERVICE = "kafka-bridge"
NAMESPACE = "Streamlake"
# Reasons logged per invocation: enough to see what is wrong without flooding the log on a bad deploy.
_LOGGED_REASONS = 5

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


class SettingsError(RuntimeError):
    """The function's environment is missing a variable or has a bad value."""


@dataclass(frozen=True)
class Settings:
    stream_name: str
    lake_bucket: str
    routes: dict[str, Route]
    max_attempts: int = 8
    retry_base_seconds: float = 0.05


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read once per container; a missing or malformed variable names itself in the error."""
    try:
        routes = parse_routes(os.environ.get(TOPIC_MAP_VARIABLE))
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    return Settings(
        stream_name=_required("STREAM_NAME"),
        lake_bucket=_required("LAKE_BUCKET"),
        routes=routes,
        max_attempts=_positive_int("KINESIS_MAX_ATTEMPTS", 8),
        retry_base_seconds=_positive_int("KINESIS_RETRY_BASE_MS", 50) / 1000,
    )


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise SettingsError(f"environment variable {name} is not set (stacks/kafka_bridge.py sets it)")
    return value


def _positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip() or str(default)
    if not raw.isdigit() or int(raw) < 1:
        raise SettingsError(f"environment variable {name} must be a positive integer, got {raw!r}")
    return int(raw)


@lru_cache(maxsize=1)
def get_adapters() -> tuple[KinesisWriter, QuarantineWriter]:
    """The Kinesis and S3 adapters, created on the first invocation (importing this module makes no client)."""
    import boto3
    from botocore.config import Config

    # botocore retries whole calls (connection errors, throttled calls); KinesisWriter retries the entries a
    # successful PutRecords refused. Should they outlast the function's timeout, the invocation fails like any other
    # error and the event source delivers the batch again: still nothing committed that was not written.
    config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=3, read_timeout=10)
    settings = get_settings()
    return (
        KinesisWriter(
            boto3.client("kinesis", config=config),
            settings.stream_name,
            max_attempts=settings.max_attempts,
            base_delay=settings.retry_base_seconds,
        ),
        QuarantineWriter(boto3.client("s3", config=config), settings.lake_bucket),
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Bridge one Kafka batch; raises (so the event source retries the batch) if Kinesis does not take it all."""
    settings = get_settings()
    messages = messages_from_event(event)
    writer, quarantine = get_adapters()
    try:
        outcome = run_batch(
            messages, routes=settings.routes, registry=default_registry(), writer=writer, quarantine=quarantine
        )
    except KinesisWriteError as exc:
        metrics.add_metric(name="BridgeBatchesFailed", unit=MetricUnit.Count, value=1)
        logger.error(
            "batch not written; failing the invocation so the event source retries it",
            extra={
                "messages": len(messages),
                "error": str(exc),
            },
        )
        raise
    metrics.add_metric(name="BridgeRecordsWritten", unit=MetricUnit.Count, value=outcome.written)
    metrics.add_metric(name="BridgeRecordsQuarantined", unit=MetricUnit.Count, value=outcome.quarantined)
    metrics.add_metric(name="BridgeRecordsRetried", unit=MetricUnit.Count, value=outcome.retried)
    # Messages quarantined because the bridge's own code raised on them (`internal error: <type>`): a bug, not data.
    metrics.add_metric(name="InternalErrors", unit=MetricUnit.Count, value=outcome.internal_errors)
    logger.info(
        "batch bridged",
        extra={
            "event_source": event.get("eventSource"),
            "messages": outcome.messages,
            "written": outcome.written,
            "families": outcome.families,
            "quarantined": outcome.quarantined,
            "internal_errors": outcome.internal_errors,
            "quarantine_object": outcome.quarantine_key,
            "rejection_samples": outcome.reasons[:_LOGGED_REASONS],
            "retried_entries": outcome.retried,
            "cdc_tombstones_skipped": outcome.tombstones,
        },
    )
    return {"messages": outcome.messages, "written": outcome.written, "quarantined": outcome.quarantined}
