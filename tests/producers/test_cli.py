"""`python producers/test_producer.py` as a user runs it: flags, Ctrl-C, summaries and one-line errors."""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import producers.test_producer as cli
from local.moto_server import REGION
from producers.reporting import Progress
from producers.shard_emulator import THROTTLED, RejectingKinesis
from tests.producers.conftest import all_records, create_stream, subprocess_env

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "producers" / "test_producer.py"


def run(*args: str, env: dict[str, str], cwd: Path = ROOT, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout
    )


def assert_one_line_error(result: subprocess.CompletedProcess, status: int, *fragments: str) -> None:
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_no_flags_sends_100_records_to_the_local_stream_and_prints_a_summary(moto, kinesis):
    # GIVEN local mode's stream (cdk.json prefix "streamlake")
    if "streamlake-events" not in kinesis.list_streams()["StreamNames"]:
        create_stream_named(kinesis, "streamlake-events")
    before = len(all_records(kinesis, "streamlake-events"))

    result = run("--endpoint-url", moto.url, env=subprocess_env(moto))

    assert result.returncode == 0, result.stderr
    assert len(all_records(kinesis, "streamlake-events")) - before == 100
    summary = result.stdout.strip().splitlines()
    assert len(summary) == 1
    assert summary[0].startswith("stream streamlake-events: sent 100, failed 0, retries 0")
    assert "records/s" in summary[0] and "p50" in summary[0] and "p99" in summary[0]


def create_stream_named(kinesis: Any, name: str) -> None:
    kinesis.create_stream(StreamName=name, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})


def test_flags_choose_count_family_seed_and_write_a_json_summary_and_sent_file(moto, kinesis, tmp_path):
    stream = create_stream(kinesis)
    sent_file = tmp_path / "sent.jsonl"
    args = ["--endpoint-url", moto.url, "--stream", stream, "--count", "40", "--family", "log", "--seed", "3"]
    args += ["--bad-ratio", "0.25", "--json", "--sent-file", str(sent_file), "--error-burst", "1"]

    result = run(*args, env=subprocess_env(moto))

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["sent"] == 40 and summary["failed"] == 0 and summary["malformed_sent"] > 0
    sent = [json.loads(line) for line in sent_file.read_text().splitlines()]
    assert len(sent) == 40 and all(line["shard_id"] and line["sequence_number"] for line in sent)
    assert {line["kind"] for line in sent} == {"log"}
    valid = [json.loads(line["data"]) for line in sent if line["malformed"] is None]
    assert valid[0]["level"] in {"ERROR", "CRITICAL"}, "--error-burst starts with the burst"
    exact = sorted(base64.b64decode(line["data_base64"]) for line in sent)
    assert sorted(d for _, d in all_records(kinesis, stream)) == exact


