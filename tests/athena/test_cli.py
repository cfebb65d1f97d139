"""`python -m athena_queries`: list, run --local in every output format, and one-line errors."""

from __future__ import annotations

import csv
import io
import json

from athena_queries.__main__ import main
from tests.athena.conftest import iso


def test_list_shows_every_query_with_its_parameters(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "lab_latest_readings" in out and "sensor_silent" in out
    assert "--param silent_minutes=<int>  default 15" in out


def test_run_local_prints_a_table_and_the_bytes_scanned(capsys, sample_lake):
    assert main(["run", "lab_avg_temperature_by_sensor", "--local", "--lake-dir", str(sample_lake.lake_dir)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split("|")[0].strip() == "sensor_id"
    assert "(8 rows)" in out
    assert "data scanned:" in out and "at $5/TB" in out


def test_run_local_json_and_csv_keep_stdout_machine_readable(capsys, sample_lake):
    args = ["run", "log_top_errors", "--local", "--lake-dir", str(sample_lake.lake_dir)]
    args += ["-p", f"since={iso(sample_lake.start)}", "-p", f"until={iso(sample_lake.end)}", "-p", "top=2"]
    assert main([*args, "--output", "json"]) == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    assert len(rows) == 2 and set(rows[0]) == {"message", "occurrences", "services", "first_seen", "last_seen"}
    assert "data scanned" in captured.err
    assert main([*args, "--output", "csv"]) == 0
    parsed = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert parsed[0] == ["message", "occurrences", "services", "first_seen", "last_seen"]
    assert [r[0] for r in parsed[1:]] == [r["message"] for r in rows]


def test_errors_are_one_line_on_stderr_with_exit_status_1(capsys, sample_lake):
    lake = ["--local", "--lake-dir", str(sample_lake.lake_dir)]
    cases = [
        (["run", "no_such_query", *lake], "error: no saved query 'no_such_query'; saved queries: "),
        (["run", "sensor_silent", "-p", "silent_minutes=soon", *lake], "error: parameter silent_minutes (int)"),
        (["run", "sensor_silent", "-p", "minutes", *lake], "error: --param takes key=value"),
    ]
    for argv, start in cases:
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.startswith(start), err
        assert err.count("\n") == 1 and "Traceback" not in err


def test_aws_mode_without_credentials_is_a_one_line_error(capsys, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    code = main(["run", "lab_latest_readings", "--workgroup", "wg", "--database", "db"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: lab_latest_readings: no AWS credentials found"), err
