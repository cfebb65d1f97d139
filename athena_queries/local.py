"""Run Athena (Trino) SQL on DuckDB over a local copy of the lake, or refuse with the reason when it would differ.

The local lake is a directory laid out like the lake bucket (local/firehose.py's LakeWriter mirrors it):
processed/family=<f>/year=/month=/day=/hour=/*.parquet. Each Glue table becomes a DuckDB view with exactly the Glue
table's columns (streamlake.lake.table_columns) plus its partition columns as strings, as Athena's projection types
them, so `SELECT *` and `month = '01'` behave as on Athena, and filters on partition columns prune directories the
way partition projection prunes S3 prefixes.

Bytes scanned are counted from DuckDB's file-system log: the bytes of every read DuckDB made from a lake file
while running the query, the closest local equivalent of Athena's DataScannedInBytes (footers and the column chunks
of the columns read, in the partitions left after pruning).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from sqlglot import exp

from athena_queries import trino_sql
from athena_queries.trino_functions import UDFS
from athena_queries.trino_sql import (
    REFUSED_AT_RUN_TIME,
    REFUSED_FUNCTIONS,
    LocalQueryError,
    UnsupportedConstructError,
)
from lambdas.metrics.sink import WINDOW_METRICS_COLUMNS, WINDOW_METRICS_PREFIX, WINDOW_METRICS_TABLE
from lambdas.schemas import FAMILIES, FAMILY_TABLES
from streamlake import lake

__all__ = [
    "ALL_EVENTS_TABLE", "LAKE_TABLES", "UNSUPPORTED_FUNCTIONS", "LakeNames", "LocalQueryError", "LocalRun",
    "UnsupportedConstructError", "check_supported", "connect", "default_names", "execute", "prepare", "run",
    "transpile",
]  # fmt: skip

ALL_EVENTS_TABLE = "all_events"  # stacks/catalog.py's table across families (kept equal by a test)
_DUCKDB_TYPES = {"string": "VARCHAR", "double": "DOUBLE", "int": "INTEGER", "bigint": "BIGINT", "boolean": "BOOLEAN"}
_TRINO_TYPES = {"string": "varchar", "double": "double", "int": "integer", "bigint": "bigint", "boolean": "boolean"}
LAKE_TABLES: tuple[str, ...] = (*(FAMILY_TABLES[f] for f in FAMILIES), ALL_EVENTS_TABLE, WINDOW_METRICS_TABLE)
# Closed event-time windows, written by the window-metrics function (lambdas/metrics) as GZIP JSON lines.
_WINDOW_FILES = f"{WINDOW_METRICS_PREFIX}year=*/month=*/day=*/hour=*/*.json.gz"

# Kept under its old name for callers: the functions refused with a reason (any other unverified one is refused too).
UNSUPPORTED_FUNCTIONS = REFUSED_FUNCTIONS


@dataclass(frozen=True)
class LocalRun:
    """What DuckDB returned: column names, rows (timestamps as naive UTC datetimes) and bytes read from the lake."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    bytes_scanned: int
    elapsed_seconds: float
    duckdb_sql: str
    files_read: dict[str, int] = field(default_factory=dict)  # path -> column-data bytes read (footer excluded)


@dataclass(frozen=True)
class LakeNames:
    """The names Athena knows the lake by: the Glue database tables may be qualified with, and the S3 bucket."""

    database: str
    bucket: str


def default_names() -> LakeNames:
    """The Glue database and lake bucket names local mode uses for this checkout's config (cdk.json)."""
    from streamlake.config import load_config

    prefix = load_config().prefix
    return LakeNames(database=prefix.replace("-", "_"), bucket=f"{prefix}-lake")


def _schema() -> dict[str, dict[str, str]]:
    """Glue table -> column -> Trino type, with the partition columns (strings), for type inference."""
    schema = {}
    for table, family in [(FAMILY_TABLES[f], f) for f in FAMILIES] + [(ALL_EVENTS_TABLE, None)]:
        columns = {c: _TRINO_TYPES[t] for c, t in lake.table_columns(family)}
        schema[table] = {**columns, **{k: "varchar" for k in _partition_keys(family)}}
    windows = {c: _TRINO_TYPES[t] for c, t in WINDOW_METRICS_COLUMNS}
    schema[WINDOW_METRICS_TABLE] = {**windows, **{k: "varchar" for k in lake.TIME_PARTITION_KEYS}}
    return schema


def check_supported(sql: str) -> exp.Expression:
    """Parse Trino `sql` and return its one statement; UnsupportedConstructError naming what cannot run locally."""
    statement = trino_sql.parse(sql)
    trino_sql.check_functions(statement)
    return statement


def transpile(sql: str, database: str | None = None) -> str:
    """Trino SQL as DuckDB SQL over the local views (see athena_queries/trino_sql.py), or a refusal."""
    return _translate(sql, database).duckdb_sql


