"""Kinesis clients that reject entries the way a real stream does, wrapped around any client (usually moto's).

moto accepts everything; real shards reject what exceeds 1,000 records/s or 1 MiB/s with
ProvisionedThroughputExceededException, per entry, in a PutRecords response that still succeeds. These wrappers
put that behaviour back at the API level, so the producer's retries, ordering and pacing can be tested and
benchmarked against moto:

- `ShardLimitedKinesis(client, shards, model=...)`: per-shard limits on an (injectable) clock; entries over budget
  are rejected, the rest are forwarded to the wrapped client in one PutRecords call, and the results are merged
  back in request order. Like a real shard, once a shard is out of budget it rejects every later entry for it in
  that request. AWS documents the limit ("1,000 records per second, up to 1 MiB per second") but not how it is
  measured, so there are two models of it:
  - `PER_SECOND` (the default): a token bucket refilled at the limit and holding one second's worth. Lenient: after
    an idle second it takes a full second's burst and then the refill rate, up to twice the limit within one
    second.
  - `SLIDING_WINDOW`: no more than 1,000 records or 1 MiB accepted in any one-second window, measured over the
    accepted entries of the last second (a window is half-open: an entry accepted at t stops counting at t + 1 s).
    The strictest reasonable reading; a producer that holds under it holds under any per-second accounting.
- `RejectingKinesis(client, reject)`: rejects exactly the entries `reject(call_number, index, entry)` chooses, with
  the error code it returns (any pattern, for tests).

Both count what they forwarded and rejected, and forward every other method to the wrapped client.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from producers.kinesis_writer import SHARD_BYTES_PER_SECOND, SHARD_RECORDS_PER_SECOND, TokenBucket

THROTTLED = "ProvisionedThroughputExceededException"
PER_SECOND = "per-second"
SLIDING_WINDOW = "sliding-window"
MODELS = (PER_SECOND, SLIDING_WINDOW)
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


class _SlidingWindow:
    """What one shard accepted in the last `length` seconds: (time, records, bytes) per request, oldest first."""

    def __init__(self, records: float, data: float, length: float = 1.0) -> None:
        self.max_records = records
        self.max_bytes = data
        self.length = length
        self.accepted: deque[tuple[float, int, int]] = deque()
        self.records = 0
        self.bytes = 0

    def room(self, now: float) -> tuple[float, float]:
        """(records, bytes) the shard can still accept at `now`."""
        while self.accepted and self.accepted[0][0] <= now - self.length:
            _, records, data = self.accepted.popleft()
            self.records -= records
            self.bytes -= data
        return self.max_records - self.records, self.max_bytes - self.bytes

    def add(self, now: float, records: int, data: int) -> None:
        if records:
            self.accepted.append((now, records, data))
            self.records += records
            self.bytes += data


class ShardLimitedKinesis(_Wrapper):
    """Enforces 1,000 records/s and 1 MiB/s per shard like a provisioned stream, under either model (see module)."""

    def __init__(
        self,
        client: Any,
        shards: int = 1,
        *,
        records_per_second: float = SHARD_RECORDS_PER_SECOND,
        bytes_per_second: float = SHARD_BYTES_PER_SECOND,
        now: Callable[[], float] = time.monotonic,
        model: str = PER_SECOND,
    ) -> None:
        if model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
        super().__init__(client)
        self.shards = shards
        self.now = now
        self.model = model
        start = now()
        self._records = [TokenBucket(records_per_second, records_per_second, start) for _ in range(shards)]
        self._bytes = [TokenBucket(bytes_per_second, bytes_per_second, start) for _ in range(shards)]
        self._windows = [_SlidingWindow(records_per_second, bytes_per_second) for _ in range(shards)]

    def put_records(self, *, Records: list[dict[str, Any]], **stream: Any) -> dict[str, Any]:  # noqa: N803 - boto3
        self.calls += 1
        now = self.now()
        if self.model == SLIDING_WINDOW:
            rejected = self._judge_sliding(Records, now)
        else:
            rejected = self._judge_per_second(Records, now)
        return self._forward(list(Records), rejected, **stream)

    def _judge_per_second(self, records: list[dict[str, Any]], now: float) -> dict[int, str]:
        rejected: dict[int, str] = {}
        exhausted: set[int] = set()
        for index, record in enumerate(records):
            key = record["PartitionKey"]
            shard = shard_index(key, self.shards)
            size = len(record["Data"]) + len(key.encode("utf-8"))
            count, data = self._records[shard], self._bytes[shard]
            if shard in exhausted or count.delay(1, now) > 0 or data.delay(size, now) > 0:
                exhausted.add(shard)
                rejected[index] = THROTTLED
                continue
            count.take(1, now)
            data.take(size, now)
        return rejected

    def _judge_sliding(self, records: list[dict[str, Any]], now: float) -> dict[int, str]:
        rejected: dict[int, str] = {}
        room = {shard: list(window.room(now)) for shard, window in enumerate(self._windows)}
        taken = [[0, 0] for _ in range(self.shards)]
        for index, record in enumerate(records):
            key = record["PartitionKey"]
            shard = shard_index(key, self.shards)
            size = len(record["Data"]) + len(key.encode("utf-8"))
            left = room[shard]
            # An exhausted shard is marked by room -1, so it rejects the rest of the request even for tiny entries.
            if left[0] < 1 or left[1] < size:
                left[0] = -1
                rejected[index] = THROTTLED
                continue
            left[0] -= 1
            left[1] -= size
            taken[shard][0] += 1
            taken[shard][1] += size
        for shard, (count, data) in enumerate(taken):
            self._windows[shard].add(now, count, data)
        return rejected
