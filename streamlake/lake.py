"""Layout of the S3 data lake: prefixes, partitioning and the family routing rule.

The deployed Firehose (stacks/delivery.py), the Glue tables (stacks/catalog.py) and the local deliverer all build
their paths from this module, so what is written is what the tables' partition projection reads.

    raw/          exact source records, GZIP JSON lines (Firehose S3 backup), kept for replay and audit
    processed/    valid records, normalised and converted to Parquet, partitioned by family and hour of arrival (Glue)
    errors/       records Firehose's transformation rejected (processing-failed/) or it could not convert
    quarantine/   records the processor Lambda rejected, with the reason, shard and sequence number
"""

from __future__ import annotations

from datetime import datetime

from lambdas.schemas import FAMILIES, SOURCE_TABLE_PARTITION, all_lake_columns, lake_columns

RAW_PREFIX = "raw/"
PROCESSED_PREFIX = "processed/"
ERRORS_PREFIX = "errors/"
QUARANTINE_PREFIX = "quarantine/"

PARQUET_EXTENSION = ".parquet"

# The change family (CDC) is also partitioned by source table, below family and above the hour, so a table's
# current state reads that table's changes only: processed/family=change/source_table=<t>/year=/month=/day=/hour=/.
# Its table (`table_changes`) has its own layout, so it is not one of the `all_events` families.
CHANGE_FAMILY = "change"
SOURCE_TABLE_KEY = SOURCE_TABLE_PARTITION
# Every record in processed/ passed the event contract (the Firehose transformation, lambdas/transform), so the
# family partitions are exactly the contract's families.
PARTITION_FAMILIES: tuple[str, ...] = tuple(f for f in FAMILIES if f != CHANGE_FAMILY)
# The Firehose transformation Lambda returns each record's family as this dynamic partitioning key.
FAMILY_PARTITION_KEY = "family"

# Hour-of-arrival partitions, Hive style so Athena, DuckDB and Spark all recognise them.
TIME_PARTITION_KEYS: tuple[str, ...] = ("year", "month", "day", "hour")
_FIREHOSE_TIME = "year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
FIRST_PARTITION_YEAR = 2024

FIREHOSE_PROCESSED_PREFIX = (
    f"{PROCESSED_PREFIX}family=!{{partitionKeyFromLambda:{FAMILY_PARTITION_KEY}}}/{_FIREHOSE_TIME}"
)
FIREHOSE_RAW_PREFIX = f"{RAW_PREFIX}{_FIREHOSE_TIME}"
FIREHOSE_ERROR_PREFIX = f"{ERRORS_PREFIX}!{{firehose:error-output-type}}/{_FIREHOSE_TIME}"


def family_partition_keys(family: str) -> tuple[str, ...]:
    """Partition columns of a family's table between the family and the hour (source_table for changes)."""
    return (SOURCE_TABLE_KEY,) if family == CHANGE_FAMILY else ()


def table_prefix(family: str) -> str:
    """Prefix holding one family's Parquet files (a Glue table's location)."""
    return f"{PROCESSED_PREFIX}family={family}/"


def location_template(bucket_url: str, family: str | None) -> str:
    """Partition projection `storage.location.template`: one family's table, or all families when None."""
    family_part = f"family={family}/" if family else "family=${family}/"
    family_part += "".join(f"{key}=${{{key}}}/" for key in family_partition_keys(family or ""))
    time_part = "/".join(f"{key}=${{{key}}}" for key in TIME_PARTITION_KEYS)
    return f"{bucket_url.rstrip('/')}/{PROCESSED_PREFIX}{family_part}{time_part}/"


def partition_path(family: str, arrival: datetime) -> str:
    """The prefix the deployed Firehose writes a record of `family` arriving at `arrival` (UTC) to."""
    return f"{table_prefix(family)}year={arrival:%Y}/month={arrival:%m}/day={arrival:%d}/hour={arrival:%H}/"


def table_columns(family: str | None) -> list[tuple[str, str]]:
    """(column, Glue type) of a family's table, or of all families when None (the Parquet schema Firehose writes).

    `family` is not a data column: the partition path carries it (normalised, including the lab shape's default);
    nor is `source_table`, which partitions the change family.
    """
    columns = lake_columns(family) if family else all_lake_columns()
    return [(name, glue_type) for name, glue_type in columns if name not in ("family", SOURCE_TABLE_KEY)]