def _translate(sql: str, database: str | None) -> trino_sql.Translation:
    databases = {database or default_names().database}
    return trino_sql.translate(sql, databases=databases, schema=_schema(), lake_tables=set(LAKE_TABLES))


def _partition_keys(family: str | None) -> list[str]:
    """Partition columns of a table: `family` for all_events, the family's own (table_changes: source_table), hour."""
    return (
        ([] if family else [lake.FAMILY_PARTITION_KEY])
        + list(lake.family_partition_keys(family or ""))
        + list(lake.TIME_PARTITION_KEYS)
    )


def _files_pattern(lake_dir: Path, family: str | None) -> tuple[str, list[Path]]:
    prefix = lake.table_prefix(family) if family else lake.PROCESSED_PREFIX
    depth = len(_partition_keys(family))
    pattern = (lake_dir / prefix).as_posix().rstrip("/") + "/" + "*/" * depth + f"*{lake.PARQUET_EXTENSION}"
    return pattern, sorted(lake_dir.glob(prefix + "*/" * depth + f"*{lake.PARQUET_EXTENSION}"))


def _view_sql(lake_dir: Path, family: str | None, *, hidden: bool = False) -> str:
    """SELECT exposing a Glue table's columns (typed as in Glue) and its partition columns over the local files.

    With `hidden`, also Athena's hidden columns "$path", "$file_size" and "$file_modified_time" of the file each
    row came from (joined from sl_lake_files, which connect() fills from the files' metadata).
    """
    pattern, files = _files_pattern(lake_dir, family)
    partition_keys = _partition_keys(family)
    data_columns = lake.table_columns(family)
    hidden_typed = ['CAST(NULL AS VARCHAR) AS "$path"', 'CAST(NULL AS BIGINT) AS "$file_size"']
    hidden_typed.append('CAST(NULL AS TIMESTAMPTZ) AS "$file_modified_time"')
    if not files:
        # No files yet: DuckDB's read_parquet fails on an empty glob, Athena returns no rows.
        typed = [f'CAST(NULL AS {_DUCKDB_TYPES[t]}) AS "{c}"' for c, t in data_columns]
        typed += [f'CAST(NULL AS VARCHAR) AS "{k}"' for k in partition_keys]
        return f"SELECT {', '.join(typed + (hidden_typed if hidden else []))} WHERE false"
    hive_types = ", ".join(f"'{k}': 'VARCHAR'" for k in partition_keys)
    # Files carry every family's columns (Firehose converts with all_events' schema); select the table's own, and
    # cast so a column that is all NULL in one file still has the Glue type. Every file has that one schema, so no
    # union_by_name: it would read every file's footer while binding, even in partitions the filter prunes.
    select = [f'CAST(d."{c}" AS {_DUCKDB_TYPES[t]}) AS "{c}"' for c, t in data_columns] + [
        f'd."{k}"' for k in partition_keys
    ]
    quoted = pattern.replace("'", "''")
    source = (
        f"read_parquet('{quoted}', hive_partitioning = true, hive_types = {{{hive_types}}}"
        f"{', filename = true' if hidden else ''}) AS d"
    )
    if not hidden:
        return f"SELECT {', '.join(select)} FROM {source}"
    select += ['f.s3_path AS "$path"', 'f.size AS "$file_size"', 'f.modified AS "$file_modified_time"']
    return f"SELECT {', '.join(select)} FROM {source} JOIN sl_lake_files AS f ON f.local_path = d.filename"


def _window_view_sql(lake_dir: Path, *, hidden: bool = False) -> str:
    """window_metrics over the local lake: the JSON lines typed as the Glue table, with the hour partitions."""
    files = sorted(lake_dir.glob(_WINDOW_FILES))
    keys = list(lake.TIME_PARTITION_KEYS)
    hidden_typed = ['CAST(NULL AS VARCHAR) AS "$path"', 'CAST(NULL AS BIGINT) AS "$file_size"']
    hidden_typed.append('CAST(NULL AS TIMESTAMPTZ) AS "$file_modified_time"')
    if not files:
        typed = [f'CAST(NULL AS {_DUCKDB_TYPES[t]}) AS "{c}"' for c, t in WINDOW_METRICS_COLUMNS]
        typed += [f'CAST(NULL AS VARCHAR) AS "{k}"' for k in keys]
        return f"SELECT {', '.join(typed + (hidden_typed if hidden else []))} WHERE false"
    columns = ", ".join(f"'{c}': '{_DUCKDB_TYPES[t]}'" for c, t in WINDOW_METRICS_COLUMNS)
    hive_types = ", ".join(f"'{k}': 'VARCHAR'" for k in keys)
    quoted = (lake_dir.as_posix().rstrip("/") + "/" + _WINDOW_FILES).replace("'", "''")
    source = (
        f"read_json('{quoted}', format = 'newline_delimited', columns = {{{columns}}}, hive_partitioning = true, "
        f"hive_types = {{{hive_types}}}{', filename = true' if hidden else ''}) AS d"
    )
    select = [f'd."{c}"' for c, _ in WINDOW_METRICS_COLUMNS] + [f'd."{k}"' for k in keys]
    if not hidden:
        return f"SELECT {', '.join(select)} FROM {source}"
    select += ['f.s3_path AS "$path"', 'f.size AS "$file_size"', 'f.modified AS "$file_modified_time"']
    return f"SELECT {', '.join(select)} FROM {source} JOIN sl_lake_files AS f ON f.local_path = d.filename"


