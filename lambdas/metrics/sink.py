"""Where closed windows go: one lake object per window (the `window_metrics` table) and EMF metrics per entity.

Both are idempotent per window, as the engine requires (`lambdas.metrics.windows.apply_batch`): the lake object's
key is the window's start, and its bytes depend only on the window's content (gzip with a fixed mtime, rows in a
fixed order), so a window emitted again after a crash overwrites itself with the same bytes. EMF metrics are the
exception CloudWatch allows for: a re-emitted window adds the same data points at the same timestamp, which the
dashboard's Average and Maximum statistics do not change.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from lambdas.metrics import metric_names
from lambdas.metrics.windows import Aggregate, WindowKey, WindowSettings, summary

WINDOW_METRICS_PREFIX = "metrics/window_metrics/"
WINDOW_METRICS_TABLE = "window_metrics"

# Columns of the `window_metrics` Glue table (GZIP JSON lines, partitioned by the hour the window starts in): every
# key `summary` can write, with its Glue type. A family's row leaves the other families' columns out (NULL).
WINDOW_METRICS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("family", "string"),
    ("dimension", "string"),
    ("entity", "string"),
    ("window_start", "string"),
    ("window_end", "string"),
    ("count", "bigint"),
    ("min_temperature", "double"),
    ("avg_temperature", "double"),
    ("max_temperature", "double"),
    ("min_humidity", "double"),
    ("avg_humidity", "double"),
    ("max_humidity", "double"),
    ("above_threshold", "bigint"),
    ("count_debug", "bigint"),
    ("count_info", "bigint"),
    ("count_warning", "bigint"),
    ("count_error", "bigint"),
    ("count_critical", "bigint"),
    ("error_rate", "double"),
    ("course_id", "string"),
    ("event_type", "string"),
    ("grades", "bigint"),
    ("avg_grade", "double"),
    ("failing_rate", "double"),
)


def window_object_key(start_ms: int) -> str:
    """Lake key of one closed window: partitioned by the hour the window starts in (Hive style, like processed/)."""
    start = datetime.fromtimestamp(start_ms / 1000, UTC)
    return (
        f"{WINDOW_METRICS_PREFIX}year={start:%Y}/month={start:%m}/day={start:%d}/hour={start:%H}/"
        f"window-{start_ms}.json.gz"
    )


def window_rows(entities: Mapping[WindowKey, Aggregate], settings: WindowSettings) -> list[dict[str, Any]]:
    """The window's KPI rows in a fixed order (family, dimension, entity)."""
    ordered = sorted(entities.items(), key=lambda item: (item[0].family, item[0].dimension, item[0].entity))
    return [summary(key, agg, settings) for key, agg in ordered]


def window_object(rows: list[dict[str, Any]]) -> bytes:
    """GZIP JSON lines, byte-identical for identical rows."""
    text = "".join(json.dumps(row, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n" for row in rows)
    return gzip.compress(text.encode("utf-8"), mtime=0)


def emf_documents(start_ms: int, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """CloudWatch Embedded Metric Format documents for one closed window, stamped with the window's start."""
    docs = []
    per_event_type: dict[str, int] = {}
    for row in rows:
        if row["dimension"] == "location":
            metrics = {
                metric_names.AVG_TEMPERATURE: (row["avg_temperature"], "None"),
                metric_names.MAX_TEMPERATURE: (row["max_temperature"], "None"),
                metric_names.READINGS_ABOVE_THRESHOLD: (row["above_threshold"], "Count"),
            }
            docs.append(emf_document(start_ms, {"location": row["entity"]}, metrics))
        elif row["dimension"] == "service":
            metrics = {
                metric_names.ERROR_RATE: (100.0 * row["error_rate"], "Percent"),
                metric_names.LOG_RECORDS: (row["count"], "Count"),
            }
            docs.append(emf_document(start_ms, {"service": row["entity"]}, metrics))
        elif row["dimension"] == "course_event":
            per_event_type[row["event_type"]] = per_event_type.get(row["event_type"], 0) + row["count"]
    for event_type, count in sorted(per_event_type.items()):
        docs.append(emf_document(start_ms, {"event_type": event_type}, {metric_names.STUDENT_EVENTS: (count, "Count")}))
    return docs


def emf_document(
    timestamp_ms: int, dimensions: dict[str, str], metrics: dict[str, tuple[float, str]]
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": metric_names.NAMESPACE,
                    "Dimensions": [["service", *dimensions]],
                    "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in metrics.items()],
                }
            ],
        },
        "service": metric_names.SERVICE,
        **dimensions,
    }
    for name, (value, _) in metrics.items():
        doc[name] = value
    return doc


class WindowSink:
    """Writes a closed window to the lake and prints its EMF documents (`write` is print in Lambda)."""

    def __init__(self, s3: Any, bucket: str, settings: WindowSettings, write: Callable[[str], None] = print) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._settings = settings
        self._write = write

    def __call__(self, start_ms: int, entities: Mapping[WindowKey, Aggregate]) -> None:
        rows = window_rows(entities, self._settings)
        self._s3.put_object(
            Bucket=self._bucket,
            Key=window_object_key(start_ms),
            Body=window_object(rows),
            ContentType="application/x-ndjson",
        )
        for doc in emf_documents(start_ms, rows):
            self._write(json.dumps(doc, separators=(",", ":")))