def test_ctrl_c_flushes_what_is_buffered_and_prints_the_summary(moto, kinesis, tmp_path):
    # GIVEN a continuous producer whose records wait in the buffer (long linger)
    stream = create_stream(kinesis)
    sent_file = tmp_path / "sent.jsonl"
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--endpoint-url", moto.url, "--stream", stream, "--continuous"]
        + ["--rate", "200", "--linger", "60", "--sent-file", str(sent_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(moto),
        cwd=ROOT,
    )
    try:
        assert process.stderr is not None
        assert "sending to stream" in process.stderr.readline()
        time.sleep(1.0)
        assert all_records(kinesis, stream) == [], "nothing sent yet: all buffered"

        # WHEN it gets Ctrl-C
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()

    # THEN it sent everything it had generated, and said so
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "stopped by Ctrl-C" in stdout
    sent = int(stdout.split("sent ")[1].split(",")[0])
    assert 0 < sent < 500, "some records, all of them sent by the flush"
    assert len(all_records(kinesis, stream)) == sent == len(sent_file.read_text().splitlines())


def test_missing_stream_is_one_line_saying_what_to_do(moto):
    result = run("--endpoint-url", moto.url, "--stream", "no-such-stream", env=subprocess_env(moto))
    assert_one_line_error(result, 3, "'no-such-stream' does not exist", "--stream")


def test_unreachable_endpoint_is_one_line(moto):
    from local.moto_server import free_port

    result = run("--endpoint-url", f"http://127.0.0.1:{free_port()}", env=subprocess_env(moto))
    assert_one_line_error(result, 3, "cannot reach", "python -m local up")


def test_missing_credentials_is_one_line():
    result = run("--stream", "events", "--region", REGION, env=subprocess_env())
    assert_one_line_error(result, 3, "no AWS credentials", "aws configure")


def test_missing_region_is_one_line():
    result = run("--stream", "events", env=subprocess_env(AWS_ACCESS_KEY_ID="a", AWS_SECRET_ACCESS_KEY="b"))
    assert_one_line_error(result, 3, "no AWS region", "--region")


def test_a_region_that_does_not_exist_is_one_line():
    env = subprocess_env(AWS_ACCESS_KEY_ID="a", AWS_SECRET_ACCESS_KEY="b")
    result = run("--stream", "events", "--region", "us-moon-1", env=env)
    assert_one_line_error(result, 3, "cannot reach Kinesis", "us-moon-1", "--region")


@pytest.mark.parametrize(
    "args",
    [["--bad-ratio", "2"], ["--count", "0"], ["--family", "weather"], ["--family", "log", "--spike", "1"]],
)
def test_bad_usage_exits_2_with_argparse_message(args):
    result = run(*args, env=subprocess_env())
    assert result.returncode == 2 and "usage:" in result.stderr and "Traceback" not in result.stderr


def test_records_that_fail_every_attempt_go_to_the_failure_file_and_the_exit_status_is_1(
    moto, kinesis, tmp_path, monkeypatch
):
    # GIVEN a stream that throttles every entry
    stream = create_stream(kinesis)
    always_throttled = RejectingKinesis(kinesis, lambda call, index, entry: THROTTLED)
    monkeypatch.setattr(cli, "make_client", lambda *a, **k: always_throttled)
    failures = tmp_path / "failed.jsonl"
    out = io.StringIO()

    status = cli.main(
        ["--stream", stream, "--count", "20", "--max-attempts", "2", "--failures-file", str(failures)], out=out
    )

    assert status == 1
    assert "20 records were not written; they are in" in out.getvalue()
    assert len(failures.read_text().splitlines()) == 20
    # and a replay of the file sends them once the stream accepts them again
    monkeypatch.setattr(cli, "make_client", lambda *a, **k: kinesis)
    assert cli.main(["--stream", stream, "--replay", str(failures), "--failures-file", str(tmp_path / "b")]) == 0
    assert len(all_records(kinesis, stream)) == 20


def test_local_flag_reads_the_running_local_stack(moto, kinesis, tmp_path):
    stream = create_stream(kinesis)
    (tmp_path / "endpoint.json").write_text(json.dumps({"endpoint_url": moto.url, "region": REGION}))
    (tmp_path / "resources.json").write_text(json.dumps({"stream_name": stream}))

    result = run("--local", str(tmp_path), "--count", "7", env=subprocess_env())

    assert result.returncode == 0, result.stderr
    assert len(all_records(kinesis, stream)) == 7


def test_runs_as_a_script_from_anywhere_and_as_a_module(tmp_path):
    env = subprocess_env()
    env.pop("PYTHONPATH", None)
    assert run("--help", env=env, cwd=tmp_path).returncode == 0
    module = subprocess.run(
        [sys.executable, "-m", "producers.test_producer", "--help"], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert module.returncode == 0 and "--continuous" in module.stdout
    kafka = subprocess.run(
        [sys.executable, str(ROOT / "producers" / "kafka_producer.py"), "--help"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert kafka.returncode == 0 and "--bootstrap-servers" in kafka.stdout


def test_default_stream_without_endpoint_is_the_deployed_stacks_output(monkeypatch):
    class FakeCloudFormation:
        meta = type("Meta", (), {"region_name": REGION})()

        def describe_stacks(self, StackName: str) -> dict[str, Any]:  # noqa: N803 - boto3's name
            assert StackName == "streamlake-ingestion"
            return {"Stacks": [{"Outputs": [{"OutputKey": "StreamName", "OutputValue": "deployed-events"}]}]}

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_KINESIS", raising=False)
    monkeypatch.setattr(cli, "make_client", lambda *a, **k: FakeCloudFormation())
    assert cli.default_stream(None, REGION) == "deployed-events"
    assert cli.default_stream("http://127.0.0.1:1", REGION) == "streamlake-events"


def test_progress_line_is_rewritten_in_place_on_a_terminal_and_silent_otherwise():
    terminal = io.StringIO()
    progress = Progress(terminal, enabled=True, interval=0)
    progress.update(10, 0, 1, 5)
    progress.update(20, 1, 2, 0)
    progress.clear()
    text = terminal.getvalue()
    assert text.count("\r") >= 3 and "sent 20" in text and "failed 1" in text and "retries 2" in text
    assert "\n" not in text

    log = io.StringIO()
    quiet = Progress(log, enabled=False)
    quiet.update(10, 0, 0, 0)
    assert log.getvalue() == ""


def test_a_terminal_gets_a_live_progress_line(moto, kinesis):
    # GIVEN the producer attached to a (pseudo-)terminal
    import pty

    stream = create_stream(kinesis)
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--endpoint-url", moto.url, "--stream", stream]
        + ["--count", "300", "--rate", "300", "--no-shard-pacing"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=terminal,
        env=subprocess_env(moto),
        cwd=ROOT,
    )
    os.close(terminal)
    output = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the terminal closes when the process exits
            break
        if not chunk:
            break
        output += chunk
    process.wait(30)
    os.close(controller)

    # THEN the status line was rewritten in place and cleared before the summary
    text = output.decode()
    assert process.returncode == 0
    assert text.count("\rsent ") >= 2 and "/s" in text and "retries" in text
    assert process.stdout is not None and "sent 300" in process.stdout.read().decode()
