"""What the producers show a person: the live progress line, the final summary, and Ctrl-C handling.

Shared by the Kinesis and the Kafka producer so both look and stop the same way.
"""

from __future__ import annotations

import base64
import json
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO


@dataclass(frozen=True, slots=True)
class SentRecord:
    """A record the target acknowledged, with where it landed (shard + sequence, or topic + partition + offset)."""

    event_id: str | None
    key: str
    data: bytes
    kind: str
    family: str
    malformed: str | None
    position: dict[str, Any]
    latency: float

    @property
    def valid(self) -> bool:
        return self.malformed is None

    def to_json(self) -> str:
        return json.dumps(
            {
                "event_id": self.event_id,
                "key": self.key,
                "kind": self.kind,
                "family": self.family,
                "malformed": self.malformed,
                **self.position,
                "latency_ms": round(self.latency * 1000, 3),
                # readable copy; data_base64 is exact (deliberately malformed records may not be UTF-8)
                "data": self.data.decode("utf-8", errors="replace"),
                "data_base64": base64.b64encode(self.data).decode("ascii"),
            },
            ensure_ascii=False,
        )


@dataclass
class Summary:
    """The outcome of one producer run.

    `sent` counts acknowledged records (valid and deliberately malformed), `failed` records that were not written
    (they are in `failure_path`), `malformed_sent` the deliberately malformed records among `sent`. `records` holds
    every acknowledged record when the run kept them (`keep_records=True`). `error` is the one-line reason when the
    run stopped early because the target refused it; `interrupted` is True when Ctrl-C (or `stop`) ended it.
    """

    target: str
    sent: int = 0
    failed: int = 0
    retries: int | None = 0  # None when the client retries internally without telling (Kafka)
    throttled: int = 0
    generated: int = 0
    malformed_sent: int = 0
    elapsed: float = 0.0
    p50_ms: float | None = None
    p99_ms: float | None = None
    failure_path: str | None = None
    interrupted: bool = False
    aborted: bool = False
    error: str | None = None
    records: list[SentRecord] = field(default_factory=list, repr=False)

    @property
    def records_per_second(self) -> float:
        return self.sent / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def event_ids(self) -> list[str]:
        """event_ids of the valid records that were acknowledged, in sending order."""
        return [r.event_id for r in self.records if r.event_id is not None and r.malformed is None]

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.error is None and not self.aborted

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("records")
        data["records_per_second"] = round(self.records_per_second, 1)
        return data

    def format(self) -> str:
        """Human summary: one line, plus one line per problem."""
        latency = (
            f"; ack latency p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms"
            if self.p50_ms is not None and self.p99_ms is not None
            else ""
        )
        bad = f" ({self.malformed_sent} deliberately malformed)" if self.malformed_sent else ""
        lines = [
            f"{self.target}: sent {self.sent}{bad}, failed {self.failed}"
            + (f", retries {self.retries}" if self.retries is not None else "")
            + f" in {self.elapsed:.2f} s ({self.records_per_second:,.0f} records/s){latency}"
        ]
        if self.interrupted:
            lines.append("stopped by Ctrl-C after flushing what was buffered")
        if self.aborted:
            lines.append("aborted by a second Ctrl-C: records not confirmed were written to the failure file")
        if self.failure_path is not None and self.failed:
            lines.append(f"{self.failed} records were not written; they are in {self.failure_path}")
        if self.error is not None:
            lines.append(f"error: {self.error}")
        return "\n".join(lines)


def percentile_ms(latencies: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile of latencies in seconds, returned in milliseconds."""
    if not latencies:
        return None
    ordered = sorted(latencies)
    rank = min(len(ordered), max(1, math.ceil(fraction * len(ordered))))
    return ordered[rank - 1] * 1000


class Progress:
    """A live status line on a terminal (rewritten in place at most `interval` apart); silent otherwise,
    except one plain line every `log_interval` seconds so long runs in logs show they are alive."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        enabled: bool | None = None,
        interval: float = 0.25,
        log_interval: float = 30.0,
    ) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if enabled is None else enabled
        self.interval = interval
        self.log_interval = log_interval
        self._last = 0.0
        self._last_log = time.monotonic()
        self._started = time.monotonic()
        self._width = 0

    def restart(self) -> None:
        """Measure the displayed rate from now (call when sending starts, after connecting)."""
        self._started = time.monotonic()

    def update(self, sent: int, failed: int, retries: int, buffered: int, force: bool = False) -> None:
        now = time.monotonic()
        elapsed = max(now - self._started, 1e-9)
        text = f"sent {sent:,}  {sent / elapsed:,.0f}/s  failed {failed:,}  retries {retries:,}  buffered {buffered:,}"
        if self.tty:
            if not force and now - self._last < self.interval:
                return
            self._last = now
            self._width = max(self._width, len(text))
            self.stream.write("\r" + text.ljust(self._width))
            self.stream.flush()
        elif now - self._last_log >= self.log_interval:
            self._last_log = now
            self.stream.write(text + "\n")
            self.stream.flush()

    def message(self, text: str) -> None:
        """A line of its own, not overwritten by the status line."""
        self.clear()
        self.stream.write(text + "\n")
        self.stream.flush()

    def clear(self) -> None:
        if self.tty and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0


class StopOnInterrupt:
    """Ctrl-C handling for the CLIs: the first SIGINT (or SIGTERM) sets `event` so the producer stops generating,
    flushes and prints its summary; a second one raises KeyboardInterrupt to abort at once."""

    def __init__(self, event: threading.Event, on_first: Callable[[], None] | None = None) -> None:
        self.event = event
        self.on_first = on_first
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        self.event.set()
        if self.on_first is not None:
            self.on_first()

    def __enter__(self) -> StopOnInterrupt:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
