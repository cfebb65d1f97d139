"""What the current-state view costs as a table's change history grows: bytes scanned and local time.

A table of KEYS rows (10,000) is snapshotted and then changed (about 80 % updates, 5 % deletes, the rest inserts of
deleted keys) until the log holds N changes, for N in --changes (default 100,000 and 1,000,000). Two layouts of the
same changes are written in the same run:

- shipped:  table_changes as the pipeline lands it: Snappy Parquet under
            processed/family=change/source_table=<t>/year=/month=/day=/hour=/ (one object per hour over 24 hours);
- baseline: the same change records as uncompressed JSON lines in one unpartitioned object (what landing the
            bridge's records without Parquet conversion or partitioning would give).

The deployed SQL (athena_queries/cdc_current_state.sql, through the same sqlglot Trino -> DuckDB path as
`athena_queries run --local`) runs on both; the rows must match. "Bytes scanned" is what DuckDB read from the
layout's files (as Athena's DataScannedInBytes counts bytes read from S3); time is the best of RUNS runs.

Run: `.venv/bin/python bench/bench_cdc.py [--changes 100000,1000000] [--keys 10000]`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RUNS = 3
HOURS = 24
SOURCE_TABLE = "pgserver1.public.clientes"
ATHENA_USD_PER_TB = 5.0


@dataclass
class Measure:
    bytes_scanned: int
    seconds: float
    rows: int
    checksum: int


def generate(con, changes: int, keys: int) -> None:
    """The change log in a DuckDB table `log`, with table_changes' columns plus source_table and the hour."""
    # Snapshot first (one r per key), then changes of random keys. The op sequence per key is not replayed here (the
    # model tests prove the SQL right); the point is the size and shape of a realistic log. Deleted keys come back as
    # inserts: a key's change after a delete is c, otherwise u or (one time in 20) d.
    con.execute(
        f"""
        CREATE TABLE raw AS
        SELECT i,
               CASE WHEN i < {keys} THEN i ELSE CAST(hash(i) % {keys} AS BIGINT) END AS k,
               CASE WHEN i < {keys} THEN 'r' WHEN hash(i * 7) % 20 = 0 THEN 'd' ELSE 'u' END AS kind
        FROM range({changes}) AS t(i)
        """
    )
    con.execute(
        f"""
        CREATE TABLE log AS
        SELECT
            CAST(uuid() AS VARCHAR) AS event_id,
            strftime(TIMESTAMP '2026-06-01' + INTERVAL (i * 86400 // {changes}) SECOND, '%Y-%m-%dT%H:%M:%S.000Z')
                AS timestamp,
            'kafka:{SOURCE_TABLE}/' || CAST(k % 3 AS VARCHAR) || '/' || CAST(i AS VARCHAR) AS source,
            'pgserver1' AS connector,
            op,
            '{{"id":' || CAST(k AS VARCHAR) || '}}' AS row_key,
            CASE WHEN op IN ('u', 'd') THEN '{{"email":"old' || CAST(i AS VARCHAR) || '@example.com","id":'
                 || CAST(k AS VARCHAR) || ',"nombre":"Cliente ' || CAST(k AS VARCHAR) || '"}}' END AS before,
            CASE WHEN op <> 'd' THEN '{{"email":"c' || CAST(i AS VARCHAR) || '@example.com","id":'
                 || CAST(k AS VARCHAR) || ',"nombre":"Cliente ' || CAST(k AS VARCHAR) || '"}}' END AS after,
            'lsn:' || lpad(CAST(23000000 + i * 97 AS VARCHAR), 20, '0') AS source_position,
            CAST(1780272000000 + i * 86400000 // {changes} AS BIGINT) AS ts_ms,
            '{SOURCE_TABLE}' AS source_table,
            '2026' AS year, '06' AS month, '01' AS day,
            lpad(CAST(i * {HOURS} // {changes} AS VARCHAR), 2, '0') AS hour
        FROM (
            SELECT i, k,
                   CASE WHEN kind = 'r' THEN 'r'
                        WHEN lag(kind) OVER (PARTITION BY k ORDER BY i) = 'd' THEN 'c'
                        ELSE kind END AS op
            FROM raw
        )
        ORDER BY i
        """
    )


def write_layouts(con, lake_dir: Path, json_path: Path) -> None:
    from streamlake import lake

    columns = ", ".join(f'"{c}"' for c, _ in lake.table_columns("change"))
    target = lake_dir / lake.table_prefix("change")
    target.mkdir(parents=True)
    con.execute(
        f"COPY (SELECT {columns}, source_table, year, month, day, hour FROM log) TO '{target}' "
        "(FORMAT parquet, COMPRESSION snappy, PARTITION_BY (source_table, year, month, day, hour))"
    )
    con.execute(f"COPY (SELECT {columns}, source_table FROM log) TO '{json_path}' (FORMAT json)")


