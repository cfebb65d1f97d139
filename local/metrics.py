"""Metrics in local mode: what CloudWatch would have received, stored in moto's CloudWatch.

In AWS the processor's Powertools `Metrics` prints Embedded Metric Format (EMF) JSON to stdout and CloudWatch Logs
extracts the metrics; the Lambda, Kinesis, Firehose and SQS services publish their own. Locally, `HandlerOutput`
catches what a handler prints on its own thread, `emf_metric_data` turns EMF lines into PutMetricData entries, and
the runners publish the service metrics they stand in for through `MetricsSink`.
"""

from __future__ import annotations

import io
import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TextIO

MAX_DATA_PER_CALL = 1000  # CloudWatch PutMetricData limit


class HandlerOutput(io.TextIOBase):
    """A stand-in for sys.stdout that keeps what one thread prints while `capture()` is active on it.

    Powertools' Logger keeps the stream it found at import, so this must be installed (`install()`) before the
    handler module is imported. Other threads write through to the real stdout untouched.
    """

    def __init__(self, target: TextIO) -> None:
        super().__init__()
        self._target = target
        self._local = threading.local()

    @classmethod
    def install(cls) -> HandlerOutput:
        if isinstance(sys.stdout, HandlerOutput):
            return sys.stdout
        sys.stdout = cls(sys.stdout)
        return sys.stdout

    def write(self, text: str) -> int:
        buffer = getattr(self._local, "buffer", None)
        if buffer is not None:
            return buffer.write(text)
        return self._target.write(text)

    def flush(self) -> None:
        self._target.flush()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._target, "encoding", "utf-8")

    @contextmanager
    def capture(self) -> Iterator[io.StringIO]:
        buffer = io.StringIO()
        self._local.buffer = buffer
        try:
            yield buffer
        finally:
            self._local.buffer = None


def emf_metric_data(line: str) -> list[tuple[str, dict[str, Any]]]:
    """(namespace, PutMetricData datum) for every metric in one EMF log line; [] for a line that is not EMF."""
    try:
        blob = json.loads(line)
    except ValueError:
        return []
    if not isinstance(blob, dict) or "_aws" not in blob:
        return []
    meta = blob["_aws"]
    timestamp = datetime.fromtimestamp(meta.get("Timestamp", 0) / 1000, tz=UTC)
    data = []
    for directive in meta.get("CloudWatchMetrics", []):
        dimension_sets = directive.get("Dimensions") or [[]]
        for metric in directive.get("Metrics", []):
            raw = blob.get(metric["Name"])
            values = raw if isinstance(raw, list) else [raw]
            values = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
            if not values:
                continue
            for dimension_names in dimension_sets:
                data.append(
                    (
                        directive["Namespace"],
                        {
                            "MetricName": metric["Name"],
                            "Dimensions": [{"Name": d, "Value": str(blob[d])} for d in dimension_names if d in blob],
                            "Timestamp": timestamp,
                            "Values": values,
                            "Unit": metric.get("Unit", "None"),
                        },
                    )
                )
    return data


def metric_datum(name: str, value: float, dimensions: dict[str, str], unit: str = "None") -> dict[str, Any]:
    """A PutMetricData entry stamped now."""
    return {
        "MetricName": name,
        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
        "Timestamp": datetime.now(UTC),
        "Value": float(value),
        "Unit": unit,
    }


class MetricsSink:
    """Publishes metric data to (moto's) CloudWatch, grouped by namespace, within the API's batch limit.

    With `flush_seconds` > 0, data is held and sent together once the oldest held datum is that old (or on
    `flush()`): the runners put a few data at a time, dozens of times a second at a shard's rate, and each
    PutMetricData cost about as much as the next (7 % of local mode's CPU). Every datum keeps the timestamp it was
    made with, so what CloudWatch stores is the same; it arrives up to `flush_seconds` later. Whoever reads the
    metrics calls `flush()` first (local.stack does before evaluating alarms and when a wait for the runners ends).
    """

    def __init__(self, cloudwatch_client: Any, flush_seconds: float = 0.0) -> None:
        self._client = cloudwatch_client
        self._lock = threading.Lock()
        self._flush_seconds = flush_seconds
        self._held: list[tuple[str, dict[str, Any]]] = []
        self._held_since = 0.0

    def put(self, namespace: str, name: str, value: float, dimensions: dict[str, str], unit: str = "None") -> None:
        self.put_data([(namespace, metric_datum(name, value, dimensions, unit))])

    def put_data(self, data: list[tuple[str, dict[str, Any]]]) -> None:
        if self._flush_seconds <= 0:
            self._send(data)
            return
        with self._lock:
            if not self._held:
                self._held_since = time.monotonic()
            self._held += data
            if time.monotonic() - self._held_since < self._flush_seconds and len(self._held) < MAX_DATA_PER_CALL:
                return
            data, self._held = self._held, []
        self._send(data)

    def flush(self) -> None:
        """Send what is held now."""
        with self._lock:
            data, self._held = self._held, []
        if data:
            self._send(data)

    def _send(self, data: list[tuple[str, dict[str, Any]]]) -> None:
        by_namespace: dict[str, list[dict[str, Any]]] = {}
        for namespace, datum in data:
            by_namespace.setdefault(namespace, []).append(datum)
        for namespace, items in by_namespace.items():
            for i in range(0, len(items), MAX_DATA_PER_CALL):
                self._client.put_metric_data(Namespace=namespace, MetricData=items[i : i + MAX_DATA_PER_CALL])

    def put_emf_output(self, text: str) -> list[str]:
        """Publish the EMF lines of a handler's output; return its other lines (the logs)."""
        data, logs = [], []
        for line in text.split("\n"):
            metric_data = emf_metric_data(line) if line.startswith("{") else []
            if metric_data:
                data += metric_data
            elif line.strip():
                logs.append(line)
        if data:
            self.put_data(data)
        return logs
