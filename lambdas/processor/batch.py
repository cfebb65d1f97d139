"""Per-record work and per-batch side effects of the stream processor, independent of Powertools and Lambda.

`process_record` is pure: it decodes, validates and enriches one Kinesis record into an `Outcome`. `apply_effects`
then does the batch's AWS work in as few calls as possible — one quarantine object, one burst-counter update per
service and window, alert de-duplication and PublishBatch — and returns the outcomes whose effects failed, so the
handler can report exactly those records in `batchItemFailures`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lambdas import quarantine
from lambdas.processor.adapters import AlertSender, BurstCounter, QuarantineWriter, SendReport
from lambdas.processor.rules import (
    Alert,
    BurstKey,
    Position,
    Thresholds,
    burst_alert,
    burst_window,
    enrich,
    lag_ms,
    student_notification,
    temperature_alert,
)
from lambdas.schemas import Event, internal_error_reason, judge

_log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What became of one record. Exactly one of `event` / `rejected` is set. `source` is the caller's handle on the
    record (the Powertools record object), carried along so failures can be reported against it."""

    position: Position
    source: Any
    event: Event | None = None
    rejected: quarantine.QuarantinedRecord | None = None
    alerts: list[Alert] = field(default_factory=list)
    burst: BurstKey | None = None
    processed_at: datetime | None = None
    # Rejected because our own code raised on it (reason `internal error: <type>`), not because it broke the contract.
    internal: bool = False

    @property
    def enriched(self) -> dict[str, Any] | None:
        """The enriched record (rules.enrich), built when asked for: alerts and metrics use the derived values
        directly, and building ten thousand dicts nobody reads would cost a fifth of the handler's time."""
        if self.event is None or self.processed_at is None:
            return None
        return enrich(self.event, self.position, self.processed_at)


def process_record(data: bytes, position: Position, source: Any, thresholds: Thresholds, now: datetime) -> Outcome:
    """Validate and enrich one record and decide its alerts. Never raises: a record the contract refuses is
    `rejected` with the reason, and one our own code fails on is `rejected` as `internal error: <type>` (and
    `internal`), so one record can never fail its batch. Only the side effects (apply_effects) are retried."""
    verdict = judge(data, now=now)
    if verdict.event is None:
        return _rejected(data, position, source, verdict.reason or "", verdict.field, internal=verdict.internal)
    try:
        outcome = Outcome(position=position, source=source, event=verdict.event, processed_at=now)
        for alert in (
            temperature_alert(verdict.event, thresholds.high_temperature_c),
            student_notification(verdict.event),
        ):
            if alert is not None:
                outcome.alerts.append(alert)
        outcome.burst = burst_window(verdict.event, thresholds.error_burst_window_seconds)
    except Exception as error:  # noqa: BLE001 - the record boundary: quarantine this record, keep the batch going
        _log.exception("unexpected error while enriching record %s", position.sequence_number)
        return _rejected(data, position, source, internal_error_reason(error), None, internal=True)
    return outcome


def _rejected(
    data: bytes, position: Position, source: Any, reason: str, field: str | None, *, internal: bool
) -> Outcome:
    rejected = quarantine.QuarantinedRecord(
        data=data,
        reason=reason,
        field=field,
        position={
            "shard_id": position.shard_id,
            "sequence_number": position.sequence_number,
            "arrival": position.arrival.isoformat(),
        },
    )
    return Outcome(position=position, source=source, rejected=rejected, internal=internal)


@dataclass
class Effects:
    """The adapters a batch's side effects go through."""

    alerts: AlertSender
    bursts: BurstCounter
    quarantine: QuarantineWriter


@dataclass
class BatchReport:
    """What the batch did: counts for metrics and logs, and the outcomes to report as failed (to be retried)."""

    records_by_family: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    invalid: int = 0
    internal_errors: int = 0  # of the invalid: records our own code failed on (see Outcome.internal)
    alerts_published: int = 0
    duplicate_alerts: int = 0
    max_lag_ms: float | None = None
    failed: list[Outcome] = field(default_factory=list)
    failure_reasons: list[str] = field(default_factory=list)
    quarantine_key: str | None = None
    rejection_samples: list[str] = field(default_factory=list)


