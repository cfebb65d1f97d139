"""`WindowStore` in one DynamoDB table: the window state and results, with conditional writes and a TTL.

Items (partition key `pk`, sort key `sk`, both strings; `expires_at` is the table's TTL attribute):

| pk | sk | what |
|---|---|---|
| `shard` | shard id | the shard's read position (`seq`, padded), largest event time, processing times, `version` |
| `win#<start ms>` | `<family>#<dimension>#<bucket>` | its entities' aggregates (JSON), `applied`, `version` |
| `open` | start ms, padded | one row per window: `claimed_at` while being emitted, `emitted` once emitted |

Every write of a shard or window item is conditioned on the version read before it (optimistic concurrency), so two
invocations never lose each other's updates; `applied` holds, per shard, the last sequence number merged into the
item, so a retried batch is merged once. Window rows expire `ttl_seconds` after their window ends (one hour by
default, the Redis TTL of the system this replaces); closed windows outlive that in the lake's `window_metrics`
table.
"""

from __future__ import annotations

import json
from typing import Any

from lambdas.metrics.windows import (
    CLAIM_TIMEOUT_MS,
    Aggregate,
    ConditionFailedError,
    ItemKey,
    ShardState,
    StoredItem,
    WindowKey,
)

SHARD_PK = "shard"
OPEN_PK = "open"
_START_WIDTH = 15  # epoch milliseconds, padded so that string order is time order


def _window_pk(start_ms: int) -> str:
    return f"win#{start_ms}"


def _window_sk(key: ItemKey) -> str:
    return f"{key.family}#{key.dimension}#{key.bucket:02d}"


