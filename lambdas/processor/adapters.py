"""The processor's AWS calls, behind three small adapters created on first use (no network at import).

- `AlertSender`: SNS PublishBatch (10 per call, calls in parallel) with de-duplication in DynamoDB: an alert whose
  id is already recorded is skipped, and an alert is recorded only after SNS accepted it (per group of 50 alerts,
  BatchWriteItem 25 at a time). A retried batch therefore sends nothing twice; the only window for a duplicate is a
  crash between SNS accepting and the record being written (a group's publishes, about 0.1 s), the at-least-once
  end of the trade-off.
- `AlertStateStore`: the alert lifecycle's per-sensor and per-service state (lambdas.processor.lifecycle) with
  optimistic versions, and the sets of entities currently in alert.
- `QuarantineWriter`: one S3 object per invocation (lambdas.quarantine).
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lambdas import quarantine
from lambdas.processor.lifecycle import EntityState
from lambdas.processor.rules import Alert

_log = logging.getLogger(__name__)

SNS_BATCH = 10
DYNAMODB_GET_BATCH = 100
DYNAMODB_WRITE_BATCH = 25
# A worker publishes this many alerts (5 PublishBatch calls) and then records them in 2 BatchWriteItem calls of 25,
# instead of one write of 10 after every publish: each call costs about 2.5 ms of CPU in botocore whatever its size,
# and recording per 10 made the de-duplication writes as many calls as the publishes (bench/bench_processor.py).
RECORD_GROUP = 5 * SNS_BATCH
PUBLISH_WORKERS = 8
# Connections kept per client: the processor runs up to 4 alert sends at once (batch.AlertDispatch), each with
# PUBLISH_WORKERS threads on the same clients. botocore keeps 10 by default; the others were opened and discarded
# for every call.
MAX_POOL_CONNECTIONS = 4 * PUBLISH_WORKERS + 4
# De-duplication records outlive every retry of a batch: the event source gives up after max record age (<= 7 d).
DEDUP_TTL_SECONDS = 8 * 24 * 3600
UNPROCESSED_RETRIES = 3


def aws_client(service: str) -> Any:
    """A boto3 client with bounded retries and timeouts that fit a 60 s Lambda (boto3 imported on first use).

    Client-side parameter validation is off: every request is built by this package from checked values (tests
    cover each call's shape), the service still rejects a bad one, and validating a PublishBatch or BatchWriteItem
    walks its whole request in Python, about 12 % of the handler's time on an alert-heavy batch
    (bench/bench_processor.py)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        config=Config(
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=3,
            read_timeout=10,
            parameter_validation=False,
            max_pool_connections=MAX_POOL_CONNECTIONS,
        ),
    )


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def batch_get(dynamodb: Any, table: str, keys: Sequence[str], attributes: tuple[str, ...]) -> list[dict[str, Any]]:
    """The items of `keys` that exist (strongly consistent BatchGetItem, 100 keys per call, unprocessed keys retried
    with backoff), with only `attributes` (named through aliases: DynamoDB's reserved-word list is long)."""
    items: list[dict[str, Any]] = []
    for chunk in _chunks(keys, DYNAMODB_GET_BATCH):
        request: dict[str, Any] = {
            table: {
                "Keys": [{"id": {"S": k}} for k in chunk],
                "ConsistentRead": True,
                "ProjectionExpression": ", ".join(f"#a{i}" for i in range(len(attributes))),
                "ExpressionAttributeNames": {f"#a{i}": name for i, name in enumerate(attributes)},
            }
        }
        for attempt in range(UNPROCESSED_RETRIES + 1):
            response = dynamodb.batch_get_item(RequestItems=request)
            items += response.get("Responses", {}).get(table, [])
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(0.05 * 2**attempt)
        else:
            raise RuntimeError("DynamoDB left keys unprocessed after retries")
    return items


@dataclass
class SendReport:
    published: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # alert id -> reason


