"""The Athena functions docs/athena.md lists as supported locally give Athena's (Trino's) answer on DuckDB."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from athena_queries import local
from athena_queries.local import UNSUPPORTED_FUNCTIONS

DOCS = Path(__file__).resolve().parents[2] / "docs" / "athena.md"
TS = "from_iso8601_timestamp('2026-11-24T10:37:12.345Z')"

# function -> (Trino expression, the value Athena returns, as the runner hands it back)
SUPPORTED: dict[str, tuple[str, object]] = {
    "from_iso8601_timestamp": (TS, datetime(2026, 11, 24, 10, 37, 12, 345000)),
    "date_trunc": (f"date_trunc('hour', {TS})", datetime(2026, 11, 24, 10)),
    "date_add": (f"date_add('minute', 90, {TS})", datetime(2026, 11, 24, 12, 7, 12, 345000)),
    "date_format": (f"date_format({TS}, '%Y-%m-%d %H:%i:%s')", "2026-11-24 10:37:12"),
    "date_parse": ("date_parse('2026-11-24 10:07', '%Y-%m-%d %H:%i')", datetime(2026, 11, 24, 10, 7)),
    "to_unixtime": ("to_unixtime(from_iso8601_timestamp('2026-11-24T10:00:00Z'))", 1795514400.0),
    "from_unixtime": ("from_unixtime(1795514400)", datetime(2026, 11, 24, 10)),
    "current_timestamp": ("current_timestamp > from_iso8601_timestamp('2026-01-01T00:00:00Z')", True),
    "year": (f"year({TS})", 2026),
    "hour": (f"hour({TS})", 10),
    "day_of_week": (f"day_of_week({TS})", 2),
    "round": ("round(-2.5)", Decimal("-3")),
    "floor": ("floor(2.7)", Decimal("2")),
    "abs": ("abs(-3)", 3),
    "power": ("power(2, 10)", 1024.0),
    "sqrt": ("sqrt(16.0)", 4.0),
    "mod": ("mod(-7, 3)", -1),
    "greatest": ("greatest(1, 5, 3)", 5),
    "coalesce": ("coalesce(NULL, 'x')", "x"),
    "nullif": ("nullif(1, 1)", None),
    "if": ("if(1 > 0, 'yes', 'no')", "yes"),
    "concat": ("concat('a', 'b', 'c')", "abc"),
    "lower": ("lower('AbC')", "abc"),
    "upper": ("upper('AbC')", "ABC"),
    "length": ("length('abcd')", 4),
    "substr": ("substr('abcdef', 2, 3)", "bcd"),
    "strpos": ("strpos('abcdef', 'cd')", 3),
    "split_part": ("split_part('a,b,c', ',', 2)", "b"),
    "replace": ("replace('aXbX', 'X', '-')", "a-b-"),
    "trim": ("trim('  a  ')", "a"),
    "regexp_like": ("regexp_like('sensor-07', '^sensor-[0-9]+$')", True),
    "regexp_extract": ("regexp_extract('sensor-07', '([a-z]+)-([0-9]+)', 2)", "07"),
    "regexp_replace": ("regexp_replace('a1b22', '[0-9]+', '#')", "a#b#"),
    "json_extract_scalar": ("""json_extract_scalar('{"a": {"b": 5}}', '$.a.b')""", "5"),
    "cardinality": ("cardinality(ARRAY[1, 2, 3])", 3),
    "contains": ("contains(ARRAY[1, 2, 3], 2)", True),
    "element_at": ("element_at(ARRAY[10, 20, 30], 2)", 20),
    "try_cast": ("try_cast('x' AS integer)", None),
    "integer division": ("-7 / 2", -3),
}

# Aggregates and window functions, checked over a fixed VALUES list.
AGGREGATES: dict[str, tuple[str, object]] = {
    "count_if": ("count_if(x > 2)", 2),
    "approx_distinct": ("approx_distinct(x)", 4),
    "approx_percentile": ("approx_percentile(x, 0.5) BETWEEN 2 AND 3", True),  # approximate on both engines
    "arbitrary": ("arbitrary(x) IS NOT NULL", True),
    "max_by": ("max_by(name, x)", "d"),
    "min_by": ("min_by(name, x)", "a"),
    "stddev_samp": ("round(stddev_samp(x), 6)", 1.290994),
    "avg": ("avg(x)", 2.5),
    "row_number": ("max(rn)", 4),
}
_VALUES = "(VALUES (1.0, 'a'), (2.0, 'b'), (3.0, 'c'), (4.0, 'd')) AS t(x, name)"


@pytest.fixture(scope="module")
def empty_lake(tmp_path_factory):
    lake_dir = tmp_path_factory.mktemp("empty-lake")
    (lake_dir / "processed").mkdir()
    return lake_dir


@pytest.mark.parametrize("function", sorted(SUPPORTED))
def test_scalar_function_matches_athena(function, empty_lake):
    expression, expected = SUPPORTED[function]
    (value,) = local.run(f"SELECT {expression} AS v", empty_lake).rows[0]
    if isinstance(expected, float):
        assert value == pytest.approx(expected)
    else:
        assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("function", sorted(AGGREGATES))
def test_aggregate_function_matches_athena(function, empty_lake):
    expression, expected = AGGREGATES[function]
    source = f"(SELECT x, name, row_number() OVER (ORDER BY x) AS rn FROM {_VALUES})"
    (value,) = local.run(f"SELECT {expression} AS v FROM {source}", empty_lake).rows[0]
    assert value == pytest.approx(expected) if isinstance(expected, float) else value == expected


def _doc_table(heading: str) -> set[str]:
    text = DOCS.read_text(encoding="utf-8")
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    return {m.group(1) for m in re.finditer(r"^\| `([^`]+)`", section, re.MULTILINE)}


def test_docs_list_exactly_the_functions_tested_as_supported():
    assert _doc_table("## Functions supported locally") == set(SUPPORTED) | set(AGGREGATES)


def test_docs_list_exactly_the_constructs_the_runner_refuses():
    documented = _doc_table("## Refused locally")
    assert {f"{name}()" for name in UNSUPPORTED_FUNCTIONS} <= documented
    assert {'"$path"', "awsdatacatalog.", "CREATE TABLE AS", "INSERT / DDL"} <= documented
