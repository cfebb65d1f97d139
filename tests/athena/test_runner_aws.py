"""The runner on Athena, against botocore Stubber responses: polling, paging, failures and bytes scanned."""

from __future__ import annotations

from datetime import datetime

import boto3
import pytest
from botocore.stub import ANY, Stubber

from athena_queries import aws, get_query
from athena_queries.runner import RunnerError, cost_usd, format_scan, run_athena, run_local
from tests.athena.conftest import iso

EXECUTION_ID = "4f7e2b9c-0000-4000-8000-000000000001"
WORKGROUP, DATABASE = "streamlake", "streamlake"


@pytest.fixture
def athena(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client("athena", region_name="eu-west-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _start(stubber: Stubber) -> None:
    stubber.add_response(
        "start_query_execution",
        {"QueryExecutionId": EXECUTION_ID},
        {"QueryString": ANY, "QueryExecutionContext": {"Database": DATABASE}, "WorkGroup": WORKGROUP},
    )


def _state(stubber: Stubber, state: str, **extra) -> None:
    execution = {"QueryExecutionId": EXECUTION_ID, "Status": {"State": state, **extra.pop("status", {})}, **extra}
    stubber.add_response("get_query_execution", {"QueryExecution": execution}, {"QueryExecutionId": EXECUTION_ID})


def _page(stubber: Stubber, columns, rows, *, header: bool, token_in=None, token_out=None) -> None:
    data = ([[c for c, _ in columns]] if header else []) + rows
    response = {
        "ResultSet": {
            "Rows": [{"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in data],
            "ResultSetMetadata": {"ColumnInfo": [{"Name": c, "Type": t} for c, t in columns]},
        }
    }
    if token_out:
        response["NextToken"] = token_out
    expected = {"QueryExecutionId": EXECUTION_ID, "MaxResults": aws.PAGE_SIZE}
    if token_in:
        expected["NextToken"] = token_in
    stubber.add_response("get_query_results", response, expected)


def _run(client, name="lab_avg_temperature_by_sensor", params=None, **options):
    sleeps = []
    options.setdefault("sleep", sleeps.append)
    result = run_athena(name, params or {}, workgroup=WORKGROUP, database=DATABASE, client=client, **options)
    return result, sleeps


SUCCEEDED_STATS = {"Statistics": {"DataScannedInBytes": 157_000, "EngineExecutionTimeInMillis": 812}}


def test_polls_with_exponential_backoff_until_it_succeeds(athena):
    client, stubber = athena
    _start(stubber)
    for state in ("QUEUED", "RUNNING", "RUNNING", "RUNNING"):
        _state(stubber, state)
    _state(stubber, "SUCCEEDED", **SUCCEEDED_STATS)
    _page(stubber, [("sensor_id", "varchar"), ("avg_temp", "double")], [["s1", "21.5"]], header=True)
    result, sleeps = _run(client)
    assert sleeps == [0.25, 0.5, 1.0, 2.0]
    assert result.rows == [("s1", 21.5)]
    assert result.query_execution_id == EXECUTION_ID


def test_backoff_is_capped(athena):
    client, stubber = athena
    _start(stubber)
    for _ in range(8):
        _state(stubber, "RUNNING")
    _state(stubber, "SUCCEEDED", **SUCCEEDED_STATS)
    _page(stubber, [("sensor_id", "varchar"), ("avg_temp", "double")], [], header=True)
    _, sleeps = _run(client)
    assert max(sleeps) == aws.MAX_POLL_SECONDS and sleeps[-2:] == [5.0, 5.0]


def test_pages_results_skipping_only_the_first_pages_header_and_converts_types(athena):
    client, stubber = athena
    columns = [("hour_start", "timestamp"), ("sensor_id", "varchar"), ("readings", "bigint"), ("p95", "double")]
    _start(stubber)
    _state(stubber, "SUCCEEDED", **SUCCEEDED_STATS)
    _page(stubber, columns, [["2026-11-24 10:00:00.000", "s1", "60", "24.5"]], header=True, token_out="t1")
    _page(
        stubber, columns, [["2026-11-24 11:00:00.000", "s1", "59", None]], header=False, token_in="t1", token_out="t2"
    )
    _page(stubber, columns, [["2026-11-24 12:00:00.000", "s2", "3", "1"]], header=False, token_in="t2")
    result, _ = _run(client, "sensor_hourly_stats")
    assert result.columns == ["hour_start", "sensor_id", "readings", "p95"]
    assert result.rows == [
        (datetime(2026, 11, 24, 10), "s1", 60, 24.5),
        (datetime(2026, 11, 24, 11), "s1", 59, None),
        (datetime(2026, 11, 24, 12), "s2", 3, 1.0),
    ]


def test_a_recorded_page_with_zoned_timestamps_and_nulls_converts_to_the_written_rows(athena):
    # A GetQueryResults page as Athena engine v3 returns it for log_error_rate (hand-written, not rendered by us).
    client, stubber = athena
    columns = [
        ("service", "varchar"),
        ("window_start", "timestamp with time zone"),
        ("errors", "bigint"),
        ("total", "bigint"),
        ("error_rate", "double"),
    ]
    _start(stubber)
    _state(stubber, "SUCCEEDED", **SUCCEEDED_STATS)
    _page(
        stubber,
        columns,
        [
            ["api", "2026-11-24 10:05:00.000 UTC", "3", "40", "0.075"],
            ["", "2026-11-24 10:10:00.250 UTC", "0", "1", "0.0"],
            ["db", None, "12", "12", "1.0"],
        ],
        header=True,
    )
    result, _ = _run(client, "log_error_rate", {"since": "2026-11-24T10:00:00Z", "until": "2026-11-24T11:00:00Z"})
    assert result.columns == ["service", "window_start", "errors", "total", "error_rate"]
    assert result.rows == [
        ("api", datetime(2026, 11, 24, 10, 5), 3, 40, 0.075),
        ("", datetime(2026, 11, 24, 10, 10, 0, 250000), 0, 1, 0.0),
        ("db", None, 12, 12, 1.0),
    ]


def test_reports_bytes_scanned_and_cost_at_five_dollars_per_tb(athena):
    client, stubber = athena
    _start(stubber)
    _state(stubber, "SUCCEEDED", Statistics={"DataScannedInBytes": 3 * 1024**4, "EngineExecutionTimeInMillis": 1500})
    _page(stubber, [("sensor_id", "varchar"), ("avg_temp", "double")], [], header=True)
    result, _ = _run(client)
    assert result.bytes_scanned == 3 * 1024**4
    assert result.cost_usd == pytest.approx(15.0)
    assert result.elapsed_seconds == 1.5
    assert "$15.000000 at $5/TB" in format_scan(result)
    assert f"query id {EXECUTION_ID}" in format_scan(result)


def test_small_scans_are_billed_the_ten_megabyte_minimum():
    assert cost_usd(0) == cost_usd(10 * 1024**2) == pytest.approx(10 / 1024**2 * 5)
    assert cost_usd(10 * 1024**2 + 1) == pytest.approx(11 / 1024**2 * 5)


def test_a_failed_query_is_one_line_with_athenas_reason_and_category(athena):
    client, stubber = athena
    _start(stubber)
    _state(
        stubber,
        "FAILED",
        status={
            "StateChangeReason": "COLUMN_NOT_FOUND: line 1:8: Column 'nope' cannot be resolved\n",
            "AthenaError": {"ErrorCategory": 2, "ErrorType": 1006},
        },
    )
    with pytest.raises(RunnerError) as raised:
        _run(client)
    message = str(raised.value)
    assert message == (
        f"lab_avg_temperature_by_sensor: query {EXECUTION_ID} failed (user error, 1006): "
        "COLUMN_NOT_FOUND: line 1:8: Column 'nope' cannot be resolved"
    )


def test_a_query_cancelled_by_the_scan_cutoff_says_so(athena):
    client, stubber = athena
    _start(stubber)
    _state(stubber, "RUNNING")
    _state(
        stubber, "CANCELLED", status={"StateChangeReason": "Query exceeded the per-query data scanned limit of 1 GB."}
    )
    with pytest.raises(RunnerError, match=r"was cancelled: Query exceeded the per-query data scanned limit"):
        _run(client)


def test_a_query_that_outlives_the_timeout_is_stopped(athena):
    client, stubber = athena
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    _start(stubber)
    for _ in range(4):
        _state(stubber, "RUNNING")
    stubber.add_response("stop_query_execution", {}, {"QueryExecutionId": EXECUTION_ID})
    with pytest.raises(RunnerError, match="still RUNNING after 3 s: stopped it"):
        _run(client, sleep=sleep, clock=lambda: now[0], timeout_seconds=3)


def test_a_refused_api_call_is_one_line(athena):
    client, stubber = athena
    stubber.add_client_error(
        "start_query_execution", "InvalidRequestException", "WorkGroup streamlake is not found.", 400
    )
    with pytest.raises(RunnerError, match="Athena refused the request: InvalidRequestException: WorkGroup streamlake"):
        _run(client)


def test_parameters_reach_athena_rendered_as_literals(athena):
    client, stubber = athena
    expected = get_query("log_top_errors").render({"top": "3", "since": "2026-11-24T09:00Z"})
    stubber.add_response(
        "start_query_execution",
        {"QueryExecutionId": EXECUTION_ID},
        {"QueryString": expected, "QueryExecutionContext": {"Database": DATABASE}, "WorkGroup": WORKGROUP},
    )
    _state(stubber, "SUCCEEDED", **SUCCEEDED_STATS)
    _page(stubber, [("message", "varchar")], [], header=True)
    result, _ = _run(client, "log_top_errors", {"top": "3", "since": "2026-11-24T09:00Z"})
    assert "LIMIT 3" in result.sql and "from_iso8601_timestamp('2026-11-24T09:00:00.000Z')" in result.sql


def test_workgroup_and_database_come_from_the_data_lake_stack_outputs(monkeypatch):
    from stacks import pipeline

    monkeypatch.delenv(aws.ENV_WORKGROUP, raising=False)
    monkeypatch.delenv(aws.ENV_DATABASE, raising=False)
    assert (aws.OUTPUT_WORKGROUP, aws.OUTPUT_DATABASE) == (pipeline.OUTPUT_WORKGROUP, pipeline.OUTPUT_DATABASE)
    cloudformation = boto3.client(
        "cloudformation", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(cloudformation) as stubber:
        stubber.add_response(
            "describe_stacks",
            {
                "Stacks": [
                    {
                        "StackName": "streamlake-data-lake",
                        "CreationTime": datetime(2026, 11, 1),
                        "StackStatus": "CREATE_COMPLETE",
                        "Outputs": [
                            {"OutputKey": "AthenaWorkGroupName", "OutputValue": "wg-1"},
                            {"OutputKey": "GlueDatabaseName", "OutputValue": "db_1"},
                        ],
                    }
                ]
            },
            {"StackName": "streamlake-data-lake"},
        )
        assert aws.resolve_target(None, None, "streamlake-data-lake", cloudformation) == aws.Target("wg-1", "db_1")
        stubber.add_client_error("describe_stacks", "ValidationError", "Stack with id nope does not exist", 400)
        with pytest.raises(aws.AthenaQueryError, match="cannot read stack nope: ValidationError"):
            aws.resolve_target(None, None, "nope", cloudformation)


def test_athena_text_of_the_local_rows_converts_back_to_the_same_values(athena, sample_lake):
    """Not a comparison of the two engines (the Athena side here is the local result, rendered as text): it checks
    that the runner's conversion of Athena's text cells (varchar, timestamp with time zone, bigint, double) gives
    back exactly the Python values the local runner returns, so both modes print the same table for the same
    answer. What Athena answers is pinned by hand-written pages in the tests above."""
    client, stubber = athena
    params = {"since": iso(sample_lake.start), "until": iso(sample_lake.end)}
    local = run_local("log_error_rate", params, sample_lake.lake_dir)
    types = ["varchar", "timestamp with time zone", "bigint", "bigint", "double"]

    def athena_text(value) -> str:
        return value.isoformat(sep=" ", timespec="milliseconds") + " UTC" if isinstance(value, datetime) else str(value)

    # Athena's rendering of a `timestamp with time zone` cell (engine v3), as its console and API show it.
    assert athena_text(datetime(2026, 3, 1, 12, 0, 5, 250000)) == "2026-03-01 12:00:05.250 UTC"
    assert local.rows, "the sample lake has error logs in the window"

    _start(stubber)
    _state(stubber, "SUCCEEDED", **SUCCEEDED_STATS)
    _page(stubber, list(zip(local.columns, types, strict=True)), [[athena_text(v) for v in r] for r in local.rows],
          header=True)  # fmt: skip
    remote, _ = _run(client, "log_error_rate", params)
    assert remote.columns == local.columns
    assert remote.rows == local.rows
