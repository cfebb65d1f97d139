"""Run a query on Athena or locally (DuckDB) and present the result; `python -m athena_queries` uses it.

Library API (local/demo.py and tests use it):

    result = run_local("lab_latest_readings", {}, Path("run/lake"))
    print(format_table(result))
    result.columns, result.rows, result.bytes_scanned

A query is a saved query's name, or a SavedQuery for SQL that is not saved:
`resolve_query("FILE.sql" | "-" | NAME, sql=None)` reads a file, stdin or the text of `--sql`.

Both modes return a `Result` with the same column names and Python values for the same data: numbers as int/float,
timestamps as naive UTC datetimes, strings as str, NULL as None.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from athena_queries import ParameterError, SavedQuery, UnknownQueryError, adhoc_query, get_query
from athena_queries import aws as athena_engine
from athena_queries import local as local_engine

# Athena bills $5 per TB scanned, each query rounded up to the next MB with a 10 MB minimum (Athena pricing page).
PRICE_PER_TB_USD = 5.0
BILLING_MB = 1024 * 1024
MIN_BILLED_BYTES = 10 * BILLING_MB
TB = 1024**4
DEFAULT_RUN_DIR = Path("run")  # local/__main__.py's default; LocalStack mirrors the lake to <run dir>/lake


class RunnerError(RuntimeError):
    """Anything that stops a query from producing rows, as one line for the user (no traceback)."""


@dataclass(frozen=True)
class Result:
    """A query's rows and what it cost to get them.

    `columns`: names in order; `rows`: tuples of Python values; `bytes_scanned`: Athena's DataScannedInBytes, or the
    bytes DuckDB read from the local lake's files; `engine`: "athena" or "duckdb"; `sql`: the SQL that ran (Trino
    after parameters; DuckDB after transpiling locally); `query_execution_id` on Athena only.
    """

    name: str
    columns: list[str]
    rows: list[tuple[Any, ...]]
    bytes_scanned: int
    elapsed_seconds: float
    engine: str
    sql: str
    query_execution_id: str | None = None

    @property
    def cost_usd(self) -> float:
        """What Athena charges (or would charge) for the bytes scanned."""
        return cost_usd(self.bytes_scanned)


def cost_usd(bytes_scanned: int) -> float:
    """Athena's price for one query scanning `bytes_scanned`: rounded up to a MB, 10 MB minimum, $5 per TB."""
    billed = max(MIN_BILLED_BYTES, math.ceil(bytes_scanned / BILLING_MB) * BILLING_MB)
    return billed / TB * PRICE_PER_TB_USD


def resolve_query(spec: str | None, sql: str | None = None) -> SavedQuery:
    """The query the command line names: `--sql` text, `-` (stdin), a `.sql` file, or a saved query's name.

    RunnerError with one line when it names none of these, the file cannot be read, or its parameters are invalid.
    """
    try:
        if sql is not None:
            if spec is not None:
                raise RunnerError("give a query name or file, or --sql, not both")
            return adhoc_query(sql, "sql")
        if spec is None:
            raise RunnerError("name a saved query, a .sql file, - (stdin) or --sql \"...\"")
        if spec == "-":
            return adhoc_query(sys.stdin.read(), "stdin")
        path = Path(spec)
        if spec.endswith(".sql") or path.is_file():
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as error:
                raise RunnerError(f"cannot read {spec}: {error.strerror or error}") from None
            return adhoc_query(text, path.stem)
        return get_query(spec)
    except (UnknownQueryError, ParameterError, ValueError) as error:
        raise RunnerError(str(error)) from None


def _query(query: str | SavedQuery, params: Mapping[str, str] | None) -> tuple[SavedQuery, str]:
    try:
        saved = query if isinstance(query, SavedQuery) else get_query(query)
        return saved, saved.render(dict(params or {}))
    except (UnknownQueryError, ParameterError) as error:
        raise RunnerError(str(error)) from None


def run_local(
    name: str | SavedQuery, params: Mapping[str, str] | None, lake_dir: Path | str, *, database: str | None = None
) -> Result:
    """Run a query (a saved query's name, or a SavedQuery) on DuckDB over the local lake `lake_dir` (`run/lake`).

    `params` maps parameter names to values as text, like `--param k=v` ({} for the defaults); `database` is the
    Glue database tables may be qualified with (default: local mode's). Raises RunnerError with a one-line reason
    for an unknown query or parameter, a construct the local engine refuses (named), or a DuckDB error.
    """
    query, sql = _query(name, params)
    try:
        local = local_engine.run(sql, Path(lake_dir), database)
    except local_engine.LocalQueryError as error:
        raise RunnerError(f"{query.name}: {error}") from None
    return Result(
        query.name, local.columns, local.rows, local.bytes_scanned, local.elapsed_seconds, "duckdb", local.duckdb_sql
    )


