"""The PutRecords engine: fills a Kinesis stream to its shard limits without losing or silently dropping a record.

    writer = KinesisWriter(boto3.client("kinesis"), "streamlake-events", shards=1, failure_path=Path("failed.jsonl"))
    writer.add(data, partition_key, event_id=...)   # buffers; sends a batch when one is full or `linger` expired
    writer.flush()                                   # sends everything buffered
    writer.stats                                     # sent, failed, retries, latencies, ...

What it guarantees, and how:
- Requests respect the API: at most 500 records and 5 MiB per PutRecords (partition keys included), each record at
  most 1 MiB including its partition key. A record over the limit is never sent: it goes to the failure file.
- Pacing (`ShardPacer`): token buckets at 1,000 records/s and 1 MiB/s per shard holding only half a second's worth,
  plus the writer's own record of what it sent in the last second, so no one-second window - sliding or calendar -
  holds more than a shard takes; when Kinesis throttles anyway, the rate drops by a quarter and recovers by 5 % of
  the limit per second (AIMD). Before each request the writer sleeps exactly until it may send — no polling. A
  request is also never larger than one second of the stream's capacity, so one request cannot overrun a shard.
- Partial failures: PutRecords is not atomic. Entries rejected with ProvisionedThroughputExceededException or
  InternalFailure, and whole requests that fail with a throttling/5xx/connection error, are retried — only the
  failed entries, in their original order, with exponential backoff and jitter (`backoff_delay`) — before anything
  newer is sent. After `max_attempts` they are written to the failure file (JSON lines with the reason, the error
  code and the exact bytes) and counted as failed.
- Order per partition key: because retries go out before newer records, a key's records arrive in order whenever
  Kinesis rejects a key's entries as a suffix of the request (a throttled shard rejects everything after the point
  where it ran out of capacity). For orders that must hold under any failure pattern, `strict_order=True` puts at
  most one record per partition key in each request (slower with few keys).
- Exactly once from the producer's side: an acknowledged entry is never sent again. Only a request whose response
  was lost (read timeout, dropped connection) is resent whole, which can duplicate; every record carries an
  `event_id` and the processor deduplicates on it.

The writer is synchronous and single-threaded: requests of a producer go out one at a time, which is what keeps
retries ahead of newer records, and one process easily exceeds a shard's capacity (see docs/producers.md).
`clock` and `rng` are injectable, so tests observe pacing and backoff without waiting for them.
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

MIB = 1024 * 1024
MAX_RECORDS_PER_REQUEST = 500
MAX_BYTES_PER_REQUEST = 5 * MIB
MAX_RECORD_BYTES = 1 * MIB  # data + partition key
MAX_PARTITION_KEY_LENGTH = 256
SHARD_RECORDS_PER_SECOND = 1000
SHARD_BYTES_PER_SECOND = 1 * MIB

# Per-entry error codes PutRecords returns; both are transient.
RETRYABLE_ENTRY_ERRORS = frozenset({"ProvisionedThroughputExceededException", "InternalFailure"})
# Error codes of a whole failed request that are worth retrying.
RETRYABLE_REQUEST_ERRORS = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "InternalFailure",
        "InternalFailureException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "ThrottlingException",
        "Throttling",
        "LimitExceededException",
        "KMSThrottlingException",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalServerError",
    }
)

DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_BASE_BACKOFF = 0.1
DEFAULT_MAX_BACKOFF = 5.0
DEFAULT_LINGER = 0.2


class ProducerError(Exception):
    """A condition that stops a producer; the message is one line telling the user what to do."""


class KinesisWriteError(ProducerError):
    """Kinesis refused the writer for good (stream gone, access denied, unreachable after every retry)."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------------------------------------------------------
