"""Properties of the parts of the local engine that read user input: date patterns and JSON paths."""

from __future__ import annotations

import json
import string
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from athena_queries import local
from athena_queries.trino_functions import json_extract, json_extract_scalar
from athena_queries.trino_sql import UnsupportedConstructError, joda_pattern, mysql_pattern

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
ENGINE = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    lake_dir = tmp_path_factory.mktemp("empty-lake")
    (lake_dir / "processed").mkdir()
    con = local.connect(lake_dir, database="streamlake", bucket="lake")
    yield lambda sql: local.execute(con, local.transpile(sql), lake_dir).rows[0][0]
    con.close()


@given(st.text(alphabet=string.ascii_letters + string.punctuation + " ", max_size=20))
@FAST
def test_any_joda_or_mysql_pattern_is_mapped_or_refused_naming_what(pattern: str):
    for mapper, words in ((joda_pattern, ("pattern letter", "quote")), (mysql_pattern, ("specifier",))):
        for parsing in (False, True):
            try:
                mapper(pattern, parsing=parsing)
            except UnsupportedConstructError as error:
                assert any(word in str(error) for word in words), str(error)


_FIELDS = ["yyyy", "MM", "dd", "HH", "mm", "ss", "SSS"]


@given(
    st.permutations(_FIELDS),
    st.sampled_from(["-", "/", " ", ":", "."]),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 12, 31)),
)
@ENGINE
def test_parse_datetime_reads_back_what_format_datetime_wrote(engine, fields, separator, moment):
    # GIVEN any order of every field, and a millisecond timestamp
    pattern = separator.join(fields)
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    literal = moment.isoformat(timespec="milliseconds").replace("T", " ")
    # WHEN it is formatted and parsed back with the same Joda pattern
    sql = f"parse_datetime(format_datetime(TIMESTAMP '{literal} UTC', '{pattern}'), '{pattern}')"
    # THEN it is the same instant
    assert engine(f"SELECT {sql}") == moment


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.text(max_size=8),
)
_DOCUMENTS = st.recursive(
    _SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)


def _paths(document, prefix="$"):
    """Every (Trino JSON path, value) in a document, written with ["key"] and [n] steps."""
    yield prefix, document
    if isinstance(document, dict):
        for key, value in document.items():
            yield from _paths(value, f"{prefix}[{json.dumps(key)}]")
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from _paths(value, f"{prefix}[{index}]")


@given(_DOCUMENTS, st.data())
@FAST
def test_json_extract_scalar_finds_every_scalar_and_nulls_containers(document, data):
    text = json.dumps(document)
    path, value = data.draw(st.sampled_from(list(_paths(document))))
    got = json_extract_scalar(text, path)
    if value is None or isinstance(value, dict | list):
        assert got is None
    elif isinstance(value, bool):
        assert got == ("true" if value else "false")
    elif isinstance(value, str):
        assert got == value
    else:
        assert got == json.dumps(value)  # the number exactly as the document wrote it
    # json_extract gives JSON text that reads back as the same value (floats as Java prints them: 1.0E10).
    assert json.loads(json_extract(text, path)) == value


@given(st.text(max_size=30))
@FAST
def test_text_that_is_not_json_gives_null_never_an_error(text: str):
    try:
        json.loads(text)
    except ValueError:
        assert json_extract_scalar(text, "$.a") is None and json_extract(text, "$") is None

