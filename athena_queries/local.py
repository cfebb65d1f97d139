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
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.tokens import TokenType

from lambdas.schemas import FAMILIES, FAMILY_TABLES
from streamlake import lake

ALL_EVENTS_TABLE = "all_events"  # stacks/catalog.py's table across families (kept equal by a test)
READ_DIALECT = "trino"  # Athena engine v3 is Trino
_DUCKDB_TYPES = {"string": "VARCHAR", "double": "DOUBLE", "int": "INTEGER", "bigint": "BIGINT", "boolean": "BOOLEAN"}

# Functions sqlglot passes through or maps to a DuckDB function with different semantics: rows would come back
# wrong or the query would fail obscurely, so the runner refuses and says why.
UNSUPPORTED_FUNCTIONS: dict[str, str] = {
    "parse_datetime": "takes a Joda-Time pattern (yyyy-MM-dd); sqlglot hands it to DuckDB's strptime, which reads "
    "C-style %Y-%m-%d patterns, so the pattern would not match. Use date_parse with %-codes or from_iso8601_timestamp",
    "format_datetime": "takes a Joda-Time pattern; DuckDB's strftime reads C-style %-codes, so the text would be "
    "wrong. Use date_format with %-codes",
    "map_agg": "builds a MAP from key/value pairs; sqlglot has no DuckDB translation and DuckDB's map functions "
    "differ in duplicate-key handling",
    "date_diff": "counts whole units elapsed in Trino but unit boundaries crossed in DuckDB (10:00:00.9 to 10:00:01.1 "
    "is 0 seconds in Athena, 1 in DuckDB). Subtract to_unixtime() values instead",
    "format": "formats Java-style (%s, %d); DuckDB's format() reads {} placeholders, so the text would be wrong. "
    "Use concat or ||",
    "histogram": "returns a MAP of value counts; no DuckDB translation",
    "approx_set": "builds a HyperLogLog sketch, an Athena-only type",
    "merge": "merges HyperLogLog/t-digest sketches, an Athena-only type",
    "tdigest_agg": "builds a t-digest, an Athena-only type",
}
_HIDDEN_COLUMNS_REASON = (
    "is an Athena hidden column describing the S3 object ($path, $file_size, $file_modified_time); "
    "the local lake has no S3 objects to describe"
)


class LocalQueryError(RuntimeError):
    """The query cannot run locally, or DuckDB rejected it; the message says which construct and why."""


class UnsupportedConstructError(LocalQueryError):
    """The query uses an Athena construct that DuckDB via sqlglot would not reproduce faithfully."""


@dataclass(frozen=True)
class LocalRun:
    """What DuckDB returned: column names, rows (timestamps as naive UTC datetimes) and bytes read from the lake."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    bytes_scanned: int
    elapsed_seconds: float
    duckdb_sql: str
    files_read: dict[str, int] = field(default_factory=dict)  # path -> column-data bytes read (footer excluded)


def check_supported(sql: str) -> exp.Expression:
    """Parse Trino `sql` and return its one statement; UnsupportedConstructError naming what cannot run locally."""
    try:
        statements = [s for s in sqlglot.parse(sql, read=READ_DIALECT) if s is not None]
    except ParseError as error:
        raise LocalQueryError(
            f"not valid Athena (Trino) SQL: {error.errors[0]['description'] if error.errors else error}"
        ) from None
    if len(statements) != 1:
        raise UnsupportedConstructError(f"expected one statement, got {len(statements)}: run them one at a time")
    statement = statements[0]
    if isinstance(statement, exp.Create):
        raise UnsupportedConstructError(
            "CREATE TABLE AS / CREATE VIEW (CTAS) writes to S3 and the Glue catalog; locally only SELECT queries run"
        )
    if not isinstance(statement, exp.Query):
        kind = statement.key.upper()
        raise UnsupportedConstructError(
            f"{kind} statements are not queries (INSERT, DDL and MSCK change the catalog or the lake); "
            "locally only SELECT runs"
        )

    # Tokens rather than the AST: sqlglot maps some of these to look-alike expressions (parse_datetime becomes
    # StrToTime), so by the time it is a tree the original function is gone.
    tokens = sqlglot.tokenize(sql, read=READ_DIALECT)
    for token, following in zip(tokens, [*tokens[1:], None], strict=True):
        if token.token_type in (TokenType.VAR, TokenType.IDENTIFIER) and token.text.startswith("$"):
            raise UnsupportedConstructError(f'"{token.text}" {_HIDDEN_COLUMNS_REASON}')
        name = token.text.lower()
        if following is not None and following.token_type == TokenType.L_PAREN and name in UNSUPPORTED_FUNCTIONS:
            raise UnsupportedConstructError(f"{name}() {UNSUPPORTED_FUNCTIONS[name]}")
    for table in statement.find_all(exp.Table):
        if table.catalog:
            raise UnsupportedConstructError(
                f"catalog-qualified table {table.sql(dialect=READ_DIALECT)}: the '{table.catalog}.' prefix names an "
                "Athena data catalog; locally there is one catalog, so write db.table or just table"
            )
    return statement


def transpile(sql: str) -> str:
    """Trino SQL as DuckDB SQL, after check_supported.

    Integer division is made explicit: Trino's `7 / 2` is 3 (both operands integers), DuckDB's is 3.5. sqlglot
    infers operand types (literals, count(), length(), casts; the Glue tables have no integer columns), and a
    division of two integers becomes DuckDB's `//`, which truncates toward zero like Trino.
    """
    statement = check_supported(sql)
    annotate_types(statement, dialect=READ_DIALECT)
    for division in list(statement.find_all(exp.Div)):
        if _is_integer(division.this) and _is_integer(division.expression):
            division.replace(exp.IntDiv(this=division.this.copy(), expression=division.expression.copy()))
    return statement.sql(dialect="duckdb")


def _is_integer(node: exp.Expression) -> bool:
    return node.type is not None and node.type.is_type(*exp.DataType.INTEGER_TYPES)


def _view_sql(lake_dir: Path, family: str | None) -> str:
    """SELECT exposing a Glue table's columns (typed as in Glue) and its partition columns over the local files."""
    prefix = lake.table_prefix(family) if family else lake.PROCESSED_PREFIX
    partition_keys = (
        ([] if family else [lake.FAMILY_PARTITION_KEY])
        + list(lake.family_partition_keys(family or ""))
        + list(lake.TIME_PARTITION_KEYS)
    )
    depth = len(partition_keys)
    pattern = (lake_dir / prefix).as_posix().rstrip("/") + "/" + "*/" * depth + f"*{lake.PARQUET_EXTENSION}"
    data_columns = lake.table_columns(family)
    if not list(lake_dir.glob(prefix + "*/" * depth + f"*{lake.PARQUET_EXTENSION}")):
        # No files yet: DuckDB's read_parquet fails on an empty glob, Athena returns no rows.
        typed = [f'CAST(NULL AS {_DUCKDB_TYPES[t]}) AS "{c}"' for c, t in data_columns]
        typed += [f'CAST(NULL AS VARCHAR) AS "{k}"' for k in partition_keys]
        return f"SELECT {', '.join(typed)} WHERE false"
    hive_types = ", ".join(f"'{k}': 'VARCHAR'" for k in partition_keys)
    # Files carry every family's columns (Firehose converts with all_events' schema); select the table's own, and
    # cast so a column that is all NULL in one file still has the Glue type. Every file has that one schema, so no
    # union_by_name: it would read every file's footer while binding, even in partitions the filter prunes.
    select = [f'CAST("{c}" AS {_DUCKDB_TYPES[t]}) AS "{c}"' for c, t in data_columns] + [
        f'"{k}"' for k in partition_keys
    ]
    quoted = pattern.replace("'", "''")
    return (
        f"SELECT {', '.join(select)} FROM read_parquet('{quoted}', hive_partitioning = true, "
        f"hive_types = {{{hive_types}}})"
    )