def run_athena(
    name: str | SavedQuery,
    params: Mapping[str, str] | None,
    *,
    workgroup: str | None = None,
    database: str | None = None,
    stack_name: str | None = None,
    region: str | None = None,
    client: Any | None = None,
    cloudformation: Any | None = None,
    **options: Any,
) -> Result:
    """Run a query (saved name or SavedQuery) on Athena in the streamlake workgroup; RunnerError (one line) on failure.

    The workgroup and database come from the arguments, else STREAMLAKE_ATHENA_WORKGROUP / STREAMLAKE_GLUE_DATABASE,
    else the outputs of the data lake stack (`stack_name`, default `<prefix>-data-lake` from cdk.json).
    `options` go to athena_queries.aws.run (sleep, timeout_seconds, clock) for tests.
    """
    query, sql = _query(name, params)
    try:
        target = athena_engine.resolve_target(
            workgroup, database, stack_name or _default_stack_name(), cloudformation, region
        )
        remote = athena_engine.run(sql, target, client=client, region=region, **options)
    except athena_engine.AthenaQueryError as error:
        raise RunnerError(f"{query.name}: {error}") from None
    return Result(
        query.name,
        remote.columns,
        remote.rows,
        remote.bytes_scanned,
        remote.elapsed_seconds,
        "athena",
        sql,
        remote.query_execution_id,
    )


def _default_stack_name() -> str:
    from streamlake.config import load_config

    return load_config().stack_name("data-lake")


def default_lake_dir(run_dir: Path = DEFAULT_RUN_DIR) -> Path:
    """The lake local mode mirrors: `run/lake` if it exists, else the newest `run/*/lake` (`make demo` runs)."""
    direct = run_dir / "lake"
    if direct.is_dir():
        return direct
    candidates = sorted((p for p in run_dir.glob("*/lake") if p.is_dir()), key=lambda p: p.stat().st_mtime)
    return candidates[-1] if candidates else direct


# -- presentation ------------------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="milliseconds")
    return str(value)


def format_table(result: Result, max_rows: int = 200) -> str:
    """The rows as an aligned text table (numbers right-aligned), at most `max_rows` rows with a note of the rest."""
    shown = result.rows[:max_rows]
    cells = [[_text(v) for v in row] for row in shown]
    widths = [len(c) for c in result.columns]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=False)]
    numeric = [
        bool(shown) and all(isinstance(r[i], int | float | Decimal) or r[i] is None for r in shown)
        for i in range(len(result.columns))
    ]

    def line(values: list[str]) -> str:
        return " | ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric, strict=False))

    out = [line(result.columns), "-+-".join("-" * w for w in widths)]
    out += [line(row) for row in cells]
    if len(result.rows) > max_rows:
        out.append(f"... {len(result.rows) - max_rows} more rows")
    out.append(f"({len(result.rows)} row{'s' if len(result.rows) != 1 else ''})")
    return "\n".join(out)


def format_csv(result: Result) -> str:
    """CSV with a header row; timestamps in ISO-8601, NULL as an empty field."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow(["" if v is None else v.isoformat() if isinstance(v, datetime) else v for v in row])
    return buffer.getvalue()


def format_json(result: Result) -> str:
    """A JSON array with one object per row (column -> value); timestamps in ISO-8601, decimals as numbers."""

    def default(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, Decimal):
            return float(value)
        return str(value)

    return json.dumps([dict(zip(result.columns, row, strict=False)) for row in result.rows], default=default, indent=2)


def format_scan(result: Result) -> str:
    """One line: bytes scanned, Athena's price for them and the time taken."""
    where = "Athena" if result.engine == "athena" else "local lake (DuckDB); Athena would bill"
    return (
        f"data scanned: {human_bytes(result.bytes_scanned)} ({result.bytes_scanned:,} bytes) - {where} "
        f"${result.cost_usd:.6f} at ${PRICE_PER_TB_USD:g}/TB (10 MB minimum) - {result.elapsed_seconds:.2f} s"
        + (f" - query id {result.query_execution_id}" if result.query_execution_id else "")
    )


def human_bytes(count: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"
