"""Constructs the local engine cannot reproduce are refused with the construct named, never run with wrong rows."""

from __future__ import annotations

import pytest

from athena_queries import local
from athena_queries.local import LocalQueryError, UnsupportedConstructError, check_supported, transpile


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("SELECT map_agg(sensor_id, temperature) FROM sensor_data", "map_agg()"),
        ("SELECT histogram(sensor_id) FROM sensor_data", "histogram()"),
        ("SELECT bing_tile_quadkey(bing_tile(1, 2, 3)) FROM sensor_data", "bing_tile_quadkey() is not among"),
        ("SELECT levenshtein_distance(sensor_id, 'x') FROM sensor_data", "levenshtein_distance() is not among"),
        ("CREATE TABLE hot AS SELECT * FROM sensor_data WHERE temperature > 30", "CREATE TABLE AS"),
        ("INSERT INTO sensor_data SELECT * FROM sensor_data", "INSERT statements are not queries"),
        ("DROP TABLE sensor_data", "DROP statements are not queries"),
        ("SELECT 1; SELECT 2", "expected one statement, got 2"),
    ],
)
def test_unfaithful_constructs_are_refused_naming_the_construct(sql: str, named: str):
    with pytest.raises(UnsupportedConstructError) as raised:
        check_supported(sql)
    assert named in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("SELECT * FROM otherdb.sensor_data", "database 'otherdb' is not the lake's Glue database"),
        ("SELECT * FROM hive.streamlake.sensor_data", "'hive' is not Athena's default data catalog"),
        ('SELECT "$bucket" FROM sensor_data', "not one of Athena's hidden columns"),
        ("SELECT from_iso8601_timestamp('2026-11-24T10:00:00+01:00')", "keeps the literal's UTC offset"),
        ("SELECT current_timestamp AT TIME ZONE 'Europe/Paris'", "locally every timestamp is UTC"),
        ("SELECT TIMESTAMP '2026-11-24 10:00:00 Europe/Paris'", "is in time zone Europe/Paris"),
        ("SELECT format_datetime(current_timestamp, 'yyyy-w') FROM sensor_data", "pattern letter 'w' repeated 1"),
        ("SELECT format_datetime(current_timestamp, 'kk') FROM sensor_data", "pattern letter 'k'"),
        ("SELECT parse_datetime(timestamp, 'yy-MM-dd') FROM sensor_data", "pattern letter 'y' repeated 2"),
        ("SELECT date_format(current_timestamp, '%U') FROM sensor_data", "specifier %U"),
        ("SELECT date_parse(timestamp, '%y') FROM sensor_data", "specifier %y"),
        ("SELECT format_datetime(current_timestamp, sensor_id) FROM sensor_data", "must be a string literal"),
        ("SELECT date_diff('fortnight', current_timestamp, current_timestamp)", "date_diff() unit 'fortnight'"),
        ("SELECT json_extract_scalar(timestamp, '$.a[*]') FROM sensor_data", "Invalid JSON path"),
        ("SELECT approx_percentile(temperature, 1, 0.5) FROM sensor_data", "with weights"),
        ("SELECT x FROM UNNEST(ARRAY[1]) WITH ORDINALITY AS t(x, n)", "WITH ORDINALITY"),
    ],
)
def test_constructs_that_would_answer_differently_are_refused_when_translating(sql: str, named: str):
    with pytest.raises(UnsupportedConstructError) as raised:
        transpile(sql, database="streamlake")
    assert named in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_column_named_like_a_function_is_fine():
    # Only a call is checked: the name as an identifier (or inside a string) is not a construct.
    assert "date_diff" in transpile("SELECT 'map_agg' AS date_diff FROM sensor_data")


def test_invalid_sql_says_it_is_not_trino_sql():
    with pytest.raises(LocalQueryError, match="not valid Athena"):
        check_supported("SELECT FROM WHERE (")


@pytest.mark.parametrize(
    ("trino", "duckdb_fragment"),
    [
        ("SELECT approx_percentile(temperature, 0.95) FROM sensor_data", "QUANTILE_DISC(temperature, 0.95)"),
        ("SELECT approx_distinct(sensor_id) FROM sensor_data", "COUNT(DISTINCT sensor_id)"),
        ("SELECT from_iso8601_timestamp(timestamp) FROM sensor_data", "CAST(timestamp AS TIMESTAMPTZ)"),
        ("SELECT date_format(current_timestamp, '%Y%m%d%H') FROM t", "STRFTIME(CURRENT_TIMESTAMP, '%Y%m%d%H')"),
        ("SELECT format_datetime(current_timestamp, 'yyyy-MM-dd') FROM t", "STRFTIME(CURRENT_TIMESTAMP, '%Y-%m-%d')"),
        ("SELECT regexp_extract(message, 'x') FROM t", "SL_REGEXP_EXTRACT(message, 'x', 0)"),
        ("SELECT CAST(temperature AS bigint) FROM sensor_data", "CAST(ROUND(temperature) AS BIGINT)"),
        ("SELECT to_unixtime(current_timestamp) FROM t", "EPOCH(CURRENT_TIMESTAMP)"),
        ("SELECT max_by(location, timestamp) FROM t", "ARG_MAX(location, timestamp)"),
        ('SELECT count(*) FROM "streamlake"."sensor_data"', 'FROM "sensor_data"'),
        ("SELECT count(*) FROM awsdatacatalog.streamlake.sensor_data", "FROM sensor_data"),
    ],
)
def test_supported_functions_translate_to_their_duckdb_equivalents(trino: str, duckdb_fragment: str):
    assert duckdb_fragment in transpile(trino, database="streamlake")


def test_a_duckdb_failure_is_a_one_line_error(sample_lake):
    with pytest.raises(LocalQueryError, match="DuckDB") as raised:
        local.run("SELECT no_such_column FROM sensor_data", sample_lake.lake_dir)
    assert "\n" not in str(raised.value)


def test_database_qualified_tables_run_when_the_database_is_known(sample_lake):
    expected = [(len(sample_lake.family("sensor")),)]
    for table in ("streamlake.sensor_data", '"streamlake"."sensor_data"', "awsdatacatalog.streamlake.sensor_data"):
        result = local.run(f"SELECT count(*) AS n FROM {table}", sample_lake.lake_dir, database="streamlake")
        assert result.rows == expected, table


def test_a_missing_lake_directory_is_a_clear_error(tmp_path):
    with pytest.raises(LocalQueryError, match="does not exist"):
        local.run("SELECT 1", tmp_path / "nope")


def test_integer_division_by_zero_fails_as_on_athena(sample_lake):
    # Trino fails the query ("Division by zero"); DuckDB alone would answer NULL.
    for sql in ("SELECT count(*) / 0 FROM sensor_data", "SELECT count(*) % 0 FROM sensor_data"):
        with pytest.raises(LocalQueryError, match="Division by zero"):
            local.run(sql, sample_lake.lake_dir)


def test_cast_of_a_timestamp_to_text_is_refused_when_it_runs(sample_lake):
    # Trino prints '2026-11-24 10:00:00.000 UTC' (the declared precision and zone); DuckDB would print '...+00'.
    with pytest.raises(UnsupportedConstructError, match=r"CAST\(timestamp AS varchar\) is refused locally"):
        local.run("SELECT CAST(from_iso8601_timestamp(timestamp) AS varchar) FROM sensor_data", sample_lake.lake_dir)
