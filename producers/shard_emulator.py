"""Kinesis clients that reject entries the way a real stream does, wrapped around any client (usually moto's).

moto accepts everything; real shards reject what exceeds 1,000 records/s or 1 MiB/s with
ProvisionedThroughputExceededException, per entry, in a PutRecords response that still succeeds. These wrappers
put that behaviour back at the API level, so the producer's retries, ordering and pacing can be tested and
benchmarked against moto:

- `ShardLimitedKinesis(client, shards)`: per-shard token buckets on a (injectable) clock; entries over budget are
  rejected, the rest are forwarded to the wrapped client in one PutRecords call, and the results are merged back in
  request order. Like a real shard, once a shard is out of budget it rejects every later entry for it in that
  request.
- `RejectingKinesis(client, reject)`: rejects exactly the entries `reject(call_number, index, entry)` chooses, with
  the error code it returns (any pattern, for tests).

Both count what they forwarded and rejected, and forward every other method to the wrapped client.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

from producers.kinesis_writer import SHARD_BYTES_PER_SECOND, SHARD_RECORDS_PER_SECOND, TokenBucket

THROTTLED = "ProvisionedThroughputExceededException"
_HASH_SPACE = 2**128


def shard_index(partition_key: str, shards: int) -> int:
    """Shard a key lands on in a stream of `shards` shards split evenly over the hash space (as CreateStream does)."""
    hashed = int.from_bytes(hashlib.md5(partition_key.encode("utf-8"), usedforsecurity=False).digest(), "big")
    return min(shards - 1, hashed * shards // _HASH_SPACE)


class _Wrapper:
    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls = 0
        self.forwarded = 0
        self.rejected = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def _forward(self, records: list[dict[str, Any]], rejected: dict[int, str], **stream: Any) -> dict[str, Any]:
        accepted = [record for index, record in enumerate(records) if index not in rejected]
        results: list[dict[str, Any]] = []
        if accepted:
            results = list(self.client.put_records(Records=accepted, **stream)["Records"])
        self.forwarded += len(accepted)
        self.rejected += len(rejected)
        merged: list[dict[str, Any]] = []
        for index in range(len(records)):
            if index in rejected:
                code = rejected[index]
                merged.append({"ErrorCode": code, "ErrorMessage": f"{code} (emulated)"})
            else:
                merged.append(results.pop(0))
        return {"FailedRecordCount": len(rejected), "Records": merged}


class RejectingKinesis(_Wrapper):
    """Rejects the entries `reject(call_number, index, entry)` returns an error code for (None: accept)."""

    def __init__(self, client: Any, reject: Callable[[int, int, dict[str, Any]], str | None]) -> None:
        super().__init__(client)
        self.reject = reject
        self.requests: list[list[dict[str, Any]]] = []

    def put_records(self, *, Records: list[dict[str, Any]], **stream: Any) -> dict[str, Any]:  # noqa: N803 - boto3
        self.calls += 1
        self.requests.append(list(Records))
        rejected = {}
        for index, record in enumerate(Records):
            code = self.reject(self.calls, index, record)
            if code:
                rejected[index] = code
        return self._forward(list(Records), rejected, **stream)


class ShardLimitedKinesis(_Wrapper):
    """Enforces 1,000 records/s and 1 MiB/s per shard (one second of burst), like a provisioned stream."""

    def __init__(
        self,
        client: Any,
        shards: int = 1,
        *,
        records_per_second: float = SHARD_RECORDS_PER_SECOND,
        bytes_per_second: float = SHARD_BYTES_PER_SECOND,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(client)
        self.shards = shards
        self.now = now
        start = now()
        self._records = [TokenBucket(records_per_second, records_per_second, start) for _ in range(shards)]
        self._bytes = [TokenBucket(bytes_per_second, bytes_per_second, start) for _ in range(shards)]

    def put_records(self, *, Records: list[dict[str, Any]], **stream: Any) -> dict[str, Any]:  # noqa: N803 - boto3
        self.calls += 1
        now = self.now()
        rejected: dict[int, str] = {}
        exhausted: set[int] = set()
        for index, record in enumerate(Records):
            key = record["PartitionKey"]
            shard = shard_index(key, self.shards)
            size = len(record["Data"]) + len(key.encode("utf-8"))
            records, data = self._records[shard], self._bytes[shard]
            if shard in exhausted or records.delay(1, now) > 0 or data.delay(size, now) > 0:
                exhausted.add(shard)
                rejected[index] = THROTTLED
                continue
            records.take(1, now)
            data.take(size, now)
        return self._forward(list(Records), rejected, **stream)
