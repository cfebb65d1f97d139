"""Constructs DuckDB would not reproduce are refused with the construct and the reason, never run with wrong rows."""

from __future__ import annotations

import pytest

from athena_queries import local
from athena_queries.local import LocalQueryError, UnsupportedConstructError, check_supported, transpile


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("SELECT parse_datetime(timestamp, 'yyyy-MM-dd') FROM sensor_data", "parse_datetime() takes a Joda-Time"),
        ("SELECT format_datetime(current_timestamp, 'yyyy') FROM sensor_data", "format_datetime() takes a Joda"),
        ("SELECT map_agg(sensor_id, temperature) FROM sensor_data", "map_agg()"),
        ("SELECT date_diff('second', current_timestamp, current_timestamp) FROM sensor_data", "date_diff()"),
        ('SELECT "$path", count(*) FROM sensor_data GROUP BY 1', '"$path" is an Athena hidden column'),
        ("SELECT * FROM awsdatacatalog.streamlake.sensor_data", "catalog-qualified table"),
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


def test_a_column_named_like_a_refused_function_is_fine():
    # Only a call is refused: the name as an identifier (or inside a string) is not a construct.
    assert "date_diff" in transpile("SELECT 'date_diff' AS date_diff FROM sensor_data")


def test_invalid_sql_says_it_is_not_trino_sql():
    with pytest.raises(LocalQueryError, match="not valid Athena"):
        check_supported("SELECT FROM WHERE (")


@pytest.mark.parametrize(
    ("trino", "duckdb_fragment"),
    [
        ("SELECT approx_percentile(temperature, 0.95) FROM sensor_data", "APPROX_QUANTILE(temperature, 0.95)"),
        ("SELECT from_iso8601_timestamp(timestamp) FROM sensor_data", "CAST(timestamp AS TIMESTAMPTZ)"),
        ("SELECT date_format(current_timestamp, '%Y%m%d%H') FROM t", "STRFTIME(CURRENT_TIMESTAMP, '%Y%m%d%H')"),
        ("SELECT to_unixtime(current_timestamp) FROM t", "EPOCH(CURRENT_TIMESTAMP)"),
        ("SELECT max_by(location, timestamp) FROM t", "ARG_MAX(location, timestamp)"),
    ],
)
def test_supported_functions_translate_to_their_duckdb_equivalents(trino: str, duckdb_fragment: str):
    assert duckdb_fragment in transpile(trino)


def test_a_function_duckdb_lacks_is_a_one_line_error(sample_lake):
    with pytest.raises(LocalQueryError, match="DuckDB rejected the translated query") as raised:
        local.run("SELECT bing_tile_quadkey(bing_tile(1, 2, 3)) FROM sensor_data", sample_lake.lake_dir)
    assert "\n" not in str(raised.value)


def test_database_qualified_tables_run_when_the_database_is_known(sample_lake):
    result = local.run("SELECT count(*) AS n FROM streamlake.sensor_data", sample_lake.lake_dir, database="streamlake")
    assert result.rows == [(len(sample_lake.family("sensor")),)]


def test_a_missing_lake_directory_is_a_clear_error(tmp_path):
    with pytest.raises(LocalQueryError, match="does not exist"):
        local.run("SELECT 1", tmp_path / "nope")