class AlertDispatch:
    """Sends a batch's alerts while its records are still being processed.

    `add` is called as each record is done; every `chunk` new alerts go to SNS on a worker thread, so the SNS and
    DynamoDB round trips overlap the per-record work instead of following it. An alert id seen again in the same
    batch (a duplicated record, or every member of an error burst) is sent once and remembers every record it came
    from, so a failure is reported against all of them. `finish` waits for the sends and says what happened.
    """

    def __init__(self, sender: AlertSender, now: datetime, chunk: int = 100, in_flight: int = 4) -> None:
        self._sender = sender
        self._now = now.timestamp()
        self._chunk = chunk
        self._pool = ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="alerts")
        self._futures: list[Future[SendReport]] = []
        self._pending: list[Alert] = []
        self.sources: dict[str, list[Outcome]] = {}

    def add(self, alert: Alert, outcome: Outcome) -> None:
        if alert.alert_id in self.sources:
            self.sources[alert.alert_id].append(outcome)
            return
        self.sources[alert.alert_id] = [outcome]
        self._pending.append(alert)
        if len(self._pending) >= self._chunk:
            self._submit()

    def finish(self) -> SendReport:
        self._submit()
        total = SendReport()
        try:
            for future in self._futures:
                report = future.result()
                total.published += report.published
                total.duplicates += report.duplicates
                total.failed.update(report.failed)
        finally:
            self._pool.shutdown(wait=True)
        return total

    def _submit(self) -> None:
        if self._pending:
            self._futures.append(self._pool.submit(self._sender.send, self._pending, self._now))
            self._pending = []


def apply_effects(
    outcomes: list[Outcome],
    effects: Effects,
    thresholds: Thresholds,
    now: datetime,
    dispatch: AlertDispatch | None = None,
) -> BatchReport:
    """Quarantine the rejected, count error bursts, send alerts; outcomes whose effect failed go to `failed`.

    With a `dispatch` the per-record alerts were already added to it as records were processed; without one they
    are added here.
    """
    report = BatchReport()
    failed_ids: set[int] = set()

    def fail(outcome: Outcome, reason: str) -> None:
        if id(outcome) not in failed_ids:
            failed_ids.add(id(outcome))
            report.failed.append(outcome)
            if len(report.failure_reasons) < 5:
                report.failure_reasons.append(f"{outcome.position.sequence_number}: {reason}")

    valid = [o for o in outcomes if o.event is not None]
    rejected = [o for o in outcomes if o.rejected is not None]

    if rejected:
        try:
            report.quarantine_key = effects.quarantine.write([o.rejected for o in rejected if o.rejected], now)
        except Exception as error:  # noqa: BLE001 - S3 throttled or down: retry these records
            for outcome in rejected:
                fail(outcome, f"quarantine write failed: {error}")
        report.rejection_samples = [o.rejected.reason for o in rejected[:5] if o.rejected]

    if dispatch is None:
        dispatch = AlertDispatch(effects.alerts, now)
        for outcome in valid:
            for alert in outcome.alerts:
                dispatch.add(alert, outcome)

    windows: dict[BurstKey, list[Outcome]] = defaultdict(list)
    for outcome in valid:
        if outcome.burst is not None:
            windows[outcome.burst].append(outcome)
    for key, members in windows.items():
        event_ids = [o.event.event_id for o in members if o.event]
        try:
            count = effects.bursts.count(key, event_ids, thresholds.error_burst_count)
        except Exception as error:  # noqa: BLE001 - DynamoDB throttled: recount on retry (counting is idempotent)
            for outcome in members:
                fail(outcome, f"error-burst count failed: {error}")
            continue
        if count >= thresholds.error_burst_count:
            messages = [o.event.fields["message"] for o in members if o.event]
            alert = burst_alert(key, count, thresholds, messages)
            for member in members:
                dispatch.add(alert, member)

    sent = dispatch.finish()
    report.alerts_published = len(sent.published)
    report.duplicate_alerts = len(sent.duplicates)
    for alert_id, reason in sent.failed.items():
        for outcome in dispatch.sources[alert_id]:
            fail(outcome, reason)

    report.invalid = sum(1 for o in rejected if id(o) not in failed_ids)
    report.internal_errors = sum(1 for o in rejected if o.internal and id(o) not in failed_ids)
    for outcome in valid:
        if outcome.event is not None and id(outcome) not in failed_ids:
            report.records_by_family[outcome.event.family] += 1
            lag = lag_ms(outcome.event, now)
            report.max_lag_ms = lag if report.max_lag_ms is None else max(report.max_lag_ms, lag)
    return report


def shard_of(event_id: str) -> str:
    """The shard id in a Kinesis record's `eventID` (`shardId-000000000000:<sequence number>`)."""
    return event_id.split(":", 1)[0]


def arrival_of(approximate_arrival_timestamp: float) -> datetime:
    return datetime.fromtimestamp(approximate_arrival_timestamp, UTC)
