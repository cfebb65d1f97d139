"""One batch of Kafka messages through the bridge: events to Kinesis, the rest to quarantine, or an exception.

The contract with both callers (the Lambda event source and the standalone consumer): when `run_batch` returns,
every message of the batch is either in the stream or in quarantine, so its offset may be committed; when it
raises, nothing may be committed and the batch must be delivered again. Redelivered messages get the same
event_id (`mapping.kafka_event_id`), so the processor drops the duplicates.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from lambdas.bridge.adapters import Entry, WriteReport
from lambdas.bridge.debezium import CHANGE_FAMILY, ChangeSequence, ValueDecoder, bundled_decoder
from lambdas.bridge.mapping import KafkaMessage, Route, partition_key, to_event
from lambdas.bridge.wire import SchemaRegistry
from lambdas.quarantine import QuarantinedRecord
from lambdas.schemas import InvalidEventError


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
    tombstones: int = 0


def plan_batch(
    messages: Sequence[KafkaMessage],
    routes: Mapping[str, Route],
    registry: SchemaRegistry,
    now: datetime | None = None,
    decoder: ValueDecoder | None = None,
) -> BatchPlan:
    """Decode, route and validate every message (pure).

    Messages on a topic routed to the `change` family are Debezium change events (lambdas/bridge/debezium.py),
    decoded by `decoder` (default: the bundled schemas); their tombstones are skipped, not quarantined.
    """
    plan = BatchPlan()
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
        except InvalidEventError as exc:
            plan.rejected.append(
                QuarantinedRecord(
                    data=message.value or b"", reason=exc.reason, field=exc.field, position=message.position
                )
            )
            continue
        plan.entries.append(Entry(event.to_json().encode("utf-8"), partition_key(message, event)))
        plan.families[event.family] += 1
    return plan


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
        tombstones=sum(plan.tombstones.values()),
    )