# Batching: pure functions, property-tested.
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchLimits:
    """Largest request the writer builds: records and bytes (data + partition keys)."""

    max_records: int = MAX_RECORDS_PER_REQUEST
    max_bytes: int = MAX_BYTES_PER_REQUEST

    def __post_init__(self) -> None:
        if not 1 <= self.max_records <= MAX_RECORDS_PER_REQUEST:
            raise ValueError(f"max_records must be 1..{MAX_RECORDS_PER_REQUEST}, got {self.max_records}")
        if not MAX_RECORD_BYTES <= self.max_bytes <= MAX_BYTES_PER_REQUEST:
            raise ValueError(f"max_bytes must be {MAX_RECORD_BYTES}..{MAX_BYTES_PER_REQUEST}, got {self.max_bytes}")

    @classmethod
    def for_shards(cls, shards: int) -> BatchLimits:
        """The API limits, further capped at one second of `shards` shards' write capacity."""
        return cls(
            max_records=min(MAX_RECORDS_PER_REQUEST, shards * SHARD_RECORDS_PER_SECOND),
            max_bytes=min(MAX_BYTES_PER_REQUEST, max(MAX_RECORD_BYTES, shards * SHARD_BYTES_PER_SECOND)),
        )


def record_size(data: bytes, partition_key: str) -> int:
    """Bytes a record counts for against the 1 MiB record and 5 MiB request limits."""
    return len(data) + len(partition_key.encode("utf-8"))


T = TypeVar("T")


def take_batch(
    pending: Sequence[T],
    limits: BatchLimits,
    size_of: Callable[[T], int],
    key_of: Callable[[T], str],
    one_per_key: bool = False,
) -> tuple[list[T], list[T]]:
    """Split `pending` into (next request, the rest), both in their original order.

    Takes records in order while the request stays within `limits`. Stops at the first record that does not fit, so
    no record overtakes an earlier one. With `one_per_key`, a record whose key is already in the request (and every
    later record of that key) waits for the next request. Every record must fit a request on its own
    (`size_of(r) <= limits.max_bytes`); the first pending record is always taken.
    """
    batch: list[T] = []
    rest: list[T] = []
    keys: set[str] = set()
    total = 0
    for index, item in enumerate(pending):
        size = size_of(item)
        if len(batch) >= limits.max_records or (batch and total + size > limits.max_bytes):
            rest.extend(pending[index:])
            break
        if one_per_key:
            key = key_of(item)
            if key in keys:
                rest.append(item)
                continue
            keys.add(key)
        batch.append(item)
        total += size
    return batch, rest


def plan_batches(
    items: Iterable[T],
    limits: BatchLimits,
    size_of: Callable[[T], int],
    key_of: Callable[[T], str],
    one_per_key: bool = False,
) -> list[list[T]]:
    """All requests `take_batch` would build for `items`, in sending order."""
    pending = list(items)
    batches = []
    while pending:
        batch, pending = take_batch(pending, limits, size_of, key_of, one_per_key)
        batches.append(batch)
    return batches


def backoff_delay(
    attempt: int, rng: random.Random, base: float = DEFAULT_BASE_BACKOFF, cap: float = DEFAULT_MAX_BACKOFF
) -> float:
    """Seconds to wait before retry number `attempt` (1, 2, ...): exponential, capped, with "equal jitter".

    Half of the exponential step is fixed, so waits really grow; the other half is random, so producers throttled
    together do not retry in lockstep.
    """
    step = min(cap, base * (2 ** (attempt - 1)))
    return step / 2 + rng.uniform(0, step / 2)


# ---------------------------------------------------------------------------------------------------------------
# Time and pacing.
# ---------------------------------------------------------------------------------------------------------------


class Clock(Protocol):
    """Monotonic time and sleeping; tests inject a fake one that only advances when slept on."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Sleep up to `seconds`, waking early when `event` is set; return whether it is set."""
        ...