def connect(lake_dir: Path, database: str | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with one view per Glue table over `lake_dir`, UTC session time zone, like Athena.

    With `database`, the views also exist as `database.table`, so queries written `streamlake.sensor_data` run too.
    """
    con = duckdb.connect()
    # Athena evaluates in UTC; DuckDB would use the machine's zone for TIMESTAMPTZ arithmetic and formatting.
    con.execute("SET TimeZone = 'UTC'")
    # Athena reads from S3 on every query; DuckDB's in-memory cache of file blocks would hide repeated reads (the
    # footers read while binding, earlier runs) from the bytes-scanned count.
    con.execute("SET enable_external_file_cache = false")
    tables = [(FAMILY_TABLES[f], f) for f in FAMILIES] + [(ALL_EVENTS_TABLE, None)]
    schemas = ["main"] + ([database] if database and database != "main" else [])
    for schema in schemas:
        if schema != "main":
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        for table, family in tables:
            con.execute(f'CREATE OR REPLACE VIEW "{schema}"."{table}" AS {_view_sql(lake_dir, family)}')
    return con


def run(sql: str, lake_dir: Path, database: str | None = None) -> LocalRun:
    """Run Trino `sql` on DuckDB over `lake_dir`; LocalQueryError (or UnsupportedConstructError) when it cannot."""
    duckdb_sql = transpile(sql)
    if not lake_dir.is_dir():
        raise LocalQueryError(f"local lake directory {lake_dir} does not exist (start local mode or pass --lake-dir)")
    con = connect(lake_dir, database)
    try:
        return execute(con, duckdb_sql, lake_dir)
    finally:
        con.close()


def execute(con: duckdb.DuckDBPyConnection, duckdb_sql: str, data_root: Path) -> LocalRun:
    """Run already-transpiled `duckdb_sql` on `con`, counting the bytes read from files under `data_root`.

    Separate from run() so a benchmark can point the same tables at another layout (e.g. unpartitioned JSON).
    """
    duckdb_sql = duckdb_sql.rstrip().rstrip(";")
    try:
        described = con.execute(f"DESCRIBE {duckdb_sql}").fetchall()
    except duckdb.Error as error:
        raise LocalQueryError(f"DuckDB rejected the translated query: {_first_line(error)}") from None
    # Fetching TIMESTAMPTZ into Python needs pytz; Athena's own results carry no zone either, so hand back UTC
    # wall-clock timestamps (the session zone is UTC).
    projections = [
        f'CAST("{name}" AS TIMESTAMP) AS "{name}"' if kind.startswith("TIMESTAMP WITH TIME ZONE") else f'"{name}"'
        for name, kind, *_ in described
    ]
    wrapped = f"SELECT {', '.join(projections)} FROM ({duckdb_sql}) AS q"
    con.execute("CALL enable_logging('FileSystem')")
    con.execute("CALL truncate_duckdb_logs()")
    started = time.perf_counter()
    try:
        rows = con.execute(wrapped).fetchall()
    except duckdb.Error as error:
        raise LocalQueryError(f"DuckDB failed running the query: {_first_line(error)}") from None
    elapsed = time.perf_counter() - started
    scanned, files = _bytes_read(con, data_root)
    con.execute("CALL disable_logging()")
    return LocalRun([d[0] for d in described], rows, scanned, elapsed, duckdb_sql, files)


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
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
