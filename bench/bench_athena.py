"""Bytes a saved query must read, and local query time, in the lake layout we ship versus unpartitioned JSON.

For 100,000 seeded sensor records over 24 hours (athena_queries.sample_lake, written exactly as the Firehose
deliverer writes the lake), three layouts are generated in the same run:

- shipped:  Snappy Parquet with the Glue schema, partitioned processed/family=/year=/month=/day=/hour=/
- raw JSON: every record as uncompressed JSON lines in one unpartitioned object (the issue's baseline)
- gzip JSON: the same JSON lines gzip-compressed (what Firehose delivers without format conversion)

Each query runs through the same runner code path (athena_queries.local: sqlglot Trino -> DuckDB), and "bytes
scanned" is what DuckDB actually read from the layout's files, as Athena's DataScannedInBytes counts bytes read from
S3. On the JSON layouts the partition columns are derived from the event time, so the SQL is identical and the rows
must match (checked); they just prune nothing. Queries: the three lab queries and `sensor_hourly_stats` filtered to
one hour. Time is the best of RUNS local runs. Run: `.venv/bin/python bench/bench_athena.py [--records N]`.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RUNS = 3
HOURS = 24


@dataclass
class Measure:
    bytes_scanned: int
    seconds: float
    rows: list
    files_read: dict[str, int]


def _referenced_columns(trino_sql: str) -> set[str]:
    """Data columns of sensor_data the query reads (SELECT * expanded), as Athena's Parquet reader would."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.optimizer.qualify import qualify

    from streamlake import lake

    columns = dict(lake.table_columns("sensor")) | {k: "string" for k in lake.TIME_PARTITION_KEYS}
    qualified = qualify(sqlglot.parse_one(trino_sql, read="trino"), schema={"sensor_data": columns}, dialect="trino")
    data = {c for c, _ in lake.table_columns("sensor")}
    return {c.name for c in qualified.find_all(exp.Column)} & data


def _athena_model_bytes(con, files: tuple[str, ...], columns: set[str]) -> int:
    """What Athena's Parquet reader fetches: each file's footer plus the column chunks of the columns it reads."""
    total = 0
    for path in files:
        chunks = con.execute("SELECT path_in_schema, total_compressed_size FROM parquet_metadata(?)", [path]).fetchall()
        size = Path(path).stat().st_size
        footer = size - sum(s for _, s in chunks)
        total += footer + sum(s for name, s in chunks if name in columns)
    return total


def _json_connection(path: Path):
    """DuckDB with `sensor_data` over one unpartitioned JSON-lines file; partition columns derived from time."""
    import duckdb

    from athena_queries import local
    from streamlake import lake

    con = duckdb.connect()
    local.prepare(con)  # UTC, integer division and the sl_* functions translated queries call
    types = {"string": "VARCHAR", "double": "DOUBLE"}
    spec = ", ".join(f"'{c}': '{types[t]}'" for c, t in lake.table_columns("sensor")) + ", 'family': 'VARCHAR'"
    columns = ", ".join(f'"{c}"' for c, _ in lake.table_columns("sensor"))
    con.execute(
        f"CREATE VIEW sensor_data AS SELECT {columns}, substr(timestamp, 1, 4) AS year,"
        f" substr(timestamp, 6, 2) AS month, substr(timestamp, 9, 2) AS day, substr(timestamp, 12, 2) AS hour"
        f" FROM read_json('{path}',"
        f" format = 'newline_delimited', columns = {{{spec}}}) WHERE family = 'sensor'"
    )
    return con


def _measure(run) -> Measure:
    best = None
    for _ in range(RUNS):
        started = time.perf_counter()
        result = run()
        elapsed = time.perf_counter() - started
        if best is None or elapsed < best.seconds:
            best = Measure(result.bytes_scanned, elapsed, result.rows, result.files_read)
    return best


def _rows_equal(a: list, b: list) -> bool:
    def norm(row):
        return tuple(round(v, 6) if isinstance(v, float) else v for v in row)

    return sorted(map(norm, a), key=repr) == sorted(map(norm, b), key=repr)


