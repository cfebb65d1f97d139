"""Every saved query is Athena (Trino) SQL over the Glue tables as synthesised, with declared, valid parameters."""

from __future__ import annotations

import re

import pytest
import sqlglot
from sqlglot import exp
from sqlglot.optimizer.qualify import qualify

from athena_queries import Param, ParameterError, SavedQuery, get_query, saved_queries
from athena_queries.params import parse_declaration
from lambdas.schemas import FAMILY_TABLES, PASS_MARK
from streamlake import lake
from tests.infra.helpers import only

QUERIES = saved_queries()
ANALYTICS = [q for q in QUERIES if not q.name.startswith("lab_")]
_PARTITION_FILTER = re.compile(r"concat\(year, month, day, hour\) (BETWEEN|>=)")


def _glue_schema(template) -> dict[str, dict[str, str]]:
    """table -> {column: type}, data columns and partition keys, read from the synthesised AWS::Glue::Table."""
    schema = {}
    for resource in template.find_resources("AWS::Glue::Table").values():
        table_input = resource["Properties"]["TableInput"]
        columns = table_input["StorageDescriptor"]["Columns"] + table_input["PartitionKeys"]
        schema[table_input["Name"]] = {c["Name"]: c["Type"] for c in columns}
    return schema


def test_there_is_an_analytics_query_for_every_question_in_the_issue():
    names = {q.name for q in QUERIES}
    assert {
        "lab_latest_readings",
        "lab_avg_temperature_by_sensor",
        "lab_readings_above_30c",
        "sensor_hourly_stats",
        "sensor_silent",
        "sensor_anomalies",
        "student_logins",
        "student_grades_by_course",
        "log_error_rate",
        "log_top_errors",
        "pipeline_freshness",
    } <= names


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.name)
def test_query_parses_as_one_trino_select(query: SavedQuery):
    statements = sqlglot.parse(query.sql, read="trino")
    assert len(statements) == 1
    assert isinstance(statements[0], exp.Query)


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.name)
def test_query_references_only_columns_of_the_synthesised_glue_tables(query: SavedQuery, synth):
    schema = _glue_schema(synth.template(synth.pipeline.data_lake))
    assert set(FAMILY_TABLES.values()) <= set(schema)
    # Raises for any column no table in scope has (qualify resolves CTE and alias columns too).
    qualified = qualify(sqlglot.parse_one(query.sql, read="trino"), schema=schema, dialect="trino")
    ctes = {cte.alias for cte in qualified.find_all(exp.CTE)}
    tables = {t.name for t in qualified.find_all(exp.Table)} - ctes
    assert tables and tables <= set(schema), tables


def test_an_unknown_column_fails_the_schema_check(synth):
    schema = _glue_schema(synth.template(synth.pipeline.data_lake))
    with pytest.raises(sqlglot.errors.OptimizeError, match="grade"):
        qualify(sqlglot.parse_one("SELECT grade FROM sensor_data", read="trino"), schema=schema, dialect="trino")


@pytest.mark.parametrize("query", ANALYTICS, ids=lambda q: q.name)
def test_analytics_queries_document_parameters_and_filter_on_partitions(query: SavedQuery):
    header = [line for line in query.template.splitlines() if line.startswith("--")]
    assert len(header) >= 2, "a description line and at least one line on parameters or behaviour"
    assert all(p.doc for p in query.params), "every parameter says what it means"
    # Every time-ranged query prunes on the hour-of-arrival partitions rather than scanning the whole table.
    if any(p.type == "timestamp" for p in query.params):
        assert _PARTITION_FILTER.search(query.template), query.name


@pytest.mark.parametrize("query", ANALYTICS, ids=lambda q: q.name)
def test_named_query_text_is_the_query_at_its_defaults_with_no_placeholder_left(query: SavedQuery):
    assert "{{" not in query.sql
    assert query.sql == query.render({})
    assert "current_timestamp" in query.sql or not any(p.type == "timestamp" for p in query.params)


def test_parameters_render_as_validated_literals():
    assert Param("n", "int", "5", "").render("42") == "42"
    assert Param("z", "float", "3", "").render("2.5") == "2.5"
    assert Param("s", "string", "x", "").render("O'Brien") == "'O''Brien'"
    assert Param("t", "timestamp", "now", "").render() == "current_timestamp"
    assert Param("t", "timestamp", "now", "").render("now-90m") == "(current_timestamp - INTERVAL '90' MINUTE)"
    assert Param("t", "timestamp", "now", "").render("2026-11-24T10:00") == (
        "from_iso8601_timestamp('2026-11-24T10:00:00.000Z')"
    )
    assert Param("t", "timestamp", "now", "").render("2026-11-24T11:00+01:00") == (
        "from_iso8601_timestamp('2026-11-24T10:00:00.000Z')"
    )


