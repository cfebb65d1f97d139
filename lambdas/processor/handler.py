"""Stream processor Lambda: validate, enrich, alert on and quarantine the records of the Kinesis stream.

Each record is decoded and validated against the event contract (lambdas.schemas) and enriched. Invalid records
never fail the batch: they are written, with their original bytes, reason, shard and sequence number, to the
lake's quarantine/ prefix. Alerts are sent once per invocation in SNS batches and de-duplicated on their id, so a
retried batch sends no second e-mail: student notifications one per event, high temperature and error bursts with a
lifecycle (one message on entering the alert state, reminders at most every `alert_reminder_minutes`, one on
recovery; lambdas.processor.lifecycle). A record
whose side effect failed (S3, SNS or DynamoDB throttled) is reported in `batchItemFailures`, so Lambda retries from
it and nothing is lost. Metrics go out as one EMF document per invocation.
"""

from __future__ import annotations

import gc
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.processor import metric_names
from lambdas.processor.adapters import AlertSender, AlertStateStore, QuarantineWriter, aws_client
from lambdas.processor.batch import AlertDispatch, Effects, Outcome, apply_effects, arrival_of, process_record, shard_of
from lambdas.processor.rules import Position, Thresholds
from lambdas.processor.settings import get_settings

# Names fixed here (the CDK sets the same POWERTOOLS_* variables) so metrics always match the alarms and dashboard.
logger = Logger(service=metric_names.SERVICE)
tracer = Tracer(service=metric_names.SERVICE)
metrics = Metrics(namespace=metric_names.NAMESPACE, service=metric_names.SERVICE)

_effects: Effects | None = None


def get_effects() -> Effects:
    """The AWS adapters, created on the first invocation (importing this module makes no client)."""
    global _effects
    if _effects is None:
        settings = get_settings()
        dynamodb = aws_client("dynamodb")
        _effects = Effects(
            alerts=AlertSender(aws_client("sns"), dynamodb, settings.alerts_topic_arn, settings.idempotency_table),
            states=AlertStateStore(dynamodb, settings.idempotency_table),
            quarantine=QuarantineWriter(aws_client("s3"), settings.lake_bucket),
        )
    return _effects


def new_execution_environment() -> None:
    """Forget cached settings and AWS clients, as a fresh Lambda execution environment starts without them.

    Local mode calls this when a stack starts, so a second local stack in one process gets its own endpoint.
    """
    global _effects
    _effects = None
    get_settings.cache_clear()


class StreamBatchProcessor(BatchProcessor):
    """Powertools' Kinesis BatchProcessor plus the batch's side effects, run once after every record was processed.

    Records whose side effect failed are moved to the failures Powertools reports. A batch where every record
    failed is reported record by record too (not raised), so Lambda retries it without bisecting good data.
    """

    def __init__(self) -> None:
        super().__init__(event_type=EventType.KinesisDataStreams, raise_on_entire_batch_failure=False)
        self.outcomes: list[Outcome] = []
        self.dispatch: AlertDispatch | None = None
        self.now = datetime.now(UTC)
        self.thresholds: Thresholds | None = None
        self._gc_was_enabled = True

    def _prepare(self) -> None:
        super()._prepare()
        self.outcomes = []
        # Read once per batch, not per record: the clock (processed_at) and the settings.
        self.now = datetime.now(UTC)
        self.thresholds = get_settings().thresholds
        self.dispatch = AlertDispatch(get_effects().alerts, self.now)
        # No cyclic garbage collection during the batch: its objects are freed by reference counting, but their
        # allocations trigger full collections that walk every object of the process (botocore's models too):
        # about a fifth of an alert-free batch's CPU (docs/processor-performance.md). Collected again in _clean.
        self._gc_was_enabled = gc.isenabled()
        gc.disable()

    def success_handler(self, record: Any, result: Any) -> Any:
        self.outcomes.append(result)
        for alert in result.alerts:
            self.dispatch.add(alert, result)
        return super().success_handler(record, result)

    def _clean(self) -> None:
        try:
            self._apply_effects()
        finally:
            if self._gc_was_enabled:
                gc.enable()

    def _apply_effects(self) -> None:
        settings = get_settings()
        now = datetime.now(UTC)
        report = apply_effects(self.outcomes, get_effects(), settings.thresholds, now, self.dispatch)
        for outcome in report.failed:
            self.fail_messages.append(outcome.source)
        for family, count in report.records_by_family.items():
            metrics.add_metric(name=metric_names.FAMILY_RECORDS[family], unit=MetricUnit.Count, value=count)
        metrics.add_metric(name=metric_names.INVALID_RECORDS, unit=MetricUnit.Count, value=report.invalid)
        metrics.add_metric(name=metric_names.INTERNAL_ERRORS, unit=MetricUnit.Count, value=report.internal_errors)
        metrics.add_metric(name=metric_names.ALERTS_PUBLISHED, unit=MetricUnit.Count, value=report.alerts_published)
        metrics.add_metric(
            name=metric_names.DUPLICATE_ALERTS_SKIPPED, unit=MetricUnit.Count, value=report.duplicate_alerts
        )
        metrics.add_metric(name=metric_names.RECORDS_RETRIED, unit=MetricUnit.Count, value=len(self.fail_messages))
        if report.max_lag_ms is not None:
            metrics.add_metric(
                name=metric_names.END_TO_END_LAG, unit=MetricUnit.Milliseconds, value=max(0.0, report.max_lag_ms)
            )
        logger.info(
            "batch processed",
            extra={
                "records": len(self.records),
                "valid": dict(report.records_by_family),
                "invalid": report.invalid,
                "internal_errors": report.internal_errors,
                "quarantine_object": report.quarantine_key,
                "rejection_samples": report.rejection_samples,
                "alerts_published": report.alerts_published,
                "duplicate_alerts_skipped": report.duplicate_alerts,
                "lifecycle_messages": dict(report.lifecycle_messages),
                "lifecycle_errors": report.lifecycle_errors,
                "retrying": len(self.fail_messages),
                "failure_samples": report.failure_reasons,
            },
        )
        super()._clean()


processor = StreamBatchProcessor()


def record_handler(record: KinesisStreamRecord) -> Outcome:
    """Decode, validate, enrich one record and decide its alerts (pure: no AWS calls)."""
    payload = record.kinesis
    position = Position(
        shard_id=shard_of(record.event_id),
        sequence_number=payload.sequence_number,
        arrival=arrival_of(payload.approximate_arrival_timestamp),
    )
    return process_record(payload.data_as_bytes(), position, record, processor.thresholds, processor.now)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