def main(argv: list[str] | None = None) -> int:
    """Generate the three layouts, run each query on each, print a markdown table; exit 1 if rows differ."""
    from athena_queries import get_query
    from athena_queries import local as local_engine
    from athena_queries.runner import human_bytes
    from athena_queries.sample_lake import SampleSpec, generate, write_json_baseline, write_parquet_lake

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000, help="sensor records (default 100,000)")
    parser.add_argument("--files-per-hour", type=int, default=1, help="Parquet objects per hour partition")
    args = parser.parse_args(argv)

    spec = SampleSpec(seed=7, hours=HOURS, sensors=50, sensor_records=args.records, student_records=0, log_records=0)
    started = time.perf_counter()
    events = generate(spec)
    hour = spec.start + timedelta(hours=12)
    one_hour = {"since": f"{hour:%Y-%m-%dT%H}:00Z", "until": f"{hour + timedelta(hours=1):%Y-%m-%dT%H}:00Z"}
    queries = [
        ("lab_latest_readings", {}),
        ("lab_avg_temperature_by_sensor", {}),
        ("lab_readings_above_30c", {}),
        ("sensor_hourly_stats (1 hour)", one_hour),
    ]

    with tempfile.TemporaryDirectory(prefix="bench-athena-") as tmp:
        root = Path(tmp)
        lake_dir, raw_dir, gzip_dir = root / "lake", root / "raw", root / "gzip"
        files = write_parquet_lake(events, lake_dir, files_per_partition=args.files_per_hour)
        raw = write_json_baseline(events, raw_dir / "events.json", gzip=False)
        gz = write_json_baseline(events, gzip_dir / "events.json.gz", gzip=True)
        sizes = {
            "shipped": sum(f.stat().st_size for f in files),
            "raw": raw.stat().st_size,
            "gzip": gz.stat().st_size,
        }
        print(
            f"{len(events):,} sensor records over {HOURS} h ({time.perf_counter() - started:.1f} s to generate): "
            f"Parquet {human_bytes(sizes['shipped'])} in {len(files)} objects, raw JSON {human_bytes(sizes['raw'])}, "
            f"gzip JSON {human_bytes(sizes['gzip'])}\n"
        )

        lake_con = local_engine.connect(lake_dir)
        raw_con, gzip_con = _json_connection(raw), _json_connection(gz)
        print(
            "| query | shipped: read | shipped: bound | raw JSON | gzip JSON | raw / read | raw / bound "
            "| gzip / read | time shipped | time raw | time gzip |"
        )
        print("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
        mismatches = []
        for label, params in queries:
            name = label.split(" ")[0]
            trino_sql = get_query(name).render(params)
            sql = local_engine.transpile(trino_sql)
            shipped = _measure(lambda sql=sql: local_engine.execute(lake_con, sql, lake_dir))
            on_raw = _measure(lambda sql=sql: local_engine.execute(raw_con, sql, raw_dir))
            on_gzip = _measure(lambda sql=sql: local_engine.execute(gzip_con, sql, gzip_dir))
            # lab_latest_readings' SELECT * includes partition columns: arrival hour in the lake, event hour here.
            compare = 7 if name == "lab_latest_readings" else None
            for other, layout in ((on_raw, "raw"), (on_gzip, "gzip")):
                a = [r[:compare] for r in shipped.rows]
                b = [r[:compare] for r in other.rows]
                if not _rows_equal(a, b):
                    mismatches.append(f"{label} on {layout}")
            model = _athena_model_bytes(lake_con, shipped.files_read, _referenced_columns(trino_sql))
            print(
                f"| {label} | {human_bytes(shipped.bytes_scanned)} | {human_bytes(model)} | "
                f"{human_bytes(on_raw.bytes_scanned)} | {human_bytes(on_gzip.bytes_scanned)} | "
                f"{_ratio(on_raw.bytes_scanned, shipped.bytes_scanned)} | {_ratio(on_raw.bytes_scanned, model)} | "
                f"{_ratio(on_gzip.bytes_scanned, shipped.bytes_scanned)} | "
                f"{shipped.seconds * 1000:.0f} ms | {on_raw.seconds * 1000:.0f} ms | {on_gzip.seconds * 1000:.0f} ms |"
            )
        for con in (lake_con, raw_con, gzip_con):
            con.close()
    if mismatches:
        print(f"\nrows differ between layouts: {', '.join(mismatches)}")
        return 1
    print(
        "\nrows are identical on every layout. read: bytes DuckDB read from the files (measured). bound: footers plus"
        " every column chunk the query references in each file it read column data from - what an engine without"
        " lazy column reads or late materialisation would scan."
    )
    return 0


def _ratio(baseline: int, shipped: int) -> str:
    if shipped == 0:
        return "inf"
    ratio = baseline / shipped
    return f"{ratio:,.0f}x" if ratio >= 10 else f"{ratio:.1f}x" if not math.isnan(ratio) else "-"


if __name__ == "__main__":
    raise SystemExit(main())
