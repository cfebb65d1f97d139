"""Glue catalog of the lake: one database, one table per event family and one across all families.

Tables use partition projection over the hour-of-arrival partitions Firehose writes, so new data is queryable
without crawlers or `MSCK REPAIR TABLE`. Columns come from the event contract in lambdas/schemas.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aws_cdk import Token
from aws_cdk import aws_glue as glue
from aws_cdk import aws_s3 as s3
from constructs import Construct

from lambdas.metrics.sink import WINDOW_METRICS_COLUMNS, WINDOW_METRICS_PREFIX, WINDOW_METRICS_TABLE
from lambdas.schemas import FAMILIES, FAMILY_TABLES
from streamlake import lake

ALL_EVENTS_TABLE = "all_events"
_GLUE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,254}$")
_GLUE_TYPES = {
    "string": glue.Schema.STRING,
    "double": glue.Schema.DOUBLE,
    "int": glue.Schema.INTEGER,
    "bigint": glue.Schema.BIG_INT,
    "boolean": glue.Schema.BOOLEAN,
}


@dataclass(frozen=True)
class LakeCatalogProps:
    database_name: str
    lake_bucket: s3.IBucket

    def __post_init__(self) -> None:
        if not Token.is_unresolved(self.database_name) and not _GLUE_NAME.match(self.database_name):
            raise ValueError(f"database_name must be lowercase letters, digits and '_', got {self.database_name!r}")


def _time_projection() -> dict[str, glue.PartitionProjectionConfiguration]:
    # year is a date projection ending at NOW so an unfiltered query only enumerates years that can hold data.
    return {
        "year": glue.PartitionProjectionConfiguration.date(
            min=str(lake.FIRST_PARTITION_YEAR),
            max="NOW",
            format="yyyy",
            step=glue.DateProjectionStep(interval=1, interval_unit=glue.DateIntervalUnit.YEARS),
        ),
        "month": glue.PartitionProjectionConfiguration.integer(min=1, max=12, digits=2),
        "day": glue.PartitionProjectionConfiguration.integer(min=1, max=31, digits=2),
        "hour": glue.PartitionProjectionConfiguration.integer(min=0, max=23, digits=2),
    }


_DESCRIPTIONS = {
    "change": "change data capture: one row per Debezium change (Parquet, partitioned by source table and hour of "
    "arrival); the current state of a table is athena_queries/cdc_current_state.sql",
}


class LakeCatalog(Construct):
    """Attributes: `database`, `tables` (family -> S3Table), `all_events` (the schema Firehose converts with) and
    `window_metrics` (closed event-time windows, written by the window-metrics function)."""

    def __init__(self, scope: Construct, construct_id: str, props: LakeCatalogProps) -> None:
        super().__init__(scope, construct_id)
        self.database = glue.Database(
            self, "Database", database_name=props.database_name, description="streamlake event lake"
        )
        time_keys = [glue.Column(name=k, type=glue.Schema.STRING) for k in lake.TIME_PARTITION_KEYS]
        bucket_url = f"s3://{props.lake_bucket.bucket_name}"

        self.tables: dict[str, glue.S3Table] = {}
        for family in FAMILIES:
            # table_changes is also partitioned by source table (injected: a query names the table it reads, as
            # the current-state queries do, and Athena lists only that table's prefixes).
            extra_keys = lake.family_partition_keys(family)
            self.tables[family] = self._table(
                f"{family.capitalize()}Table",
                name=FAMILY_TABLES[family],
                description=_DESCRIPTIONS.get(family, f"{family} events (Parquet, partitioned by hour of arrival)"),
                columns=lake.table_columns(family),
                partition_keys=[glue.Column(name=k, type=glue.Schema.STRING) for k in extra_keys] + time_keys,
                projection={
                    **{k: glue.PartitionProjectionConfiguration.injected() for k in extra_keys},
                    **_time_projection(),
                },
                s3_prefix=lake.table_prefix(family),
                template=lake.location_template(bucket_url, family),
                bucket=props.lake_bucket,
            )

        self.all_events = self._table(
            "AllEventsTable",
            name=ALL_EVENTS_TABLE,
            description="every family in one table; its schema is what Firehose converts records to Parquet with",
            columns=lake.table_columns(None),
            partition_keys=[glue.Column(name="family", type=glue.Schema.STRING), *time_keys],
            projection={
                "family": glue.PartitionProjectionConfiguration.enum(values=list(lake.PARTITION_FAMILIES)),
                **_time_projection(),
            },
            s3_prefix=lake.PROCESSED_PREFIX,
            template=lake.location_template(bucket_url, None),
            bucket=props.lake_bucket,
        )

        time_template = "/".join(f"{key}=${{{key}}}" for key in lake.TIME_PARTITION_KEYS)
        self.window_metrics = self._table(
            "WindowMetricsTable",
            name=WINDOW_METRICS_TABLE,
            description="closed event-time windows: KPIs per sensor, location, service, course and event type "
            "(GZIP JSON lines, partitioned by the hour the window starts in)",
            columns=list(WINDOW_METRICS_COLUMNS),
            partition_keys=time_keys,
            projection=_time_projection(),
            s3_prefix=WINDOW_METRICS_PREFIX,
            template=f"{bucket_url}/{WINDOW_METRICS_PREFIX}{time_template}/",
            bucket=props.lake_bucket,
            data_format=glue.DataFormat.JSON,
        )

    def _table(
        self,
        construct_id: str,
        *,
        name: str,
        description: str,
        columns: list[tuple[str, str]],
        partition_keys: list[glue.Column],
        projection: dict[str, glue.PartitionProjectionConfiguration],
        s3_prefix: str,
        template: str,
        bucket: s3.IBucket,
        data_format: glue.DataFormat = glue.DataFormat.PARQUET,
    ) -> glue.S3Table:
        return glue.S3Table(
            self,
            construct_id,
            database=self.database,
            table_name=name,
            description=description,
            storage=glue.S3TableStorage.from_bucket(bucket),
            s3_prefix=s3_prefix,
            data_format=data_format,
            columns=[glue.Column(name=col, type=_GLUE_TYPES[glue_type]) for col, glue_type in columns],
            partition_keys=partition_keys,
            partition_projection=projection,
            parameters={"storage.location.template": template},
        )
