"""Bridge batches into a local lake, the way the pipeline lands them: bridge plan -> stream record -> Firehose
transformation -> Parquet under the transformation's partitioning key and an hour path.

Tests then run the saved queries on that lake with athena_queries.local, the same SQL as the Athena named queries.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lambdas.bridge.core import BatchPlan, plan_batch
from lambdas.bridge.mapping import KafkaMessage, Route
from lambdas.bridge.wire import default_registry
from lambdas.transform.handler import OK, transform
from local.firehose import _parquet, to_row
from streamlake import lake

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def bridge(messages: Sequence[KafkaMessage], topics: Sequence[str], decoder=None) -> BatchPlan:
    """One bridge batch over CDC `topics` (routed to the change family)."""
    routes = {topic: Route("change") for topic in topics}
    return plan_batch(messages, routes, default_registry(), NOW, decoder)


def land(lake_dir: Path, plans: Sequence[BatchPlan]) -> int:
    """Write every plan's entries through the transformation into Parquet, one object per plan and partition,
    each plan in its own arrival hour (so a table's changes span partitions); returns the rows written."""
    columns = lake.table_columns(None)
    written = 0
    for index, plan in enumerate(plans):
        by_partition: dict[str, list[dict]] = {}
        for entry in plan.entries:
            result, data, partition = transform(entry.data, NOW)
            assert result == OK, data
            by_partition.setdefault(partition, []).append(to_row(json.loads(data), columns))
        arrival = NOW + timedelta(hours=index)
        for partition, rows in by_partition.items():
            prefix = f"{lake.table_prefix(partition)}{arrival:year=%Y/month=%m/day=%d/hour=%H}/"
            path = lake_dir / prefix / f"batch-{index:05d}{lake.PARQUET_EXTENSION}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(_parquet(rows, columns))
            written += len(rows)
    return written