def _is_condition_failure(error: Exception) -> bool:
    response = getattr(error, "response", None) or {}
    return response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class DynamoWindowStore:
    """The engine's state in DynamoDB (a low-level boto3 client, created by the caller)."""

    def __init__(self, dynamodb: Any, table: str, window_ms: int, ttl_seconds: int) -> None:
        self._db = dynamodb
        self._table = table
        self._window_ms = window_ms
        self._ttl_ms = ttl_seconds * 1000
        # Windows this execution environment has indexed already: the index row is written once per window, not
        # once per entity (it is idempotent, so forgetting this set on a cold start only costs a write).
        self._indexed: set[int] = set()

    # -- shards --------------------------------------------------------------------------------------------------

    def get_shard(self, shard_id: str) -> ShardState:
        item = self._db.get_item(
            TableName=self._table, Key={"pk": {"S": SHARD_PK}, "sk": {"S": shard_id}}, ConsistentRead=True
        ).get("Item")
        return _shard_from_item(shard_id, item) if item else ShardState(shard_id)

    def put_shard(self, state: ShardState, expected_version: int) -> None:
        item = {
            "pk": {"S": SHARD_PK},
            "sk": {"S": state.shard_id},
            "seq": {"S": state.sequence},
            "last_seen_ms": {"N": str(state.last_seen_ms)},
            "first_seen_ms": {"N": str(state.first_seen_ms)},
            "version": {"N": str(state.version)},
        }
        if state.max_event_ms is not None:
            item["max_event_ms"] = {"N": str(state.max_event_ms)}
        self._conditional_put(item, expected_version)

    def shards(self) -> list[ShardState]:
        return [_shard_from_item(item["sk"]["S"], item) for item in self._query(SHARD_PK)]

    # -- windows -------------------------------------------------------------------------------------------------

    def get_item(self, key: ItemKey) -> StoredItem | None:
        item = self._db.get_item(
            TableName=self._table,
            Key={"pk": {"S": _window_pk(key.start_ms)}, "sk": {"S": _window_sk(key)}},
            ConsistentRead=True,
        ).get("Item")
        if not item:
            return None
        return StoredItem(
            entities=_entities(item),
            applied={shard: value["S"] for shard, value in item.get("applied", {}).get("M", {}).items()},
            version=int(item["version"]["N"]),
        )

    def put_item(self, key: ItemKey, item: StoredItem, expected_version: int) -> None:
        expires = str((key.start_ms + self._window_ms + self._ttl_ms) // 1000)
        entities = {entity: agg.to_dict() for entity, agg in item.entities.items()}
        record = {
            "pk": {"S": _window_pk(key.start_ms)},
            "sk": {"S": _window_sk(key)},
            "family": {"S": key.family},
            "dimension": {"S": key.dimension},
            "start_ms": {"N": str(key.start_ms)},
            "entities": {"S": json.dumps(entities, separators=(",", ":"), sort_keys=True)},
            "applied": {"M": {shard: {"S": seq} for shard, seq in item.applied.items()}},
            "version": {"N": str(item.version)},
            "expires_at": {"N": expires},
        }
        if expected_version == 0 and key.start_ms not in self._indexed:
            # The window's row in the index first (an idempotent update that keeps a claim or emitted mark): were it
            # written after the item, a crash in between would leave a window that a retry, finding its item
            # already merged, never indexes, and that therefore never closes.
            self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": OPEN_PK}, "sk": {"S": str(key.start_ms).zfill(_START_WIDTH)}},
                UpdateExpression="SET expires_at = :e",
                ExpressionAttributeValues={":e": {"N": expires}},
            )
            self._indexed.add(key.start_ms)
        self._conditional_put(record, expected_version)

    def open_windows(self) -> list[int]:
        return [
            int(item["sk"]["S"]) for item in self._query(OPEN_PK, filter_expression="attribute_not_exists(emitted)")
        ]

    def window_entities(self, start_ms: int) -> dict[WindowKey, Aggregate]:
        entities = {}
        for item in self._query(_window_pk(start_ms)):
            for entity, agg in _entities(item).items():
                entities[WindowKey(item["family"]["S"], item["dimension"]["S"], entity, start_ms)] = agg
        return entities

    def recent_windows(self, limit: int) -> list[tuple[int, bool]]:
        """(start ms, emitted) of the newest `limit` windows, newest first: what dashboards and /api/windows list."""
        page = self._db.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": OPEN_PK}},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [(int(item["sk"]["S"]), "emitted" in item) for item in page.get("Items", [])]

    def claim_window(self, start_ms: int, now_ms: int) -> bool:
        try:
            self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": OPEN_PK}, "sk": {"S": str(start_ms).zfill(_START_WIDTH)}},
                UpdateExpression="SET claimed_at = :now",
                ConditionExpression="attribute_not_exists(emitted) AND "
                "(attribute_not_exists(claimed_at) OR claimed_at < :expired)",
                ExpressionAttributeValues={
                    ":now": {"N": str(now_ms)},
                    ":expired": {"N": str(now_ms - CLAIM_TIMEOUT_MS)},
                },
            )
        except Exception as error:
            if _is_condition_failure(error):
                return False
            raise
        return True

    def mark_emitted(self, start_ms: int) -> None:
        self._db.update_item(
            TableName=self._table,
            Key={"pk": {"S": OPEN_PK}, "sk": {"S": str(start_ms).zfill(_START_WIDTH)}},
            UpdateExpression="SET emitted = :true",
            ExpressionAttributeValues={":true": {"BOOL": True}},
        )

    # -- helpers -------------------------------------------------------------------------------------------------

    def _conditional_put(self, item: dict[str, Any], expected_version: int) -> None:
        if expected_version == 0:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            condition = {
                "ConditionExpression": "version = :v",
                "ExpressionAttributeValues": {":v": {"N": str(expected_version)}},
            }
        try:
            self._db.put_item(TableName=self._table, Item=item, **condition)
        except Exception as error:
            if _is_condition_failure(error):
                raise ConditionFailedError(f"{item['pk']['S']}/{item['sk']['S']}") from None
            raise

    def _query(self, pk: str, filter_expression: str | None = None) -> list[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ConsistentRead": True,
        }
        if filter_expression:
            request["FilterExpression"] = filter_expression
        items: list[dict[str, Any]] = []
        while True:
            page = self._db.query(**request)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _entities(item: dict[str, Any]) -> dict[str, Aggregate]:
    return {entity: Aggregate.from_dict(agg) for entity, agg in json.loads(item["entities"]["S"]).items()}


def _shard_from_item(shard_id: str, item: dict[str, Any]) -> ShardState:
    return ShardState(
        shard_id=shard_id,
        sequence=item.get("seq", {}).get("S", ""),
        max_event_ms=int(item["max_event_ms"]["N"]) if "max_event_ms" in item else None,
        last_seen_ms=int(item.get("last_seen_ms", {}).get("N", "0")),
        first_seen_ms=int(item.get("first_seen_ms", {}).get("N", "0")),
        version=int(item.get("version", {}).get("N", "0")),
    )