def prepare(con: duckdb.DuckDBPyConnection) -> None:
    """Session settings and functions every connection running translated queries needs (also bench's)."""
    # Athena evaluates in UTC; DuckDB would use the machine's zone for TIMESTAMPTZ arithmetic and formatting.
    con.execute("SET TimeZone = 'UTC'")
    # Trino divides two integers as integers (7 / 2 is 3). The translator knows the types of literals and lake
    # columns, not always of CTE or VALUES columns (count(*) AS n, then n / 2): DuckDB decides at bind time.
    con.execute("SET integer_division = true")
    register_functions(con)


def register_functions(con: duckdb.DuckDBPyConnection) -> None:
    """The sl_* functions and macros translated queries call (athena_queries/trino_functions.py, trino_sql.py)."""
    for name, (function, parameters, returns) in UDFS.items():
        # Each function handles NULL arguments itself, as Trino documents them.
        con.create_function(f"sl_{name}", function, parameters, returns, null_handling="special")
    for macro in trino_sql.MACROS:
        con.execute(macro)


def connect(lake_dir: Path, database: str | None = None, bucket: str | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with one view per Glue table over `lake_dir`, UTC session time zone, like Athena.

    With `database`, the views also exist as `database.table` (translated queries drop the qualifier anyway).
    `bucket` is the S3 bucket "$path" names (default: local mode's lake bucket for this config).
    """
    con = duckdb.connect()
    prepare(con)
    # Athena reads from S3 on every query; DuckDB's in-memory cache of file blocks would hide repeated reads (the
    # footers read while binding, earlier runs) from the bytes-scanned count.
    con.execute("SET enable_external_file_cache = false")
    _register_files(con, lake_dir, bucket or default_names().bucket)
    tables = [(FAMILY_TABLES[f], f) for f in FAMILIES] + [(ALL_EVENTS_TABLE, None)]
    schemas = ["main"] + ([database] if database and database != "main" else [])
    for schema in schemas:
        if schema != "main":
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        for table, family in tables:
            con.execute(f'CREATE OR REPLACE VIEW "{schema}"."{table}" AS {_view_sql(lake_dir, family)}')
        con.execute(f'CREATE OR REPLACE VIEW "{schema}"."{WINDOW_METRICS_TABLE}" AS {_window_view_sql(lake_dir)}')
    for table, family in tables:
        hidden_view = trino_sql.HIDDEN_VIEW_PREFIX + table
        con.execute(f'CREATE OR REPLACE VIEW "{hidden_view}" AS {_view_sql(lake_dir, family, hidden=True)}')
    hidden_view = trino_sql.HIDDEN_VIEW_PREFIX + WINDOW_METRICS_TABLE
    con.execute(f'CREATE OR REPLACE VIEW "{hidden_view}" AS {_window_view_sql(lake_dir, hidden=True)}')
    return con


def _register_files(con: duckdb.DuckDBPyConnection, lake_dir: Path, bucket: str) -> None:
    """sl_lake_files: each lake file's path as DuckDB reports it, its S3 URI, size and modification time."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE sl_lake_files "
        "(local_path VARCHAR, s3_path VARCHAR, size BIGINT, modified TIMESTAMPTZ)"
    )
    # Every table's files: all families' Parquet (table_changes' sit a level deeper than all_events reads) and the
    # closed windows' JSON.
    parquet = sorted((lake_dir / lake.PROCESSED_PREFIX).rglob(f"*{lake.PARQUET_EXTENSION}"))
    rows = []
    for path in [*parquet, *sorted(lake_dir.glob(_WINDOW_FILES))]:
        stat = path.stat()
        key = path.relative_to(lake_dir).as_posix()
        # Athena reports the object's last-modified time at millisecond precision.
        modified_ms = stat.st_mtime_ns // 1_000_000
        rows.append((path.as_posix(), f"s3://{bucket}/{key}", stat.st_size, modified_ms))
    if rows:
        con.executemany("INSERT INTO sl_lake_files VALUES (?, ?, ?, make_timestamptz(? * 1000))", rows)


def run(sql: str, lake_dir: Path, database: str | None = None, bucket: str | None = None) -> LocalRun:
    """Run Trino `sql` on DuckDB over `lake_dir`; LocalQueryError (or UnsupportedConstructError) when it cannot.

    `database` is the Glue database tables may be qualified with (`streamlake.sensor_data`,
    `awsdatacatalog.streamlake.sensor_data`); by default local mode's for this config.
    """
    duckdb_sql = transpile(sql, database)
    if not lake_dir.is_dir():
        raise LocalQueryError(f"local lake directory {lake_dir} does not exist (start local mode or pass --lake-dir)")
    con = connect(lake_dir, database, bucket)
    try:
        return execute(con, duckdb_sql, lake_dir)
    finally:
        con.close()


def execute(con: duckdb.DuckDBPyConnection, duckdb_sql: str, data_root: Path) -> LocalRun:
    """Run already-transpiled `duckdb_sql` on `con`, counting the bytes read from files under `data_root`.

    Separate from run() so a benchmark can point the same tables at another layout (e.g. unpartitioned JSON).
    Columns are handed back by position, so two output columns with one name keep their own values, and named as
    Trino names them: lower case, `_col<i>` for an expression written without a name.
    """
    duckdb_sql = duckdb_sql.rstrip().rstrip(";")
    try:
        described = con.execute(f"DESCRIBE {duckdb_sql}").fetchall()
    except duckdb.Error as error:
        raise LocalQueryError(f"DuckDB rejected the translated query: {_first_line(error)}") from None
    names = [
        f"_col{i}" if name.startswith(trino_sql.UNNAMED_PREFIX) else name.lower()
        for i, (name, *_) in enumerate(described)
    ]
    # Fetching TIMESTAMPTZ into Python needs pytz; Athena's own results carry no zone either, so hand back UTC
    # wall-clock timestamps (the session zone is UTC). Positional names (c0, c1, ...) so duplicates stay apart.
    positional = [f'"c{i}"' for i in range(len(described))]
    projections = [
        f"CAST({p} AS TIMESTAMP)" if kind.startswith("TIMESTAMP WITH TIME ZONE") else p
        for p, (_, kind, *_) in zip(positional, described, strict=True)
    ]
    wrapped = f"SELECT {', '.join(projections)} FROM ({duckdb_sql}) AS q({', '.join(positional)})"
    con.execute("CALL enable_logging('FileSystem')")
    con.execute("CALL truncate_duckdb_logs()")
    started = time.perf_counter()
    try:
        rows = con.execute(wrapped).fetchall()
    except duckdb.Error as error:
        message = _first_line(error)
        refused = message.find(REFUSED_AT_RUN_TIME)
        if refused >= 0:
            # A macro met a value it cannot print as Trino would (CAST(timestamp AS varchar)): a refusal.
            raise UnsupportedConstructError(message[message.rfind(":", 0, refused) + 1 :].strip()) from None
        raise LocalQueryError(f"DuckDB failed running the query: {message}") from None
    elapsed = time.perf_counter() - started
    scanned, files = _bytes_read(con, data_root)
    con.execute("CALL disable_logging()")
    return LocalRun(names, rows, scanned, elapsed, duckdb_sql, files)


def _bytes_read(con: duckdb.DuckDBPyConnection, data_root: Path) -> tuple[int, dict[str, int]]:
    """All bytes read from files under `data_root`, and per file the bytes read before its footer (column data)."""
    root = data_root.resolve().as_posix().rstrip("/") + "/"
    data_start: dict[str, int | None] = {}
    files: dict[str, int] = {}
    total = 0
    for (message,) in con.execute("SELECT message FROM duckdb_logs WHERE type = 'FileSystem'").fetchall():
        entry = json.loads(message)
        if entry.get("op") != "READ":
            continue
        path = entry.get("path", "")
        if path not in data_start:
            resolved = Path(path).resolve()
            data_start[path] = _footer_start(resolved) if resolved.as_posix().startswith(root) else None
        footer = data_start[path]
        if footer is None:
            continue
        size = int(entry.get("bytes", 0))
        total += size
        files[path] = files.get(path, 0) + (size if int(entry.get("pos", 0)) < footer else 0)
    return total, files


def _footer_start(path: Path) -> int:
    """Offset where a Parquet file's footer (metadata) starts; the whole file for anything else (JSON)."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        if size < 12:
            return size
        handle.seek(size - 8)
        tail = handle.read(8)
    if tail[4:] != b"PAR1":
        return size
    return size - 8 - int.from_bytes(tail[:4], "little")


def _first_line(error: Exception) -> str:
    """The error on one line (DuckDB spreads some messages, like a Python function's exception, over several)."""
    text = " ".join(str(error).split())
    return text[:400] if text else type(error).__name__