@pytest.mark.parametrize(
    ("param", "value"),
    [
        (Param("n", "int", "5", ""), "5; DROP TABLE x"),
        (Param("n", "int", "5", ""), "1.5"),
        (Param("z", "float", "3", ""), "nan"),
        (Param("t", "timestamp", "now", ""), "yesterday"),
        (Param("t", "timestamp", "now", ""), "now-3w"),
    ],
)
def test_invalid_parameter_values_are_rejected_naming_the_parameter(param: Param, value: str):
    with pytest.raises(ParameterError, match=f"parameter {param.name}"):
        param.render(value)


def test_unknown_parameter_names_are_rejected_listing_the_known_ones():
    with pytest.raises(ParameterError, match="unknown parameter.*sincee.*takes: since, until"):
        get_query("student_logins").render({"sincee": "now-1h"})


def test_declarations_need_a_known_type_and_a_valid_default():
    assert parse_declaration("-- @param top int = 10  how many") == Param("top", "int", "10", "how many")
    assert parse_declaration("-- plain comment") is None
    with pytest.raises(ParameterError, match="unknown type"):
        parse_declaration("-- @param top integer = 10")
    with pytest.raises(ParameterError, match="not an integer"):
        parse_declaration("-- @param top int = ten")


def test_a_placeholder_without_declaration_is_an_error(tmp_path):
    (tmp_path / "q.sql").write_text("-- what\n-- @param a int = 1  a\nSELECT {{a}}, {{b}}\n")
    with pytest.raises(ValueError, match="placeholders"):
        saved_queries(tmp_path)


def test_grade_query_default_pass_mark_is_the_contract_pass_mark():
    (pass_mark,) = [p for p in get_query("student_grades_by_course").params if p.name == "pass_mark"]
    assert float(pass_mark.default) == PASS_MARK


def test_partition_projection_matches_the_prefixes_firehose_and_the_local_deliverer_write(synth):
    lake_template = synth.template(synth.pipeline.data_lake)
    ingestion = synth.template(synth.pipeline.ingestion)
    _, stream = only(ingestion, "AWS::KinesisFirehose::DeliveryStream")
    destination = stream["Properties"]["ExtendedS3DestinationConfiguration"]
    firehose_prefix = destination["Prefix"]
    assert firehose_prefix == lake.FIREHOSE_PROCESSED_PREFIX

    family_of_table = {table: family for family, table in FAMILY_TABLES.items()}
    for table in lake_template.find_resources("AWS::Glue::Table").values():
        table_input = table["Properties"]["TableInput"]
        params = table_input["Parameters"]
        if table_input["Name"] == "window_metrics":
            # Written by the window-metrics function, not Firehose: its own prefix, by the window's start hour.
            location = params["storage.location.template"]["Fn::Join"][1][-1]
            assert location == "/metrics/window_metrics/year=${year}/month=${month}/day=${day}/hour=${hour}/"
            continue
        keys = [k["Name"] for k in table_input["PartitionKeys"]]
        location = params["storage.location.template"]["Fn::Join"][1][-1]
        # Firehose's prefix with each expression replaced by the projected key (or the table's fixed family) must be
        # the table's location template: then every object Firehose writes is in a partition Athena projects.
        family = "${family}" if "family" in keys else family_of_table[table_input["Name"]]
        if "source_table" in keys:
            # A change's partitioning key carries the source table level: change/source_table=<t>.
            family += "/source_table=${source_table}"
        projected = firehose_prefix.replace(f"!{{partitionKeyFromLambda:{lake.FAMILY_PARTITION_KEY}}}", family)
        for key, pattern in zip(lake.TIME_PARTITION_KEYS, ("yyyy", "MM", "dd", "HH"), strict=True):
            projected = projected.replace(f"!{{timestamp:{pattern}}}", f"${{{key}}}")
        assert location == "/" + projected, table_input["Name"]
        # Projected values are written the way the prefixes render them: zero-padded months, days and hours.
        assert params["projection.year.format"] == "yyyy"
        for key in ("month", "day", "hour"):
            assert params[f"projection.{key}.digits"] == "2"

    # The local deliverer writes through lake.partition_path; its hour path renders like Firehose's !{timestamp:..}.
    from datetime import UTC, datetime

    arrival = datetime(2026, 3, 4, 5, 6, tzinfo=UTC)
    assert lake.partition_path("sensor", arrival) == "processed/family=sensor/year=2026/month=03/day=04/hour=05/"
    from local import firehose

    assert firehose._hour_path(arrival) == "year=2026/month=03/day=04/hour=05/"


def test_local_views_are_named_like_the_glue_tables(synth):
    from athena_queries import local

    glue_tables = set(_glue_schema(synth.template(synth.pipeline.data_lake)))
    assert glue_tables == {*FAMILY_TABLES.values(), local.ALL_EVENTS_TABLE, "window_metrics"}
    assert set(local.LAKE_TABLES) == glue_tables