class SystemClock:
    """The real monotonic clock."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def wait(self, event: threading.Event, seconds: float) -> bool:
        return event.wait(seconds) if seconds > 0 else event.is_set()


class TokenBucket:
    """`rate` tokens per second, holding at most `capacity`; starts full."""

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.updated = now

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def delay(self, amount: float, now: float) -> float:
        """Seconds until `amount` tokens are available (amounts above capacity wait for a full bucket)."""
        self._refill(now)
        missing = min(amount, self.capacity) - self.tokens
        return 0.0 if missing <= 0 else missing / self.rate

    def take(self, amount: float, now: float) -> None:
        self._refill(now)
        self.tokens -= amount

    def set_rate(self, rate: float, capacity: float, now: float) -> None:
        """Change the refill rate and capacity from `now` on (tokens earned so far are kept, up to `capacity`)."""
        self._refill(now)
        self.rate = rate
        self.capacity = capacity
        self.tokens = min(self.tokens, capacity)


# Pacing defaults: see ShardPacer.
DEFAULT_PACING_BURST = 0.5  # seconds of capacity the pacer may send at once (one 500-record request on one shard)
DEFAULT_WINDOW_MARGIN = 0.01  # seconds added to the one-second window, for clock and network skew
DEFAULT_THROTTLE_DECREASE = 0.75  # the share of the limit is multiplied by this on throttling...
DEFAULT_RECOVERY_PER_SECOND = 0.05  # ...and grows back by this share of the limit per second without throttling
DEFAULT_MIN_SHARE = 0.05
MAX_WINDOW_MARGIN = 0.1


class ShardPacer:
    """Keeps writes within `shards` shards' capacity (1,000 records/s and 1 MiB/s each) by any per-second measure.

    Three mechanisms, each for a different way of overrunning a shard:
    - Two token buckets (records, bytes) at the current share of the limit, holding only `burst` seconds' worth
      (default half a second: one full request on one shard). They spread requests evenly. A bucket holding a full
      second would let a sender put up to twice the limit into one second: a second's burst, then a second's refill.
    - The pacer's own record of what it sent in the last `1 + window_margin` seconds. Before a request it waits
      until the request fits into that window's budget, so no one-second window, sliding or calendar, ever holds
      more than the limit: this is what holds under a strict sliding-window shard.
    - AIMD adaptation. `throttled()` (the writer calls it when Kinesis refuses entries as over the limit) multiplies
      the share of the limit by `decrease` at most once per window; every second without throttling adds back
      `recovery_per_second` of the limit, up to 100 %. Another producer on the same shard, or a limit measured
      differently from what we assume, then costs a few throttled entries once instead of on every request.

    Before each request the pacer computes how long until all of them allow it and sleeps exactly that long.
    `waited` is the total time slept; `share` the current share of the limit (1.0 = the full limit).
    """

    def __init__(
        self,
        shards: int,
        clock: Clock,
        *,
        burst: float = DEFAULT_PACING_BURST,
        window_margin: float = DEFAULT_WINDOW_MARGIN,
        adaptive: bool = True,
        decrease: float = DEFAULT_THROTTLE_DECREASE,
        recovery_per_second: float = DEFAULT_RECOVERY_PER_SECOND,
        min_share: float = DEFAULT_MIN_SHARE,
        track_window: bool = True,
    ) -> None:
        if burst <= 0:
            raise ValueError(f"burst must be positive, got {burst}")
        if window_margin < 0:
            raise ValueError(f"window_margin must not be negative, got {window_margin}")
        if not 0 < decrease < 1 or not 0 < min_share <= 1 or recovery_per_second < 0:
            raise ValueError("need 0 < decrease < 1, 0 < min_share <= 1 and recovery_per_second >= 0")
        now = clock.now()
        self.clock = clock
        self.max_records = float(shards * SHARD_RECORDS_PER_SECOND)
        self.max_bytes = float(shards * SHARD_BYTES_PER_SECOND)
        self.burst = burst
        self.window = 1.0 + window_margin
        self.adaptive = adaptive
        self.decrease = decrease
        self.recovery_per_second = recovery_per_second
        self.min_share = min_share
        self.track_window = track_window
        self.share = 1.0
        # The buckets refill at the limit spread over the window, so in steady state they, not the window, set
        # the pace: requests go out evenly instead of in a burst each time the window empties.
        self.records = TokenBucket(self.max_records / self.window, self.max_records * burst, now)
        self.bytes = TokenBucket(self.max_bytes / self.window, self.max_bytes * burst, now)
        self.waited = 0.0
        self.decreases = 0
        self._sent: deque[tuple[float, int, int]] = deque()
        self._sent_records = 0
        self._sent_bytes = 0
        self._last_decrease = float("-inf")
        self._updated = now

    def acquire(self, records: int, size: int) -> None:
        """Block until the stream can take `records` records of `size` bytes in total, then spend them."""
        now = self.clock.now()
        self._recover(now)
        delay = max(
            self.records.delay(records, now), self.bytes.delay(size, now), self._window_delay(records, size, now)
        )
        if delay > 0:
            # The wait is computed exactly, so one sleep is enough; re-checking would only chase float rounding.
            self.waited += delay
            self.clock.sleep(delay)
            now = max(self.clock.now(), now + delay)
        self.records.take(records, now)
        self.bytes.take(size, now)
        if self.track_window:
            self._sent.append((now, records, size))
            self._sent_records += records
            self._sent_bytes += size

    def request_records(self) -> int:
        """Largest request worth sending now: one burst at the current share (smaller requests keep a lowered rate
        smooth instead of one request per window)."""
        return max(1, int(self.max_records * self.share * self.burst))

    def throttled(self, entries: int = 1, size: int = 0) -> None:
        """Kinesis refused `entries` entries (`size` bytes) of the last request as over the limit.

        Refused entries did not use the shard's capacity, so they leave the window. The share of the limit drops by
        `decrease` and the window widens (twice the margin, at most `MAX_WINDOW_MARGIN`): a throttle under our own
        window means the shard's clock and ours disagree by more than the margin (network latency varies). Both at
        most once per window: throttles within a window of the last decrease answer requests sent before it.
        """
        if entries <= 0:
            return
        if self.track_window and self._sent:
            sent_at, records, data = self._sent[-1]
            refund_records, refund_bytes = min(entries, records), min(size, data)
            self._sent[-1] = (sent_at, records - refund_records, data - refund_bytes)
            self._sent_records -= refund_records
            self._sent_bytes -= refund_bytes
        if not self.adaptive:
            return
        now = self.clock.now()
        self._recover(now)
        if now - self._last_decrease < self.window:
            return
        self._last_decrease = now
        self.decreases += 1
        # The margin only grows (a margin of MAX_WINDOW_MARGIN costs at most 9 % of the limit); one set above the
        # maximum by the caller is kept.
        margin = self.window - 1.0
        self.window = 1.0 + max(margin, min(MAX_WINDOW_MARGIN, max(2 * margin, DEFAULT_WINDOW_MARGIN)))
        self._set_share(max(self.min_share, self.share * self.decrease), now)

    def _recover(self, now: float) -> None:
        # Additive increase, starting one window after the last decrease (earlier answers predate it).
        since = max(self._updated, self._last_decrease + self.window)
        self._updated = max(self._updated, now)
        if self.share < 1.0 and now > since:
            self._set_share(min(1.0, self.share + self.recovery_per_second * (now - since)), now)

    def _set_share(self, share: float, now: float) -> None:
        self.share = share
        for bucket, limit in ((self.records, self.max_records), (self.bytes, self.max_bytes)):
            bucket.set_rate(limit * share / self.window, limit * share * self.burst, now)

    def _window_delay(self, records: int, size: int, now: float) -> float:
        """Seconds until `records`/`size` fit into what the window still allows (0 when they fit now)."""
        if not self.track_window:
            return 0.0
        sent = self._sent
        while sent and sent[0][0] <= now - self.window:
            _, old_records, old_bytes = sent.popleft()
            self._sent_records -= old_records
            self._sent_bytes -= old_bytes
        over_records = self._sent_records + records - self.max_records * self.share
        over_bytes = self._sent_bytes + size - self.max_bytes * self.share
        if over_records <= 0 and over_bytes <= 0:
            return 0.0
        # Wait for the oldest sends to leave the window until enough has left; a request larger than the whole
        # budget (possible at a low share) waits for an empty window.
        freed_records = freed_bytes = 0
        for sent_at, old_records, old_bytes in sent:
            freed_records += old_records
            freed_bytes += old_bytes
            if freed_records >= over_records and freed_bytes >= over_bytes:
                return max(0.0, sent_at + self.window - now)
        return max(0.0, sent[-1][0] + self.window - now) if sent else 0.0


# ---------------------------------------------------------------------------------------------------------------
# Records, acknowledgements, failures, statistics.
# ---------------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Entry:
    """A record on its way: bytes, key, optional event_id and caller's `meta`, when it was handed over."""

    data: bytes
    partition_key: str
    event_id: str | None
    meta: Any
    enqueued_at: float
    size: int
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class Ack:
    """A record Kinesis acknowledged: where it landed and how long it took from `add()` to the acknowledgement."""

    data: bytes
    partition_key: str
    event_id: str | None
    meta: Any
    shard_id: str
    sequence_number: str
    latency: float
    attempts: int


