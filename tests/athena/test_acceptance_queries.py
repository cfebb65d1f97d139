"""Twenty-three everyday Athena queries, run locally on the seeded lake against answers computed here in Python.

The queries are the kind Athena users write daily (date functions, JSON, regular expressions, window functions,
UNNEST, GROUP BY / HAVING, CTEs, approx_percentile, "$path", database-qualified names), written for this lake's
tables. Each expectation is computed from the seeded events (or, for "$path", from the Parquet files read
directly), never from the engine. A query either matches its expectation or is refused naming the construct:
ANSWERED counts the first kind (docs/athena.md and the README quote it), and a silent difference fails the test.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from athena_queries import local
from athena_queries.local import UnsupportedConstructError
from streamlake import lake
from tests.athena.conftest import SampleLake

BUCKET = "streamlake-lake"


def _half_away(value: float, digits: int = 0) -> float:
    scale = 10**digits
    return math.copysign(math.floor(abs(value) * scale + 0.5) / scale, value)


def _nearest_rank(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


def _sensors(lake: SampleLake) -> list[dict]:
    return [e.record for e in lake.family("sensor")]


def _logs(lake: SampleLake) -> list[dict]:
    return [e.record for e in lake.family("log")]


def _students(lake: SampleLake) -> list[dict]:
    return [e.record for e in lake.family("student")]


def _time(record: dict) -> datetime:
    return datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00"))


@dataclass(frozen=True)
class Query:
    """An everyday query, and either its expected columns and rows or the construct its refusal must name."""

    name: str
    sql: str
    expected: Callable[[SampleLake], tuple[list[str], list[tuple[Any, ...]]]] | None = None
    refused: str = ""


def q01(lake):
    counts = Counter(f"{_time(r):%Y-%m-%d %H}:00" for r in _sensors(lake))
    return ["hour", "readings"], sorted(counts.items())


def q02(lake):
    times = defaultdict(list)
    for r in _sensors(lake):
        times[r["sensor_id"]].append(_time(r))
    return ["sensor_id", "active_minutes"], [
        (s, int((max(t) - min(t)).total_seconds() * 1000) // 60000) for s, t in sorted(times.items())
    ]


def q03(lake):
    cutoff = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
    counts = Counter(r["location"] for r in _sensors(lake) if _time(r) < cutoff)
    return ["location", "n"], sorted(counts.items())


def q04(lake):
    cutoff = datetime(2026, 11, 23, 3, tzinfo=UTC)
    return ["_col0"], [(sum(_time(r).replace(microsecond=0) >= cutoff for r in _sensors(lake)),)]


def q05(lake):
    last = {}
    for r in _logs(lake):
        last[r["service"]] = max(last.get(r["service"], ""), r["timestamp"])
    return ["service", "last_seen"], sorted(last.items())


def q06(lake):
    served = defaultdict(list)
    for r in _logs(lake):
        match = re.search(r"served in (\d+) ms", r["message"])
        if match:
            served[r["service"]].append(int(match[1]))
    return ["service", "avg_ms"], [(s, sum(v) / len(v)) for s, v in sorted(served.items())]


def q07(lake):
    counts = Counter()
    for r in _logs(lake):
        words = r["message"].split(" ")
        counts[words[3] if len(words) >= 4 else None] += 1
    # ORDER BY n DESC, word: NULL sorts last in Trino's ascending order.
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0] is None, kv[0] or ""))
    return ["word", "n"], ranked[:8]


def q08(lake):
    counts = Counter(r["service"] if r["level"] in ("ERROR", "CRITICAL") else None for r in _logs(lake))
    return ["service", "n"], sorted(counts.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))


def q09(lake):
    levels = Counter(r["level"] for r in _logs(lake))
    return ["level", "lines", "alerting"], [
        (level, n, n if level in ("ERROR", "CRITICAL") else 0) for level, n in sorted(levels.items())
    ]


def q10(lake):
    temps = defaultdict(list)
    for r in _sensors(lake):
        temps[(r["location"], r["sensor_id"])].append(r["temperature"])
    averages = {k: _half_away(sum(v) / len(v), 2) for k, v in temps.items()}
    rows = []
    for location in sorted({k[0] for k in averages}):
        ranked = sorted(((s, a) for (loc, s), a in averages.items() if loc == location), key=lambda sa: -sa[1])
        for sensor, avg in ranked:
            rows.append((location, sensor, avg, 1 + sum(a > avg for _, a in ranked)))
    return ["location", "sensor_id", "avg_temp", "rnk"], sorted(rows, key=lambda r: (r[0], r[3], r[1]))


def q11(lake):
    by_sensor = defaultdict(list)
    for r in sorted(_sensors(lake), key=lambda r: r["timestamp"]):
        by_sensor[r["sensor_id"]].append(r["temperature"])
    return ["sensor_id", "max_jump"], [
        (s, _half_away(max(abs(b - a) for a, b in zip(t, t[1:], strict=False)), 2))
        for s, t in sorted(by_sensor.items())
    ]


def q12(lake):
    words = Counter(w for r in _logs(lake) if r["level"] == "ERROR" for w in r["message"].split(" "))
    return ["word", "n"], sorted(words.items(), key=lambda kv: (-kv[1], kv[0]))[:5]


def q13(lake):
    temps = defaultdict(list)
    for r in _sensors(lake):
        temps[r["sensor_id"]].append(r["temperature"])
    totals = {"max": sum(max(v) for v in temps.values()), "min": sum(min(v) for v in temps.values())}
    return ["k", "total"], [(k, _half_away(v, 2)) for k, v in sorted(totals.items())]


def q14(lake):
    grades = defaultdict(list)
    for r in _students(lake):
        if r["event_type"] == "grade_posted":
            grades[r["course_id"]].append(r["grade"])
    rows = [(c, len(g), _half_away(sum(g) / len(g), 1)) for c, g in grades.items() if len(g) >= 10]
    return ["course_id", "grades", "avg_grade"], sorted(rows, key=lambda r: (-r[2], r[0]))


def q15(lake):
    def pairs(kind: str) -> set[tuple[str, str]]:
        return {(r["student_id"], r["course_id"]) for r in _students(lake) if r["event_type"] == kind}

    enrolled, submitted = pairs("course_enrolled"), pairs("assignment_submitted")
    return ["course_id", "students"], sorted(Counter(c for _, c in enrolled & submitted).items())


def q16(lake):
    temps, humidity = defaultdict(list), defaultdict(list)
    for r in _sensors(lake):
        temps[r["location"]].append(r["temperature"])
        humidity[r["location"]].append(r["humidity"])
    return ["location", "p50_temp", "p95_humidity"], [
        (loc, _nearest_rank(temps[loc], 0.5), _nearest_rank(humidity[loc], 0.95)) for loc in sorted(temps)
    ]


def q17(lake):
    # Read the files themselves (plain DuckDB, not the engine): which file holds how many sensor rows.
    per_hour_files, per_hour_rows = defaultdict(int), defaultdict(int)
    with duckdb.connect() as con:
        for path in sorted(lake.lake_dir.glob("processed/family=sensor/*/*/*/*/*.parquet")):
            hour = re.search(r"hour=(\d+)", path.as_posix())[1]
            per_hour_files[hour] += 1
            per_hour_rows[hour] += con.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchone()[0]
    return ["arrival_hour", "files", "readings"], [(h, per_hour_files[h], per_hour_rows[h]) for h in sorted(per_hour_files)]  # noqa: E501


def q18(lake):
    pairs = Counter((r["sensor_id"], r["location"]) for r in _sensors(lake))
    return ["sensor_id", "sensor_id", "_col2"], [(s, loc, n) for (s, loc), n in sorted(pairs.items())]


def q19(lake):
    counts = Counter(int(_half_away(r["temperature"])) for r in _sensors(lake))
    return ["t", "readings"], sorted(counts.items())


def q20(lake):
    totals = defaultdict(int)
    for r in _sensors(lake):
        totals[r["sensor_id"]] += int(_half_away(r["temperature"]))
    return ["sensor_id", "doubled_total"], [(s, 2 * t) for s, t in sorted(totals.items())]


def q21(lake):
    counts = Counter()
    for r in _logs(lake):
        counts[_time(r).isoweekday()] += r["level"] == "ERROR"
    return ["dow", "_col1"], sorted(counts.items())


def q22(lake):
    latest = {}
    for r in _sensors(lake):
        if r["sensor_id"] not in latest or r["timestamp"] > latest[r["sensor_id"]]["timestamp"]:
            latest[r["sensor_id"]] = r
    return ["sensor_id", "temperature", "timestamp"], [
        (s, r["temperature"], r["timestamp"]) for s, r in sorted(latest.items())
    ]


QUERIES: list[Query] = [
    Query("readings per hour (date_trunc, format_datetime)", """
        SELECT format_datetime(date_trunc('hour', from_iso8601_timestamp(timestamp)), 'yyyy-MM-dd HH:00') AS hour,
               count(*) AS readings
        FROM sensor_data GROUP BY 1 ORDER BY 1""", q01),
    Query("minutes each sensor was active (date_diff)", """
        SELECT sensor_id,
               date_diff('minute', min(from_iso8601_timestamp(timestamp)), max(from_iso8601_timestamp(timestamp)))
                   AS active_minutes
        FROM sensor_data GROUP BY sensor_id ORDER BY sensor_id""", q02),
    Query("readings in the first 90 minutes per location (date_add)", """
        SELECT location, count(*) AS n FROM sensor_data
        WHERE from_iso8601_timestamp(timestamp) < date_add('minute', 90, TIMESTAMP '2026-11-23 00:00:00 UTC')
        GROUP BY location ORDER BY location""", q03),
    Query("readings since 03:00 (parse_datetime with a Joda pattern)", """
        SELECT count(*) FROM sensor_data
        WHERE parse_datetime(substr(timestamp, 1, 19), 'yyyy-MM-dd''T''HH:mm:ss') >= TIMESTAMP '2026-11-23 03:00:00 UTC'
        """, q04),  # noqa: E501
    Query("last log line per service (to_iso8601)", """
        SELECT service, to_iso8601(max(from_iso8601_timestamp(timestamp))) AS last_seen
        FROM system_logs GROUP BY service ORDER BY service""", q05),
    Query("average response time from log text (regexp_extract, CAST)", r"""
        SELECT service, avg(CAST(regexp_extract(message, 'served in (\d+) ms', 1) AS integer)) AS avg_ms
        FROM system_logs GROUP BY service ORDER BY service""", q06),
    Query("fourth word of each message (split_part)", """
        SELECT split_part(message, ' ', 4) AS word, count(*) AS n FROM system_logs
        GROUP BY 1 ORDER BY n DESC, word LIMIT 8""", q07),
    Query("a payload column mixing JSON and plain text (json_extract_scalar)", """
        WITH p AS (
            SELECT CASE WHEN level IN ('ERROR', 'CRITICAL')
                        THEN '{"service": "' || service || '", "host": "' || host || '"}'
                        ELSE message END AS payload
            FROM system_logs
        )
        SELECT json_extract_scalar(payload, '$.service') AS service, count(*) AS n FROM p GROUP BY 1 ORDER BY 1
        """, q08),
    Query("alerting levels from a JSON list (json_array_contains)", """
        SELECT level, count(*) AS lines, count_if(json_array_contains('["ERROR", "CRITICAL"]', level)) AS alerting
        FROM system_logs GROUP BY level ORDER BY level""", q09),
    Query("sensors ranked by average temperature per location (rank, subquery)", """
        SELECT location, sensor_id, avg_temp, rank() OVER (PARTITION BY location ORDER BY avg_temp DESC) AS rnk
        FROM (SELECT location, sensor_id, round(avg(temperature), 2) AS avg_temp FROM sensor_data GROUP BY 1, 2)
        ORDER BY location, rnk, sensor_id""", q10),
    Query("largest jump between consecutive readings (lag, CTE)", """
        WITH d AS (
            SELECT sensor_id, temperature - lag(temperature) OVER (PARTITION BY sensor_id ORDER BY timestamp) AS delta
            FROM sensor_data
        )
        SELECT sensor_id, round(max(abs(delta)), 2) AS max_jump FROM d GROUP BY sensor_id ORDER BY sensor_id""", q11),
    Query("most frequent words in error messages (UNNEST of split)", """
        SELECT word, count(*) AS n FROM system_logs CROSS JOIN UNNEST(split(message, ' ')) AS t(word)
        WHERE level = 'ERROR' GROUP BY word ORDER BY n DESC, word LIMIT 5""", q12),
    Query("per-sensor extremes summed (UNNEST of a map)", """
        SELECT k, round(sum(v), 2) AS total
        FROM (SELECT map(ARRAY['min', 'max'], ARRAY[min(temperature), max(temperature)]) AS m
              FROM sensor_data GROUP BY sensor_id)
        CROSS JOIN UNNEST(m) AS t(k, v)
        GROUP BY k ORDER BY k""", q13),
    Query("courses with at least 10 grades (GROUP BY, HAVING)", """
        SELECT course_id, count(*) AS grades, round(avg(grade), 1) AS avg_grade
        FROM student_events WHERE event_type = 'grade_posted'
        GROUP BY course_id HAVING count(*) >= 10 ORDER BY avg_grade DESC, course_id""", q14),
    Query("students who enrolled and submitted (CTEs, JOIN)", """
        WITH enrolled AS (SELECT DISTINCT student_id, course_id FROM student_events WHERE event_type = 'course_enrolled'),
             submitted AS (
                 SELECT DISTINCT student_id, course_id FROM student_events WHERE event_type = 'assignment_submitted')
        SELECT e.course_id, count(*) AS students
        FROM enrolled e JOIN submitted s ON e.student_id = s.student_id AND e.course_id = s.course_id
        GROUP BY e.course_id ORDER BY e.course_id""", q15),  # noqa: E501
    Query("median temperature and p95 humidity per location (approx_percentile)", """
        SELECT location, approx_percentile(temperature, 0.5) AS p50_temp, approx_percentile(humidity, 0.95) AS p95_humidity
        FROM sensor_data GROUP BY location ORDER BY location""", q16),  # noqa: E501
    Query("files and rows per arrival hour ($path)", r"""
        SELECT regexp_extract("$path", 'hour=(\d+)', 1) AS arrival_hour, count(DISTINCT "$path") AS files,
               count(*) AS readings
        FROM sensor_data GROUP BY 1 ORDER BY 1""", q17),
    Query("a column repeated under one name, and one without a name", """
        SELECT sensor_id, location AS sensor_id, count(*) FROM sensor_data GROUP BY 1, 2 ORDER BY 1, 2""", q18),
    Query("readings per whole degree (CAST double AS bigint)", """
        SELECT CAST(temperature AS bigint) AS t, count(*) AS readings FROM sensor_data GROUP BY 1 ORDER BY 1""", q19),
    Query("doubled total of whole degrees (reduce with a finish lambda)", """
        SELECT sensor_id,
               reduce(array_agg(CAST(temperature AS bigint)), 0, (s, x) -> s + x, s -> s * 2) AS doubled_total
        FROM sensor_data GROUP BY sensor_id ORDER BY sensor_id""", q20),
    Query("errors per weekday, database-qualified (day_of_week, count_if)", """
        SELECT day_of_week(from_iso8601_timestamp(timestamp)) AS dow, count_if(level = 'ERROR')
        FROM awsdatacatalog.streamlake.system_logs GROUP BY 1 ORDER BY 1""", q21),
    Query("latest reading per sensor (row_number)", """
        SELECT sensor_id, temperature, timestamp
        FROM (SELECT sensor_id, temperature, timestamp,
                     row_number() OVER (PARTITION BY sensor_id ORDER BY timestamp DESC) AS rn
              FROM "streamlake"."sensor_data")
        WHERE rn = 1 ORDER BY sensor_id""", q22),
    Query("level counts per service as a map (map_agg)", """
        SELECT service, map_agg(level, n) AS levels
        FROM (SELECT service, level, count(*) AS n FROM system_logs GROUP BY 1, 2)
        GROUP BY service ORDER BY service""", refused="map_agg()"),
]  # fmt: skip

ANSWERED = sum(q.expected is not None for q in QUERIES)


def _same(got: Any, expected: Any) -> bool:
    if isinstance(expected, float) and isinstance(got, float):
        return got == pytest.approx(expected, rel=1e-9, abs=1e-9)
    return got == expected and type(got) is type(expected)


def test_the_set_has_twenty_three_queries_and_at_least_twenty_one_are_answered():
    assert len(QUERIES) == 23
    assert ANSWERED >= 21
    # The figure docs/athena.md and the README quote.
    root = Path(__file__).resolve().parents[2]
    refused = len(QUERIES) - ANSWERED
    assert f"{ANSWERED} of 23 give Athena's rows; {refused} is refused" in (root / "docs" / "athena.md").read_text()
    assert f"{ANSWERED} answered with Athena's rows, {refused} refused" in (root / "README.md").read_text()


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.name)
def test_everyday_query_gives_athenas_rows_or_is_refused_naming_the_construct(sample_lake, query: Query):
    if query.expected is None:
        with pytest.raises(UnsupportedConstructError, match=re.escape(query.refused)):
            local.run(query.sql, sample_lake.lake_dir, database="streamlake", bucket=BUCKET)
        return
    result = local.run(query.sql, sample_lake.lake_dir, database="streamlake", bucket=BUCKET)
    columns, rows = query.expected(sample_lake)
    assert result.columns == columns
    assert rows, "the expectation has rows to compare"
    assert len(result.rows) == len(rows)
    for got, want in zip(result.rows, rows, strict=True):
        assert len(got) == len(want) and all(_same(g, w) for g, w in zip(got, want, strict=True)), (got, want)


def test_hidden_columns_describe_the_file_each_row_came_from(sample_lake):
    result = local.run(
        'SELECT "$path", "$file_size", "$file_modified_time", count(*) AS n FROM sensor_data GROUP BY 1, 2, 3',
        sample_lake.lake_dir,
        database="streamlake",
        bucket=BUCKET,
    )
    expected = {}
    with duckdb.connect() as con:
        for path in sample_lake.lake_dir.glob(f"{lake.table_prefix('sensor')}*/*/*/*/*.parquet"):
            stat = path.stat()
            key = path.relative_to(sample_lake.lake_dir).as_posix()
            modified = datetime.fromtimestamp(stat.st_mtime_ns // 1_000_000 / 1000, UTC).replace(tzinfo=None)
            rows = con.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchone()[0]
            expected[f"s3://{BUCKET}/{key}"] = (stat.st_size, modified, rows)
    got = {path: (size, modified, n) for path, size, modified, n in result.rows}
    assert set(got) == set(expected)
    for path, (size, modified, n) in expected.items():
        assert got[path][0] == size and got[path][2] == n
        assert abs(got[path][1] - modified) < timedelta(milliseconds=1)


def test_select_star_does_not_show_hidden_columns_even_when_the_query_reads_them(sample_lake):
    result = local.run(
        'SELECT *, "$path" AS file FROM sensor_data LIMIT 1', sample_lake.lake_dir, database="streamlake"
    )
    assert result.columns == [
        "event_id", "timestamp", "source", "sensor_id", "temperature", "humidity", "location",
        "year", "month", "day", "hour", "file",
    ]  # fmt: skip


def test_select_star_with_a_repeated_partition_column_keeps_each_columns_values(sample_lake):
    result = local.run(
        "SELECT *, hour AS sensor_id FROM sensor_data ORDER BY timestamp LIMIT 5", sample_lake.lake_dir
    )
    assert result.columns.count("sensor_id") == 2
    first, second = (i for i, c in enumerate(result.columns) if c == "sensor_id")
    for row in result.rows:
        assert row[first].startswith("sensor-") and re.fullmatch(r"\d{2}", row[second])


def test_json_text_of_the_lake_is_read_leniently(sample_lake):
    # Every message is plain text: Athena gives NULL per row where DuckDB's JSON functions failed the query.
    result = local.run(
        "SELECT count(*), count(json_extract(message, '$.a')), count(json_array_length(message)) FROM system_logs",
        sample_lake.lake_dir,
    )
    assert result.rows == [(len(sample_lake.family("log")), 0, 0)]
    assert json.loads(json.dumps(result.columns)) == ["_col0", "_col1", "_col2"]