def json_connection(json_path: Path):
    import duckdb

    from streamlake import lake

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_external_file_cache = false")
    types = {"string": "VARCHAR", "bigint": "BIGINT"}
    spec = ", ".join(f"'{c}': '{types[t]}'" for c, t in lake.table_columns("change")) + ", 'source_table': 'VARCHAR'"
    con.execute(
        f"CREATE VIEW table_changes AS SELECT * FROM read_json('{json_path}', format='newline_delimited', "
        f"columns={{{spec}}})"
    )
    return con


def measure(con, duckdb_sql: str, data_root: Path) -> Measure:
    from athena_queries.local import execute

    best = None
    for _ in range(RUNS):
        started = time.perf_counter()
        result = execute(con, duckdb_sql, data_root)
        elapsed = time.perf_counter() - started
        if best is None or elapsed < best.seconds:
            checksum = hash(tuple(sorted((r[0], r[1]) for r in result.rows)))
            best = Measure(result.bytes_scanned, elapsed, len(result.rows), checksum)
    assert best is not None
    return best


def run(changes: int, keys: int) -> dict[str, object]:
    import duckdb

    from athena_queries import get_query
    from athena_queries.local import connect, transpile

    sql = transpile(get_query("cdc_current_state").render({"source_table": SOURCE_TABLE}))
    with tempfile.TemporaryDirectory(prefix="bench-cdc-") as tmp:
        lake_dir, json_dir = Path(tmp) / "lake", Path(tmp) / "json"
        json_dir.mkdir()
        json_path = json_dir / "changes.jsonl"
        with duckdb.connect() as gen:
            generate(gen, changes, keys)
            write_layouts(gen, lake_dir, json_path)
            live = gen.execute(
                "SELECT count(*) FROM (SELECT op, row_number() OVER (PARTITION BY row_key ORDER BY source_position "
                "DESC) AS r FROM log) WHERE r = 1 AND op <> 'd'"
            ).fetchone()[0]
        shipped_con = connect(lake_dir)
        shipped = measure(shipped_con, sql, lake_dir)
        baseline = measure(json_connection(json_path), sql, json_dir)
        if (shipped.rows, shipped.checksum) != (baseline.rows, baseline.checksum) or shipped.rows != live:
            raise SystemExit(f"layouts disagree: shipped {shipped.rows} rows, json {baseline.rows}, expected {live}")
        parquet_bytes = sum(p.stat().st_size for p in lake_dir.rglob("*.parquet"))
        return {
            "changes": changes,
            "rows_now": shipped.rows,
            "parquet_bytes": parquet_bytes,
            "json_bytes": json_path.stat().st_size,
            "shipped": shipped,
            "baseline": baseline,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", default="100000,1000000", help="comma-separated log sizes")
    parser.add_argument("--keys", type=int, default=10_000)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.changes.split(",") if s.strip()]
    print(f"current state of a {args.keys:,}-row table from its change log (cdc_current_state.sql), best of {RUNS}")
    header = (
        f"{'changes':>10} {'rows now':>9} | {'shipped read':>13} {'time':>8} | {'JSON read':>11} {'time':>8} |"
        f" {'less read':>9} {'faster':>7} | {'Athena $/query':>14}"
    )
    print(header)
    print("-" * len(header))
    results = []
    for changes in sizes:
        r = run(changes, args.keys)
        s, b = r["shipped"], r["baseline"]
        results.append(r)
        print(
            f"{changes:>10,} {r['rows_now']:>9,} | {_mib(s.bytes_scanned):>13} {s.seconds:>7.3f}s | "
            f"{_mib(b.bytes_scanned):>11} {b.seconds:>7.3f}s | {b.bytes_scanned / s.bytes_scanned:>8.1f}x "
            f"{b.seconds / s.seconds:>6.1f}x | {_usd(s.bytes_scanned):>14}"
        )
    if len(results) >= 2:
        first, last = results[0], results[-1]
        per_change = (last["shipped"].bytes_scanned - first["shipped"].bytes_scanned) / (
            last["changes"] - first["changes"]
        )
        seconds_per_change = (last["shipped"].seconds - first["shipped"].seconds) / (last["changes"] - first["changes"])
        print()
        print(f"growth: {per_change:,.1f} bytes read and {seconds_per_change * 1e6:.2f} us of local time per change")
        for history in (10_000_000, 100_000_000, 1_000_000_000):
            scanned = first["shipped"].bytes_scanned + per_change * (history - first["changes"])
            print(
                f"  extrapolated to {history:>13,} changes: {_mib(int(scanned)):>11} per query, {_usd(int(scanned))} "
                f"on Athena, ~{seconds_per_change * history:,.0f} s locally"
            )
    return 0


def _mib(value: int) -> str:
    return f"{value / 2**20:,.2f} MiB"


def _usd(scanned: int) -> str:
    # Athena bills at least 10 MB per query.
    return f"${max(scanned, 10 * 10**6) / 10**12 * ATHENA_USD_PER_TB:.5f}"


if __name__ == "__main__":
    sys.exit(main())
