"""The bridge's only AWS calls: PutRecords into the stream, and quarantine objects into the lake bucket.

Both take a boto3 client, so the Lambda, the standalone bridge (any endpoint) and tests (moto) share them.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambdas.quarantine import QuarantinedRecord, object_body, object_key

# PutRecords limits: 500 entries and 5 MiB per call, 1 MiB per entry (data + partition key).
MAX_ENTRIES_PER_CALL = 500
MAX_BYTES_PER_CALL = 5 * 1024 * 1024
MAX_ENTRY_BYTES = 1024 * 1024
# Errors retrying cannot fix: fail at once with the reason instead of sleeping through every attempt.
_PERMANENT_ERRORS = frozenset(
    {
        "ResourceNotFoundException",
        "AccessDeniedException",
        "ValidationException",
        "InvalidArgumentException",
        "KMSAccessDeniedException",
        "KMSDisabledException",
        "KMSNotFoundException",
        "KMSInvalidStateException",
        "UnrecognizedClientException",
    }
)


class KinesisWriteError(RuntimeError):
    """Records could not be written; raised so the caller does not commit the Kafka offsets of the batch.

    `permanent` is True when retrying cannot help (missing stream, no permission), so a long-running caller stops.
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class Entry:
    """One PutRecords entry."""

    data: bytes
    partition_key: str

    @property
    def size(self) -> int:
        return len(self.data) + len(self.partition_key.encode("utf-8"))


@dataclass
class WriteReport:
    """What a `KinesisWriter.put` did: records written, calls made, entries retried and why."""

    written: int = 0
    calls: int = 0
    retried: int = 0
    error_codes: Counter[str] = field(default_factory=Counter)


def chunks(entries: Sequence[Entry]) -> Iterator[list[Entry]]:
    """Consecutive groups of entries within one PutRecords call's limits."""
    chunk: list[Entry] = []
    size = 0
    for entry in entries:
        if chunk and (len(chunk) == MAX_ENTRIES_PER_CALL or size + entry.size > MAX_BYTES_PER_CALL):
            yield chunk
            chunk, size = [], 0
        chunk.append(entry)
        size += entry.size
    if chunk:
        yield chunk


class KinesisWriter:
    """PutRecords with retries of only the entries that failed (throttling, internal errors), with exponential
    backoff and full jitter. Raises KinesisWriteError when entries still fail after `max_attempts` calls."""

    def __init__(
        self,
        client: Any,
        stream_name: str,
        *,
        max_attempts: int = 8,
        base_delay: float = 0.05,
        max_delay: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.stream_name = stream_name
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.sleep = sleep

    def put(self, entries: Sequence[Entry]) -> WriteReport:
        """Write every entry or raise KinesisWriteError."""
        report = WriteReport()
        for chunk in chunks(entries):
            self._put_chunk(chunk, report)
        return report

    def _put_chunk(self, chunk: list[Entry], report: WriteReport) -> None:
        pending = chunk
        last_problem = ""
        for attempt in range(self.max_attempts):
            if attempt:
                # Full jitter: spreads the retries of concurrent bridges instead of having them collide again.
                self.sleep(random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt)))
            report.calls += 1
            try:
                response = self.client.put_records(
                    StreamName=self.stream_name,
                    Records=[{"Data": e.data, "PartitionKey": e.partition_key} for e in pending],
                )
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "ClientError")
                message = exc.response.get("Error", {}).get("Message", "")
                if code in _PERMANENT_ERRORS:
                    raise KinesisWriteError(
                        f"PutRecords to {self.stream_name} failed: {code}: {message}", permanent=True
                    ) from exc
                report.error_codes[code] += len(pending)
                last_problem = f"{code}: {message}"
                continue
            except BotoCoreError as exc:
                report.error_codes[type(exc).__name__] += len(pending)
                last_problem = str(exc)
                continue
            failed = [
                entry for entry, result in zip(pending, response["Records"], strict=True) if "ErrorCode" in result
            ]
            for result in response["Records"]:
                if "ErrorCode" in result:
                    report.error_codes[result["ErrorCode"]] += 1
                    last_problem = f"{result['ErrorCode']}: {result.get('ErrorMessage', '')}"
            report.written += len(pending) - len(failed)
            if not failed:
                return
            report.retried += len(failed)
            pending = failed
        raise KinesisWriteError(
            f"{len(pending)} of {len(chunk)} records not written to {self.stream_name} after {self.max_attempts} "
            f"attempts (last error {last_problem})"
        )


class QuarantineWriter:
    """Writes one batch's rejected messages as one object under quarantine/stage=bridge/ (lambdas.quarantine)."""

    def __init__(self, client: Any, bucket: str, stage: str = "bridge") -> None:
        self.client = client
        self.bucket = bucket
        self.stage = stage

    def put(self, records: Sequence[QuarantinedRecord], now: datetime) -> str | None:
        """The object key written, or None when there was nothing to quarantine."""
        if not records:
            return None
        key = object_key(self.stage, records, now)
        self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=object_body(records, now),
            ContentType="application/x-ndjson",
            ContentEncoding="gzip",
        )
        return key