@dataclass(frozen=True, slots=True)
class Failure:
    """A record that was not written: why (`reason`), the last error code/message, and its bytes."""

    data: bytes
    partition_key: str
    event_id: str | None
    reason: str
    error_code: str | None
    error_message: str | None
    attempts: int

    def to_json(self, stream: str) -> str:
        line: dict[str, Any] = {
            "failed_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "stream": stream,
            "reason": self.reason,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "attempts": self.attempts,
            "partition_key": self.partition_key,
            "event_id": self.event_id,
            "data_base64": base64.b64encode(self.data).decode("ascii"),
        }
        try:
            line["data"] = self.data.decode("utf-8")  # readable copy; data_base64 is the exact bytes
        except UnicodeDecodeError:
            line["data"] = None
        return json.dumps(line, ensure_ascii=False)


def read_failures(path: Path) -> list[tuple[bytes, str, str | None]]:
    """(data, partition_key, event_id) of every record in a failure file, to send them again."""
    records = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                records.append((base64.b64decode(item["data_base64"]), item["partition_key"], item.get("event_id")))
            except (ValueError, KeyError, TypeError) as exc:
                raise ProducerError(f"{path}:{number}: not a failure-file line ({exc})") from None
    return records


class FailureFile:
    """JSON-lines file of records that could not be written; created on the first failure only."""

    def __init__(self, path: Path, stream: str) -> None:
        self.path = path
        self.stream = stream
        self.count = 0
        self._file: IO[str] | None = None

    def write(self, failure: Failure) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        self._file.write(failure.to_json(self.stream) + "\n")
        # Flushed per line: the file is the record of last resort, it must survive a crash right after.
        self._file.flush()
        self.count += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