class AlertSender:
    def __init__(self, sns: Any, dynamodb: Any, topic_arn: str, table: str) -> None:
        self.sns = sns
        self.dynamodb = dynamodb
        self._topic_arn = topic_arn
        self._table = table

    def send(self, alerts: Sequence[Alert], now: float | None = None) -> SendReport:
        """Publish every alert not sent before; report what was published, skipped and what failed (and why)."""
        report = SendReport()
        unique = list({alert.alert_id: alert for alert in alerts}.values())
        if not unique:
            return report
        expiration = str(int(now or time.time()) + DEDUP_TTL_SECONDS)
        with ThreadPoolExecutor(max_workers=PUBLISH_WORKERS) as pool:
            try:
                already_sent: set[str] = set().union(
                    *pool.map(self._already_sent, _chunks([alert.alert_id for alert in unique], DYNAMODB_GET_BATCH))
                )
            except Exception as error:  # noqa: BLE001 - any failure here means: send nothing, retry the records
                report.failed = {alert.alert_id: f"de-duplication lookup failed: {error}" for alert in unique}
                return report
            report.duplicates = [alert.alert_id for alert in unique if alert.alert_id in already_sent]
            to_send = [alert for alert in unique if alert.alert_id not in already_sent]
            # Each worker publishes a group of alerts and records those SNS accepted, so no sequential tail remains.
            for published, failed in pool.map(
                lambda group: self._publish_group(group, expiration), _chunks(to_send, RECORD_GROUP)
            ):
                report.published += published
                report.failed.update(failed)
        return report

    def _already_sent(self, alert_ids: list[str]) -> set[str]:
        return {item["id"]["S"] for item in batch_get(self.dynamodb, self._table, alert_ids, ("id",))}

    def _publish_group(self, group: Sequence[Alert], expiration: str) -> tuple[list[str], dict[str, str]]:
        """Publish `group` in SNS batches, then record what SNS accepted (only then: see the module docstring)."""
        published: list[str] = []
        failed: dict[str, str] = {}
        for chunk in _chunks(group, SNS_BATCH):
            accepted, refused = self._publish(chunk)
            published += accepted
            failed.update(refused)
        for chunk in _chunks(published, DYNAMODB_WRITE_BATCH):
            self._record_sent(list(chunk), expiration)
        return published, failed

    def _publish(self, chunk: Sequence[Alert]) -> tuple[list[str], dict[str, str]]:
        entries = {f"a{i}": alert for i, alert in enumerate(chunk)}
        try:
            response = self.sns.publish_batch(
                TopicArn=self._topic_arn,
                PublishBatchRequestEntries=[
                    {
                        "Id": entry_id,
                        "Subject": alert.subject,
                        "Message": alert.message,
                        "MessageAttributes": {
                            k: {"DataType": "String", "StringValue": v} for k, v in alert.attributes.items()
                        },
                    }
                    for entry_id, alert in entries.items()
                ],
            )
        except Exception as error:  # noqa: BLE001 - throttling, network, permissions: all retried via the records
            return [], {alert.alert_id: f"SNS PublishBatch failed: {error}" for alert in chunk}
        published = [entries[item["Id"]].alert_id for item in response.get("Successful", [])]
        failed = {
            entries[item["Id"]].alert_id: f"SNS {item.get('Code', 'error')}: {item.get('Message', '')}".strip()
            for item in response.get("Failed", [])
        }
        return published, failed

    def _record_sent(self, alert_ids: list[str], expiration: str) -> None:
        # At most DYNAMODB_WRITE_BATCH (25) ids, BatchWriteItem's limit.
        request: dict[str, Any] = {
            self._table: [
                {"PutRequest": {"Item": {"id": {"S": i}, "status": {"S": "SENT"}, "expiration": {"N": expiration}}}}
                for i in alert_ids
            ]
        }
        for attempt in range(UNPROCESSED_RETRIES + 1):
            try:
                response = self.dynamodb.batch_write_item(RequestItems=request)
            except Exception:  # noqa: BLE001 - the alerts went out; failing the records would resend them
                return
            request = response.get("UnprocessedItems") or {}
            if not request:
                return
            time.sleep(0.05 * 2**attempt)


class StateConflictError(RuntimeError):
    """Another writer changed an entity's state since it was read (only while a stream is resharded: a partition
    key keeps one entity on one shard, and one shard has one invocation at a time)."""


