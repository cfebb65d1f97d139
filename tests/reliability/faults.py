"""Faults injected at the AWS API level into the local pipeline's boto3 clients (botocore event hooks).

tests/lambdas/faults.py has the processor-level ones (`fail_operation`, `throttle_sns_entries`); these add what the
reliability suite needs on top: a real shard's read limit, lost responses, and failures that heal after N calls.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, ReadTimeoutError


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data


def _error_response(url: str, status: int, code: str, message: str) -> AWSResponse:
    body = json.dumps({"__type": code, "message": message}).encode()
    return AWSResponse(url, status, {"Content-Type": "application/x-amz-json-1.1"}, _Body(body))


class KinesisReadLimit:
    """GetRecords limited to `per_second` calls per second (a real shard allows 5, shared by all its consumers).

    Calls over the limit get the HTTP 400 ProvisionedThroughputExceededException a shard returns, before the request
    leaves the client, so botocore's own retries see it exactly as they would see Kinesis' answer. `storm` (call
    numbers, from 1) are throttled whatever the budget, as when another consumer has used it up: enough calls in a
    row outlast botocore's retries, so the readers' own backoff is exercised on every run, not by chance.
    """

    def __init__(self, client: Any, per_second: float = 5.0, storm: range = range(0)) -> None:
        self.per_second = per_second
        self.storm = storm
        self.calls = 0
        self.throttled = 0
        self._tokens = per_second
        self._last = time.monotonic()
        self._lock = threading.Lock()
        self._client = client
        client.meta.events.register_first("before-send.kinesis.GetRecords", self._limit)

    def remove(self) -> None:
        self._client.meta.events.unregister("before-send.kinesis.GetRecords", self._limit)

    def _limit(self, request: Any, **_: Any) -> AWSResponse | None:
        with self._lock:
            self.calls += 1
            now = time.monotonic()
            self._tokens = min(self.per_second, self._tokens + (now - self._last) * self.per_second)
            self._last = now
            if self._tokens >= 1 and self.calls not in self.storm:
                self._tokens -= 1
                return None
            self.throttled += 1
        return _error_response(
            request.url, 400, "ProvisionedThroughputExceededException", "Rate exceeded for shard (emulated)"
        )


class LostResponses:
    """PutRecords calls chosen by `lose(call_number)` reach the stream, but their response never comes back (a read
    timeout after Kinesis wrote the records): the producer cannot tell and sends them again."""

    def __init__(self, client: Any, lose: Callable[[int], bool]) -> None:
        self.lose = lose
        self.calls = 0
        self.lost_records = 0
        client.meta.events.register("after-call.kinesis.PutRecords", self._after)

    def _after(self, http_response: Any, parsed: dict[str, Any], **_: Any) -> None:
        self.calls += 1
        if self.lose(self.calls):
            self.lost_records += sum(1 for r in parsed.get("Records", []) if "SequenceNumber" in r)
            raise ReadTimeoutError(endpoint_url=getattr(http_response, "url", "kinesis"))


class FailingCalls:
    """Every call of `operation` (e.g. "sns.PublishBatch") fails with `code` while `failing(call_number)` says so;
    counts calls and failures. Raised where botocore's retries have already given up (before-call)."""

    def __init__(self, client: Any, operation: str, code: str, failing: Callable[[int], bool]) -> None:
        self.operation = operation.split(".")[1]
        self.code = code
        self.failing = failing
        self.calls = 0
        self.failed = 0
        self._lock = threading.Lock()
        client.meta.events.register(f"before-call.{operation}", self._before)

    def _before(self, **_: Any) -> None:
        with self._lock:
            self.calls += 1
            fail = self.failing(self.calls)
            if fail:
                self.failed += 1
        if fail:
            raise ClientError({"Error": {"Code": self.code, "Message": f"injected {self.code}"}}, self.operation)
