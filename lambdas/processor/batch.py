"""Per-record work and per-batch side effects of the stream processor, independent of Powertools and Lambda.

`process_record` is pure: it decodes, validates and enriches one Kinesis record into an `Outcome`. `apply_effects`
then does the batch's AWS work in as few calls as possible — one quarantine object, the alert lifecycle's state
(lambdas.processor.lifecycle: one read of the open alerts, the state of the entities that matter, one write per
entity that changed), alert de-duplication and PublishBatch — and returns the outcomes whose effects failed, so the
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
from lambdas.processor import lifecycle
from lambdas.processor.adapters import AlertSender, AlertStateStore, QuarantineWriter, SendReport
from lambdas.processor.rules import Alert, Position, Thresholds, enrich, lag_ms, student_notification
from lambdas.schemas import Event, internal_error_reason, judge

_log = logging.getLogger(__name__)
STATE_WRITERS = 8


@dataclass
class Outcome:
    """What became of one record. Exactly one of `event` / `rejected` is set. `source` is the caller's handle on the
    record (the Powertools record object), carried along so failures can be reported against it."""

    position: Position
    source: Any
    event: Event | None = None
    rejected: quarantine.QuarantinedRecord | None = None
    alerts: list[Alert] = field(default_factory=list)
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
        # Per-record alerts only; high temperature and error bursts depend on the entity's state (apply_effects).
        alert = student_notification(verdict.event)
        if alert is not None:
            outcome.alerts.append(alert)
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
    states: AlertStateStore
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
    # Lifecycle messages decided by this batch, by stage (enter / reminder / recovered), and entities whose state
    # our own code failed on (logged; their records are still processed).
    lifecycle_messages: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    lifecycle_errors: int = 0
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

    plans, open_before = _plan_lifecycle(valid, effects.states, thresholds, report, fail)
    for plan in plans:
        for alert in plan.alerts:
            report.lifecycle_messages[alert.attributes["lifecycle"]] += 1
            for member in plan.members:
                dispatch.add(alert, member)

    sent = dispatch.finish()
    report.alerts_published = len(sent.published)
    report.duplicate_alerts = len(sent.duplicates)
    for alert_id, reason in sent.failed.items():
        for outcome in dispatch.sources[alert_id]:
            fail(outcome, reason)
    _commit_lifecycle(plans, open_before, effects.states, failed_ids, fail, now)

    report.invalid = sum(1 for o in rejected if id(o) not in failed_ids)
    report.internal_errors = sum(1 for o in rejected if o.internal and id(o) not in failed_ids)
    for outcome in valid:
        if outcome.event is not None and id(outcome) not in failed_ids:
            report.records_by_family[outcome.event.family] += 1
            lag = lag_ms(outcome.event, now)
            report.max_lag_ms = lag if report.max_lag_ms is None else max(report.max_lag_ms, lag)
    return report


@dataclass
class _EntityPlan:
    """One sensor's or service's records in this batch, its state after them, and the messages they caused."""

    state: lifecycle.EntityState
    members: list[Outcome]
    alerts: list[Alert]
    changed: bool


def _plan_lifecycle(
    valid: list[Outcome],
    states: AlertStateStore,
    thresholds: Thresholds,
    report: BatchReport,
    fail: Any,
) -> tuple[list[_EntityPlan], set[tuple[str, str]]]:
    """Read the open alerts and the states that matter, and apply the batch's records to them (nothing written).

    A failed read fails the records it was for (they are retried); nothing was decided for them.
    """
    by_entity: dict[tuple[str, str], list[Outcome]] = {}
    for outcome in valid:
        key = lifecycle.entity_of(outcome.event) if outcome.event is not None else None
        if key is not None:
            by_entity.setdefault(key, []).append(outcome)
    if not by_entity:
        return [], set()
    try:
        open_before = states.open_entities(sorted({family for family, _ in by_entity}))
    except Exception as error:  # noqa: BLE001 - DynamoDB throttled or down: retry these records
        for members in by_entity.values():
            for outcome in members:
                fail(outcome, f"alert state read failed: {error}")
        return [], set()
    wanted = [
        key
        for key, members in by_entity.items()
        if key in open_before or any(o.event is not None and lifecycle.may_open(o.event, thresholds) for o in members)
    ]
    if not wanted:
        return [], open_before
    try:
        loaded = states.load(wanted)
    except Exception as error:  # noqa: BLE001 - as above
        for key in wanted:
            for outcome in by_entity[key]:
                fail(outcome, f"alert state read failed: {error}")
        return [], open_before
    plans = []
    for key in wanted:
        members = by_entity[key]
        state = loaded[key]
        try:
            alerts, changed = lifecycle.apply(
                state, [(o.event, o.position) for o in members if o.event is not None], thresholds
            )
        except Exception:  # noqa: BLE001 - our own bug: keep the batch going, say so loudly, change nothing
            _log.exception("alert lifecycle failed for %s %r", *key)
            report.lifecycle_errors += 1
            continue
        plans.append(_EntityPlan(state=state, members=members, alerts=alerts, changed=changed))
    return plans, open_before


def _commit_lifecycle(
    plans: list[_EntityPlan],
    open_before: set[tuple[str, str]],
    states: AlertStateStore,
    failed_ids: set[int],
    fail: Any,
    now: datetime,
) -> None:
    """Write what the batch decided, for the entities whose messages all went out.

    Order keeps the open sets a superset of the entities in alert: add to them, write the states, then remove the
    recovered. An entity whose message or write failed keeps its old state and its records are retried; the retry
    decides the same messages (same ids, so those already sent are skipped).
    """
    ready = [p for p in plans if not any(id(o) in failed_ids for o in p.members)]
    opening = [p for p in ready if p.state.status == lifecycle.ALERTING and p.state.key not in open_before]
    if opening:
        try:
            states.mark_open(p.state.key for p in opening)
        except Exception as error:  # noqa: BLE001 - not recorded as open: do not write the state either
            for plan in opening:
                for outcome in plan.members:
                    fail(outcome, f"alert state write failed: {error}")
            ready = [p for p in ready if p not in opening]
    def save(plan: _EntityPlan) -> Exception | None:
        try:
            states.save(plan.state, now.timestamp())
        except Exception as error:  # noqa: BLE001 - throttled or changed meanwhile: decide again on retry
            return error
        return None

    changed = [p for p in ready if p.changed]
    # One PutItem per entity (conditional on its version), several at a time: an alert-heavy batch touches dozens.
    with ThreadPoolExecutor(max_workers=STATE_WRITERS) as pool:
        errors = dict(zip(map(id, changed), pool.map(save, changed), strict=True))
    written: list[_EntityPlan] = []
    for plan in ready:
        error = errors.get(id(plan))
        if error is None:
            written.append(plan)
            continue
        for outcome in plan.members:
            fail(outcome, f"alert state write failed: {error}")
    closing = [p.state.key for p in written if p.state.status == lifecycle.NORMAL and p.state.key in open_before]
    if closing:
        try:
            states.mark_closed(closing)
        except Exception:  # noqa: BLE001 - a name left in an open set only costs a state read later
            _log.warning("could not remove %d recovered entities from the open alerts", len(closing), exc_info=True)


def shard_of(event_id: str) -> str:
    """The shard id in a Kinesis record's `eventID` (`shardId-000000000000:<sequence number>`)."""
    return event_id.split(":", 1)[0]


def arrival_of(approximate_arrival_timestamp: float) -> datetime:
    return datetime.fromtimestamp(approximate_arrival_timestamp, UTC)