class AlertStateStore:
    """The alert lifecycle's state in the idempotency table (lambdas.processor.lifecycle).

    - `alert-state#<family>#<entity>`: one item per sensor or service that ever reached the alert state, the state
      as JSON in `doc`, an optimistic-concurrency `version`, and the table's TTL attribute (refreshed on each write).
    - `alert-open#<family>#<bucket>`: string sets of the entities currently in alert, spread over OPEN_BUCKETS items
      by a hash of the entity (four 400 KB items hold about 40,000 names of 40 bytes per family). Each batch reads
      these (one BatchGetItem: 4 read units per family, strongly consistent) and loads the state only of entities
      that are open or have a record that could open them, so a batch of normal readings costs one call.

    The open sets are a superset of the entities in alert: an entity is added before its state is written as in
    alert, and removed only after its state was written back to normal. A leftover name costs one extra state read
    and is removed then.
    """

    OPEN_BUCKETS = 4

    def __init__(self, dynamodb: Any, table: str) -> None:
        self.dynamodb = dynamodb
        self._table = table

    @staticmethod
    def state_key(family: str, entity: str) -> str:
        return f"alert-state#{family}#{entity}"

    @classmethod
    def open_key(cls, family: str, entity: str) -> str:
        return f"alert-open#{family}#{zlib.crc32(entity.encode('utf-8')) % cls.OPEN_BUCKETS}"

    def open_entities(self, families: Iterable[str]) -> set[tuple[str, str]]:
        """Every (family, entity) in an open set of these families (consistent read)."""
        keys = [f"alert-open#{family}#{bucket}" for family in families for bucket in range(self.OPEN_BUCKETS)]
        found: set[tuple[str, str]] = set()
        for item in self._get(keys, ("id", "members")):
            family = item["id"]["S"].split("#")[1]
            found.update((family, entity) for entity in item.get("members", {}).get("SS", []))
        return found

    def load(self, entities: Iterable[tuple[str, str]]) -> dict[tuple[str, str], EntityState]:
        """The stored state of each entity, or a fresh normal one (version 0) for an entity never stored."""
        wanted = {self.state_key(family, entity): (family, entity) for family, entity in entities}
        states = {key: EntityState(family=key[0], entity=key[1]) for key in wanted.values()}
        for item in self._get(list(wanted), ("id", "doc", "version")):
            family, entity = wanted[item["id"]["S"]]
            version = int(item["version"]["N"])
            try:
                states[(family, entity)] = EntityState.from_json(item["doc"]["S"], version)
            except (KeyError, TypeError, ValueError):
                # Unreadable (edited by hand, or written by a version with another layout): start again from normal
                # rather than fail this entity's records forever; the write replaces it (same version).
                _log.exception("unreadable alert state for %s %r; starting it again", family, entity)
                states[(family, entity)] = EntityState(family=family, entity=entity, version=version)
        return states

    def save(self, state: EntityState, now: float | None = None) -> None:
        """Write the state if nobody wrote it since it was read (its version); raises StateConflictError otherwise."""
        version = state.version
        try:
            self.dynamodb.put_item(
                TableName=self._table,
                Item={
                    "id": {"S": self.state_key(state.family, state.entity)},
                    "doc": {"S": state.to_json()},
                    "version": {"N": str(version + 1)},
                    "expiration": {"N": str(int(now or time.time()) + DEDUP_TTL_SECONDS)},
                },
                # Attribute names through aliases: the DynamoDB reserved-word list is long and easy to hit.
                **(
                    {"ConditionExpression": "attribute_not_exists(#id)", "ExpressionAttributeNames": {"#id": "id"}}
                    if version == 0
                    else {
                        "ConditionExpression": "#version = :version",
                        "ExpressionAttributeNames": {"#version": "version"},
                        "ExpressionAttributeValues": {":version": {"N": str(version)}},
                    }
                ),
            )
        except self.dynamodb.exceptions.ConditionalCheckFailedException:
            problem = f"the state of {state.family} {state.entity!r} changed since it was read"
            raise StateConflictError(problem) from None
        state.version = version + 1

    def mark_open(self, entities: Iterable[tuple[str, str]]) -> None:
        self._update_sets(entities, "ADD")

    def mark_closed(self, entities: Iterable[tuple[str, str]]) -> None:
        self._update_sets(entities, "DELETE")

    def _update_sets(self, entities: Iterable[tuple[str, str]], action: str) -> None:
        by_item: dict[str, list[str]] = {}
        for family, entity in entities:
            by_item.setdefault(self.open_key(family, entity), []).append(entity)
        for key, members in sorted(by_item.items()):
            self.dynamodb.update_item(
                TableName=self._table,
                Key={"id": {"S": key}},
                UpdateExpression=f"{action} #members :members",
                ExpressionAttributeNames={"#members": "members"},
                ExpressionAttributeValues={":members": {"SS": sorted(set(members))}},
            )

    def _get(self, keys: list[str], attributes: tuple[str, ...]) -> list[dict[str, Any]]:
        return batch_get(self.dynamodb, self._table, keys, attributes)


class QuarantineWriter:
    def __init__(self, s3: Any, bucket: str, stage: str = "processor") -> None:
        self.s3 = s3
        self._bucket = bucket
        self._stage = stage

    def write(self, records: Sequence[quarantine.QuarantinedRecord], now: datetime) -> str:
        """Put the records in one object; returns its key. Raises if S3 refuses (the records are then retried)."""
        key = quarantine.object_key(self._stage, records, now)
        self.s3.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=quarantine.object_body(records, now),
            ContentType="application/x-ndjson",
            ContentEncoding="gzip",
        )
        return key
