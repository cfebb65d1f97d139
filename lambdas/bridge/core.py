"""One batch of Kafka messages through the bridge: events to Kinesis, the rest to quarantine, or an exception.

The contract with both callers (the Lambda event source and the standalone consumer): when `run_batch` returns,
every message of the batch is either in the stream or in quarantine, so its offset may be committed; when it
raises, nothing may be committed and the batch must be delivered again. Redelivered messages get the same
event_id (`mapping.kafka_event_id`), so the processor drops the duplicates.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Protocol

from lambdas.bridge.adapters import Entry, WriteReport
from lambdas.bridge.debezium import (
    CHANGE_FAMILY,
    ChangeSequence,
    DecoderUnavailableError,
    ValueDecoder,
    bundled_decoder,
)
from lambdas.bridge.mapping import KafkaMessage, Route, partition_key, to_event
from lambdas.bridge.wire import SchemaRegistry
from lambdas.quarantine import QuarantinedRecord
from lambdas.schemas import InvalidEventError, internal_error_reason

_log = logging.getLogger(__name__)


class EventWriter(Protocol):
    def put(self, entries: Sequence[Entry]) -> WriteReport: ...


class QuarantineSink(Protocol):
    def put(self, records: Sequence[QuarantinedRecord], now: datetime) -> str | None: ...


@dataclass(frozen=True)
class BatchPlan:
    """What a batch becomes: Kinesis entries (with their families) and rejected messages."""

    entries: list[Entry] = field(default_factory=list)
    families: Counter[str] = field(default_factory=Counter)
    rejected: list[QuarantinedRecord] = field(default_factory=list)
    internal_errors: int = 0
    tombstones: Counter[str] = field(default_factory=Counter)  # CDC tombstones skipped, per topic


@dataclass(frozen=True)
class BatchOutcome:
    """What `run_batch` did."""

    messages: int
    written: int
    quarantined: int
    retried: int
    families: dict[str, int]
    quarantine_key: str | None
    reasons: list[str]
    internal_errors: int = 0
    tombstones: int = 0


def plan_batch(
    messages: Sequence[KafkaMessage],
    routes: Mapping[str, Route],
    registry: SchemaRegistry,
    now: datetime | None = None,
    decoder: ValueDecoder | None = None,
) -> BatchPlan:
    """Decode, route and validate every message (pure). Never raises: a message that cannot be an event is
    rejected with the reason, and one our own code fails on is rejected as `internal error: <type>` (counted in
    `internal_errors`), so one message can never hold back its batch's offsets.

    Messages on a topic routed to the `change` family are Debezium change events (lambdas/bridge/debezium.py),
    decoded by `decoder` (default: the bundled schemas); their tombstones are skipped, not quarantined.
    """
    plan = BatchPlan()
    internal_errors = 0
    changes = ChangeSequence(decoder or bundled_decoder(registry), now)
    for message in messages:
        try:
            route = routes.get(message.topic)
            if route is not None and route.family == CHANGE_FAMILY:
                change = changes.event(message)
                if change is None:
                    plan.tombstones[message.topic] += 1
                    continue
                event = change
            else:
                event = to_event(message, routes, registry, now)
            entry = Entry(event.to_json().encode("utf-8"), partition_key(message, event))
        except InvalidEventError as exc:
            plan.rejected.append(_rejected(message, exc.reason, exc.field))
            continue
        except DecoderUnavailableError:
            raise  # a side effect (the schema registry) failed, not the message: retry the whole batch
        except Exception as exc:  # noqa: BLE001 - the record boundary: quarantine this message, keep the batch
            _log.exception("unexpected error bridging %s", message.source)
            plan.rejected.append(_rejected(message, internal_error_reason(exc), None))
            internal_errors += 1
            continue
        plan.entries.append(entry)
        plan.families[event.family] += 1
    return replace(plan, internal_errors=internal_errors)


def _rejected(message: KafkaMessage, reason: str, field: str | None) -> QuarantinedRecord:
    return QuarantinedRecord(
        data=message.value or b"", reason=reason, field=field, position=message.position, key=message.key
    )


def run_batch(
    messages: Sequence[KafkaMessage],
    *,
    routes: Mapping[str, Route],
    registry: SchemaRegistry,
    writer: EventWriter,
    quarantine: QuarantineSink,
    now: datetime | None = None,
    decoder: ValueDecoder | None = None,
) -> BatchOutcome:
    """Write the batch's events and quarantine its rejects; raises (KinesisWriteError, S3 errors) otherwise."""
    moment = now or datetime.now(UTC)
    plan = plan_batch(messages, routes, registry, moment, decoder)
    report = writer.put(plan.entries) if plan.entries else WriteReport()
    key = quarantine.put(plan.rejected, moment)
    return BatchOutcome(
        messages=len(messages),
        written=report.written,
        quarantined=len(plan.rejected),
        retried=report.retried,
        families=dict(plan.families),
        quarantine_key=key,
        reasons=[r.reason for r in plan.rejected],
        internal_errors=plan.internal_errors,
        tombstones=sum(plan.tombstones.values()),
    )
