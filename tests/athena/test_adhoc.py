"""Ad-hoc SQL: `run FILE.sql | - | --sql "..."`, locally and on Athena, with saved queries' parameters and output."""

from __future__ import annotations

import io
import json

import boto3
import pytest
from botocore.stub import Stubber

from athena_queries import aws
from athena_queries.__main__ import main
from athena_queries.runner import RunnerError, resolve_query, run_athena
from tests.athena.conftest import iso

EXECUTION_ID = "9a1d6c2e-0000-4000-8000-000000000016"


def _lake(sample_lake) -> list[str]:
    return ["--local", "--lake-dir", str(sample_lake.lake_dir)]


def test_a_sql_file_runs_locally_with_its_declared_parameters(tmp_path, capsys, sample_lake):
    # GIVEN a .sql file with a parameter header like a saved query's
    query = tmp_path / "hot_sensors.sql"
    query.write_text(
        "-- Sensors with readings above a threshold.\n"
        "-- @param threshold float = 30  degrees Celsius\n"
        "SELECT sensor_id, count(*) AS readings FROM sensor_data WHERE temperature > {{threshold}}\n"
        "GROUP BY sensor_id ORDER BY sensor_id;\n"
    )
    # WHEN it runs with a parameter value, as JSON
    assert main(["run", str(query), "-p", "threshold=25", *_lake(sample_lake), "-o", "json"]) == 0
    # THEN the rows are those of the independent count
    rows = json.loads(capsys.readouterr().out)
    expected = {}
    for event in sample_lake.family("sensor"):
        if event.record["temperature"] > 25:
            expected[event.record["sensor_id"]] = expected.get(event.record["sensor_id"], 0) + 1
    assert rows == [{"sensor_id": s, "readings": n} for s, n in sorted(expected.items())]


def test_sql_text_and_stdin_run_locally_in_every_output_format(capsys, monkeypatch, sample_lake):
    sql = 'SELECT count(*), count(DISTINCT sensor_id) AS sensors FROM "streamlake"."sensor_data"'
    total = len(sample_lake.family("sensor"))
    sensors = len({e.record["sensor_id"] for e in sample_lake.family("sensor")})
    assert main(["run", "--sql", sql, *_lake(sample_lake), "-o", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == ["_col0,sensors", f"{total},{sensors}"]
    monkeypatch.setattr("sys.stdin", io.StringIO(sql + ";\n"))
    assert main(["run", "-", *_lake(sample_lake)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split("|")[0].strip() == "_col0" and "(1 row)" in out


def test_a_refused_construct_is_one_line_naming_it(capsys, sample_lake):
    assert main(["run", "--sql", "SELECT map_agg(sensor_id, temperature) FROM sensor_data", *_lake(sample_lake)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: sql: map_agg() ") and err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run"], "error: name a saved query, a .sql file, - (stdin) or --sql"),
        (["run", "lab_latest_readings", "--sql", "SELECT 1"], "error: give a query name or file, or --sql, not both"),
        (["run", "/nonexistent/q.sql"], "error: cannot read /nonexistent/q.sql"),
        (["run", "--sql", "-- only a comment"], "error: sql: no SQL to run"),
        (["run", "--sql", "SELECT {{x}}"], "error: sql: placeholders ['x'] and '@param' declarations [] must match"),
    ],
)
def test_bad_query_arguments_are_one_line_errors(argv, message, capsys, tmp_path):
    assert main([*argv, "--local", "--lake-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(message), err
    assert err.count("\n") == 1


def test_resolve_query_reads_a_saved_name_a_file_and_text(tmp_path):
    assert resolve_query("lab_latest_readings").name == "lab_latest_readings"
    path = tmp_path / "mine.sql"
    path.write_text("SELECT 1")
    assert (resolve_query(str(path)).name, resolve_query(str(path)).sql) == ("mine", "SELECT 1")
    assert resolve_query(None, "SELECT 2").sql == "SELECT 2"
    with pytest.raises(RunnerError, match="no saved query 'nope'"):
        resolve_query("nope")


@pytest.fixture
def athena(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    # A session of its own: boto3.client() would cache these fake credentials in the default session.
    client = boto3.session.Session().client("athena", region_name="eu-west-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _stub_run(stubber: Stubber, sql: str, columns, rows) -> None:
    stubber.add_response(
        "start_query_execution",
        {"QueryExecutionId": EXECUTION_ID},
        {"QueryString": sql, "QueryExecutionContext": {"Database": "streamlake"}, "WorkGroup": "wg"},
    )
    execution = {
        "QueryExecutionId": EXECUTION_ID,
        "Status": {"State": "SUCCEEDED"},
        "Statistics": {"DataScannedInBytes": 2048, "EngineExecutionTimeInMillis": 300},
    }
    stubber.add_response("get_query_execution", {"QueryExecution": execution}, {"QueryExecutionId": EXECUTION_ID})
    data = [[c for c, _ in columns], *rows]
    stubber.add_response(
        "get_query_results",
        {
            "ResultSet": {
                "Rows": [{"Data": [{"VarCharValue": v} for v in row]} for row in data],
                "ResultSetMetadata": {"ColumnInfo": [{"Name": c, "Type": t} for c, t in columns]},
            }
        },
        {"QueryExecutionId": EXECUTION_ID, "MaxResults": aws.PAGE_SIZE},
    )


def test_sql_text_runs_on_athena_as_written_after_parameters(athena, capsys, monkeypatch, sample_lake):
    # GIVEN an Athena client that expects exactly the rendered SQL text
    client, stubber = athena
    text = "-- @param since timestamp = now-1h  first event\nSELECT count(*) FROM sensor_data WHERE ts >= {{since}}"
    rendered = text.replace("{{since}}", "from_iso8601_timestamp('2026-11-23T00:00:00.000Z')")
    _stub_run(stubber, rendered, [("_col0", "bigint")], [["42"]])
    monkeypatch.setattr(aws, "_client", lambda service, region=None: client)
    # WHEN the CLI runs it on Athena (no --local) with a parameter
    argv = ["run", "--sql", text, "-p", f"since={iso(sample_lake.start)}", "--workgroup", "wg"]
    assert main([*argv, "--database", "streamlake", "-o", "json"]) == 0
    # THEN Athena's rows come back in the same shape as locally
    captured = capsys.readouterr()
    assert json.loads(captured.out) == [{"_col0": 42}]
    assert "query id " + EXECUTION_ID in captured.err


def test_a_file_runs_on_athena_through_the_runner_api(athena, tmp_path):
    client, stubber = athena
    path = tmp_path / "latest.sql"
    path.write_text("SELECT sensor_id, sensor_id AS s FROM sensor_data LIMIT 1")
    _stub_run(stubber, path.read_text(), [("sensor_id", "varchar"), ("s", "varchar")], [["s1", "s1"]])
    result = run_athena(resolve_query(str(path)), {}, workgroup="wg", database="streamlake", client=client)
    assert (result.name, result.columns, result.rows) == ("latest", ["sensor_id", "s"], [("s1", "s1")])