@dataclass
class WriterStats:
    """Counters of a writer; latencies are seconds from `add()` to acknowledgement, one per sent record."""

    sent: int = 0
    failed: int = 0
    retries: int = 0  # entries sent again
    throttled: int = 0  # entries (or whole requests' entries) rejected as throttled
    requests: int = 0
    bytes_sent: int = 0
    backoffs: list[float] = field(default_factory=list)
    latencies: array = field(default_factory=lambda: array("d"))


# ---------------------------------------------------------------------------------------------------------------
# The writer.
# ---------------------------------------------------------------------------------------------------------------


def _error_of(exc: Exception) -> tuple[str, str]:
    """(code, message) of a botocore ClientError or a connection-level error."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        error = response["Error"]
        return str(error.get("Code", type(exc).__name__)), str(error.get("Message", exc))
    return type(exc).__name__, str(exc)


def _is_connection_error(exc: Exception) -> bool:
    from botocore.exceptions import ConnectionClosedError, ConnectTimeoutError, EndpointConnectionError

    return isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ConnectionClosedError)


def _is_read_timeout(exc: Exception) -> bool:
    from botocore.exceptions import ReadTimeoutError

    return isinstance(exc, ReadTimeoutError)


class KinesisWriter:
    """Buffers records and writes them with PutRecords; see the module docstring for what it guarantees.

    `client` is a boto3 Kinesis client (or anything with its `put_records`); `stream` a stream name or ARN;
    `shards` the stream's open shard count (for pacing); `pace=False` turns shard pacing off (for targets that
    enforce no limits, like moto); `pacer` replaces the default `ShardPacer(shards, clock)` (e.g. to tune it).
    `on_ack` is called with each `Ack`, in sending order; `on_failure` with each `Failure` (they are also written to
    `failure_path`).
    """

    def __init__(
        self,
        client: Any,
        stream: str,
        *,
        shards: int = 1,
        pace: bool = True,
        failure_path: Path | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        base_backoff: float = DEFAULT_BASE_BACKOFF,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
        linger: float = DEFAULT_LINGER,
        strict_order: bool = False,
        limits: BatchLimits | None = None,
        pacer: ShardPacer | None = None,
        on_ack: Callable[[Ack], None] | None = None,
        on_failure: Callable[[Failure], None] | None = None,
    ) -> None:
        if shards < 1:
            raise ValueError(f"shards must be at least 1, got {shards}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self.client = client
        self.stream = stream
        self._stream_param = {"StreamARN": stream} if stream.startswith("arn:") else {"StreamName": stream}
        self.clock: Clock = clock or SystemClock()
        self.rng = rng or random.Random()
        self.limits = limits or (BatchLimits.for_shards(shards) if pace else BatchLimits())
        self.pacer = (pacer or ShardPacer(shards, self.clock)) if pace else None
        self.max_attempts = max_attempts
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.linger = linger
        self.strict_order = strict_order
        self.failures = FailureFile(failure_path or default_failure_path(), stream)
        self.on_ack = on_ack
        self.on_failure = on_failure
        self.stats = WriterStats()
        self._buffer: deque[Entry] = deque()
        self._buffered_bytes = 0
        self._inflight: list[Entry] = []
        self._broken: KinesisWriteError | None = None

    # -- public -------------------------------------------------------------------------------------------------

    @property
    def buffered(self) -> int:
        """Records added but not yet sent."""
        return len(self._buffer)

    @property
    def failure_path(self) -> Path:
        return self.failures.path

    def add(self, data: bytes, partition_key: str, event_id: str | None = None, meta: Any = None) -> None:
        """Hand one record over. Sends when a request is full or the oldest record waited `linger` seconds.

        A record that can never be written (over 1 MiB with its key, or a bad key) goes straight to the failure
        file. Raises KinesisWriteError once the stream refused the writer for good.
        """
        if self._broken is not None:
            raise self._broken
        size = record_size(data, partition_key)
        entry = Entry(data, partition_key, event_id, meta, self.clock.now(), size)
        problem = _record_problem(data, partition_key, size)
        if problem is not None:
            self._fail([entry], "invalid_record", "ValidationException", problem)
            return
        self._buffer.append(entry)
        self._buffered_bytes += size
        while self._full():
            self._send_next()
        due = self.due_in()
        if due is not None and due <= 0:
            self.flush()

    def due_in(self) -> float | None:
        """Seconds until the oldest buffered record has waited `linger` (None when nothing is buffered)."""
        if not self._buffer:
            return None
        return self._buffer[0].enqueued_at + self.linger - self.clock.now()

    def flush(self) -> None:
        """Send everything buffered (retrying as needed); returns when each record is acknowledged or failed."""
        if self._broken is not None and self._buffer:
            raise self._broken
        while self._buffer:
            self._send_next()

    def abort(self, reason: str = "interrupted") -> int:
        """Give up: write every record in flight or buffered to the failure file. Returns how many.

        Records in flight may or may not have arrived (their request was cut short); the reason says so.
        """
        inflight, self._inflight = self._inflight, []
        buffered = list(self._buffer)
        self._buffer.clear()
        self._buffered_bytes = 0
        self._fail(inflight, f"{reason}; the request was in flight, so it may also have arrived", None, None)
        self._fail(buffered, f"{reason}; never sent", None, None)
        return len(inflight) + len(buffered)

    def close(self) -> None:
        """Close the failure file (does not flush: call flush() or abort() first)."""
        self.failures.close()

    # -- sending ------------------------------------------------------------------------------------------------

    def _request_limits(self) -> BatchLimits:
        # A pacer slowed down by throttling wants smaller requests, so they still go out evenly.
        if self.pacer is not None and self.pacer.request_records() < self.limits.max_records:
            return replace(self.limits, max_records=self.pacer.request_records())
        return self.limits

    def _full(self) -> bool:
        limits = self._request_limits()
        return len(self._buffer) >= limits.max_records or self._buffered_bytes >= limits.max_bytes

    def _send_next(self) -> None:
        limits = self._request_limits()
        batch, rest = take_batch(
            list(self._buffer), limits, lambda e: e.size, lambda e: e.partition_key, self.strict_order
        )
        self._buffer = deque(rest)
        self._buffered_bytes -= sum(e.size for e in batch)
        self._inflight = batch
        try:
            self._send(batch)
        except KinesisWriteError as exc:
            # Nothing can be written any more: account for every record we still hold, then stop. The request
            # in flight was refused (or already given up on), so its records did not arrive.
            self._broken = exc
            inflight, self._inflight = self._inflight, []
            self._fail(inflight, f"not written: {exc}", exc.code, None)
            self.abort(str(exc))
            raise
        self._inflight = []

    def _send(self, batch: list[Entry]) -> None:
        pending = batch
        attempt = 0
        while pending:
            attempt += 1
            for entry in pending:
                entry.attempts += 1
            if self.pacer is not None:
                self.pacer.acquire(len(pending), sum(e.size for e in pending))
            code, message, retry, unreachable = self._put(pending)
            if not retry:
                return
            if attempt >= self.max_attempts:
                self._inflight = []
                self._fail(retry, f"gave up after {attempt} attempts", code, message)
                if unreachable:
                    # The endpoint stopped answering: every later request would fail the same way, slowly.
                    raise KinesisWriteError(f"lost the connection to Kinesis ({code}: {message})", code)
                return
            pending = retry
            self._inflight = pending
            self.stats.retries += len(pending)
            delay = backoff_delay(attempt, self.rng, self.base_backoff, self.max_backoff)
            self.stats.backoffs.append(delay)
            self.clock.sleep(delay)

    def _put(self, pending: list[Entry]) -> tuple[str | None, str | None, list[Entry], bool]:
        """One PutRecords call; acks and fails what it can.

        Returns (last error code, its message, entries to retry, whether the endpoint could not be reached).
        """
        from botocore.exceptions import ClientError, NoCredentialsError

        self.stats.requests += 1
        try:
            response = self.client.put_records(
                Records=[{"Data": e.data, "PartitionKey": e.partition_key} for e in pending], **self._stream_param
            )
        except NoCredentialsError:
            raise KinesisWriteError(NO_CREDENTIALS_MESSAGE, "NoCredentials") from None
        except ClientError as exc:
            code, message = _error_of(exc)
            if code in RETRYABLE_REQUEST_ERRORS:
                if "Throughput" in code or "Throttl" in code or code == "LimitExceededException":
                    self.stats.throttled += len(pending)
                    if self.pacer is not None:
                        self.pacer.throttled(len(pending), sum(e.size for e in pending))
                return code, message, pending, False
            raise KinesisWriteError(explain_client_error(code, message, self.stream), code) from None
        except Exception as exc:
            if _is_connection_error(exc) or _is_read_timeout(exc):
                code, message = _error_of(exc)
                return code, message, pending, _is_connection_error(exc)
            raise
        now = self.clock.now()
        retry: list[Entry] = []
        code = message = None
        results = response.get("Records", [])
        if len(results) != len(pending):
            raise KinesisWriteError(f"PutRecords answered {len(results)} results for {len(pending)} records")
        throttled = throttled_bytes = 0
        for entry, result in zip(pending, results, strict=True):
            error_code = result.get("ErrorCode")
            if not error_code:
                self._ack(entry, result, now)
            elif error_code in RETRYABLE_ENTRY_ERRORS:
                if error_code == "ProvisionedThroughputExceededException":
                    throttled += 1
                    throttled_bytes += entry.size
                code, message = error_code, result.get("ErrorMessage")
                retry.append(entry)
            else:
                self._fail([entry], "rejected by Kinesis", error_code, result.get("ErrorMessage"))
        if throttled:
            self.stats.throttled += throttled
            if self.pacer is not None:
                # Retrying alone would keep knocking at the same limit: slow down the sending rate as well.
                self.pacer.throttled(throttled, throttled_bytes)
        return code, message, retry, False

    def _ack(self, entry: Entry, result: dict[str, Any], now: float) -> None:
        latency = now - entry.enqueued_at
        self.stats.sent += 1
        self.stats.bytes_sent += entry.size
        self.stats.latencies.append(latency)
        if self.on_ack is not None:
            self.on_ack(
                Ack(
                    entry.data,
                    entry.partition_key,
                    entry.event_id,
                    entry.meta,
                    str(result.get("ShardId", "")),
                    str(result.get("SequenceNumber", "")),
                    latency,
                    entry.attempts,
                )
            )

    def _fail(self, entries: Iterable[Entry], reason: str, code: str | None, message: str | None) -> None:
        for entry in entries:
            failure = Failure(entry.data, entry.partition_key, entry.event_id, reason, code, message, entry.attempts)
            self.failures.write(failure)
            self.stats.failed += 1
            if self.on_failure is not None:
                self.on_failure(failure)


def _record_problem(data: bytes, partition_key: str, size: int) -> str | None:
    if not partition_key or len(partition_key) > MAX_PARTITION_KEY_LENGTH:
        return f"partition key must be 1-{MAX_PARTITION_KEY_LENGTH} characters, got {len(partition_key)}"
    if size > MAX_RECORD_BYTES:
        return f"record is {size} bytes with its partition key; Kinesis takes at most {MAX_RECORD_BYTES}"
    return None


def default_failure_path() -> Path:
    """`failed-records-<UTC time>.jsonl` in the working directory (only created if something fails)."""
    return Path(f"failed-records-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.jsonl")


NO_CREDENTIALS_MESSAGE = (
    "no AWS credentials found: run `aws configure` or set AWS_PROFILE / AWS_ACCESS_KEY_ID, "
    "or pass --endpoint-url for local mode"
)


def explain_client_error(code: str, message: str, stream: str, region: str | None = None) -> str:
    """One line telling the user what an AWS error code means for the producer and what to do about it."""
    where = f" in region {region}" if region else ""
    if code == "ResourceNotFoundException":
        return (
            f"stream {stream!r} does not exist{where}: check --stream and --region "
            "(deploy with `npx cdk deploy`, or start local mode with `python -m local up`)"
        )
    if code in {"UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException"}:
        return f"AWS rejected the credentials ({code}): refresh them (`aws sso login`, `aws configure`) and retry"
    if code in {"AccessDeniedException", "AccessDenied"}:
        return f"access denied writing to {stream!r}{where}: the credentials need kinesis:PutRecords on it ({message})"
    if code == "ResourceInUseException":
        return f"stream {stream!r} is not active yet ({message}); wait until it is ACTIVE"
    return f"Kinesis refused the request ({code}): {message}"
