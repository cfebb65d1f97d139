"""Every function the local runner refuses is refused, by name, and docs/athena.md lists exactly those.

The list is written here by hand (from docs/athena.md's "Refused locally" table and the Trino function reference;
date_diff, format_datetime and parse_datetime left it when the local engine learned Trino's semantics for them):
a function silently dropped from `UNSUPPORTED_FUNCTIONS` would run on DuckDB with different semantics and give
different rows than Athena, and a subset check would not notice.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from athena_queries.local import UNSUPPORTED_FUNCTIONS, UnsupportedConstructError, check_supported

DOCS = Path(__file__).resolve().parents[2] / "docs" / "athena.md"

# function -> a call Athena accepts, and a phrase the refusal must contain.
REFUSED = {
    "map_agg": ("map_agg(sensor_id, temperature)", "MAP"),
    "format": ("format('%s-%d', sensor_id, 3)", "Java-style"),
    "histogram": ("histogram(sensor_id)", "MAP of value counts"),
    "approx_set": ("approx_set(sensor_id)", "HyperLogLog"),
    "merge": ("merge(approx_set(sensor_id))", "sketches"),
    "tdigest_agg": ("tdigest_agg(temperature)", "t-digest"),
    "at_timezone": ("at_timezone(current_timestamp, 'Europe/Madrid')", "every timestamp is UTC"),
    "with_timezone": ("with_timezone(current_timestamp, 'Europe/Madrid')", "every timestamp is UTC"),
}
# Constructs other than functions the docs list as refused.
REFUSED_CONSTRUCTS = {"AT TIME ZONE", '"$bucket"', "othercatalog.", "CREATE TABLE AS", "INSERT / DDL"}


def test_the_refused_functions_are_exactly_the_written_list():
    assert set(UNSUPPORTED_FUNCTIONS) == set(REFUSED)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_each_refused_function_is_refused_naming_it_and_why(name):
    call, why = REFUSED[name]
    with pytest.raises(UnsupportedConstructError) as raised:
        check_supported(f"SELECT {call} AS v FROM sensor_data")
    message = str(raised.value)
    assert message.startswith(f"{name}() "), message
    assert why in message and "\n" not in message


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_refused_function_is_refused_in_any_case_and_nested(name):
    call, _ = REFUSED[name]
    upper = call.replace(name, name.upper(), 1)
    with pytest.raises(UnsupportedConstructError):
        check_supported(
            f"SELECT sensor_id FROM sensor_data WHERE sensor_id IN (SELECT CAST({upper} AS varchar) FROM t)"
        )


def test_docs_list_exactly_the_refused_functions_and_constructs():
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## Refused locally", 1)[1].split("\n## ", 1)[0]
    documented = {m.group(1) for m in re.finditer(r"^\| `([^`]+)`", section, re.MULTILINE)}
    assert documented == {f"{name}()" for name in REFUSED} | REFUSED_CONSTRUCTS
