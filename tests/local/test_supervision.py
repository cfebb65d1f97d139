"""Issue 15: local runners survive their own failures. A runner that raises is restarted with backoff and its error
is reported; a transformation invocation that fails is retried, then its records go to errors/processing-failed/
as Firehose does, and delivery moves on."""

from __future__ import annotations

import json
import threading
import time

import local.stack as stack_module
from local.__main__ import status_line
from local.stack import LocalOptions, LocalStack
from streamlake import lake
from streamlake.config import load_config
from tests.local.test_firehose import BUCKET, GOOD, aws, deliverer, keys, put_all  # noqa: F401 - aws is a fixture


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_a_runner_that_raises_is_restarted_with_backoff_and_its_errors_are_kept(tmp_path, monkeypatch):
    # GIVEN a runner that fails twice, then runs until stopped
    monkeypatch.setattr(stack_module, "RESTART_BACKOFF_SECONDS", 0.01)
    stack = LocalStack(load_config({}), LocalOptions(tmp_path))
    (tmp_path / "logs").mkdir()
    calls = []
    stopped = threading.Event()

    def runner() -> None:
        calls.append(time.monotonic())
        if len(calls) <= 2:
            raise ValueError(f"failure {len(calls)}")
        stack._stop.wait()
        stopped.set()

    # WHEN it is started under supervision
    stack._spawn("flaky", runner)
    wait_for(lambda: len(calls) == 3)
    # THEN it was restarted twice, each error is reported, the second backoff twice the first
    health = stack.runner_health()["flaky"]
    assert (health["state"], health["restarts"], health["errors"]) == ("running", 2, 2)
    assert health["last_error"] == "ValueError('failure 2')"
    assert stack.errors == ["flaky: ValueError('failure 1')", "flaky: ValueError('failure 2')"]
    assert calls[2] - calls[1] >= 0.02 and calls[1] - calls[0] >= 0.01
    log = (tmp_path / "logs" / "runners.log").read_text()
    assert "Traceback" in log and "ValueError: failure 2" in log and "flaky: restarted (restart 2" in log
    # AND stopping the stack stops it for good
    stack.stop_runners()
    assert stopped.is_set() and stack.runner_health()["flaky"]["state"] == "stopped"


def test_a_runner_waiting_out_its_backoff_stops_at_once(tmp_path, monkeypatch):
    monkeypatch.setattr(stack_module, "RESTART_BACKOFF_SECONDS", 30.0)
    stack = LocalStack(load_config({}), LocalOptions(tmp_path))
    (tmp_path / "logs").mkdir()
    stack._spawn("broken", lambda: 1 / 0)
    wait_for(lambda: stack.runner_health()["broken"]["state"] == "restarting")
    started = time.monotonic()
    stack.stop_runners()
    assert time.monotonic() - started < 5
    assert stack.runner_health()["broken"] == {
        "state": "stopped",
        "restarts": 0,
        "errors": 1,
        "last_error": "ZeroDivisionError('division by zero')",
        "last_error_at": stack.runners["broken"].last_error_at,
    }


def test_failed_transformation_invocations_are_retried_then_the_records_go_to_processing_failed(aws, tmp_path):  # noqa: F811
    kinesis, s3 = aws
    # GIVEN a transformation that raises on every invocation of the first buffer
    firehose = deliverer(aws, tmp_path)
    real = firehose._transformation
    invocations = []

    def broken(event, context):
        invocations.append(len(event["records"]))
        if len(invocations) <= 4:
            raise MemoryError("function ran out of memory")
        return real(event, context)

    firehose._transformation = broken
    first = [json.dumps(r).encode() for r in GOOD[:2]]
    put_all(kinesis, first)
    firehose.poll()
    # WHEN the buffer is delivered
    firehose.flush()
    # THEN Firehose's 1 + 3 retries were made, every record is in processing-failed/ with the error, none is lost
    assert invocations == [2, 2, 2, 2]
    (error_key,) = keys(s3, f"{lake.ERRORS_PREFIX}processing-failed/")
    errors = [json.loads(line) for line in s3.get_object(Bucket=BUCKET, Key=error_key)["Body"].read().splitlines()]
    assert [(e["errorCode"], e["attemptsMade"]) for e in errors] == [("Lambda.FunctionError", 4)] * 2
    assert errors[0]["errorMessage"] == "The Lambda function invocation failed: MemoryError: function ran out of memory"
    assert keys(s3, lake.PROCESSED_PREFIX) == []
    assert firehose.stats.transform_failures == 4 and firehose.stats.records_failed == 2
    # AND the deliverer moved on: the next buffer lands
    put_all(kinesis, [json.dumps(GOOD[2]).encode()])
    firehose.poll()
    firehose.flush()
    assert len(keys(s3, f"{lake.PROCESSED_PREFIX}family=student/")) == 1


def test_a_transformation_answer_out_of_shape_fails_only_that_record(aws, tmp_path):  # noqa: F811
    kinesis, s3 = aws
    firehose = deliverer(aws, tmp_path)
    real = firehose._transformation

    def half_broken(event, context):
        response = real(event, context)
        response["records"][0]["data"] = "not base64 json!"
        return response

    firehose._transformation = half_broken
    put_all(kinesis, [json.dumps(r).encode() for r in GOOD[:2]])
    firehose.poll()
    firehose.flush()
    (error_key,) = keys(s3, f"{lake.ERRORS_PREFIX}processing-failed/")
    [error] = [json.loads(line) for line in s3.get_object(Bucket=BUCKET, Key=error_key)["Body"].read().splitlines()]
    assert error["errorCode"] == "Lambda.InvalidOutput"
    assert firehose.stats.records_delivered == 1


def test_up_status_line_shows_a_runner_error(tmp_path, monkeypatch):
    monkeypatch.setattr(stack_module, "RESTART_BACKOFF_SECONDS", 30.0)
    stack = LocalStack(load_config({}), LocalOptions(tmp_path))
    (tmp_path / "logs").mkdir()

    class Stats:
        records_succeeded = records_discarded = records_delivered = records_failed = transform_failures = 0

    stack.poller = type("P", (), {"stats": Stats()})()
    stack.firehose = type("F", (), {"stats": Stats()})()
    stack.mailbox = type("M", (), {"delivered": []})()
    monkeypatch.setattr(stack, "stream_record_count", lambda: 0)
    stack._spawn("firehose", lambda: 1 / 0)
    wait_for(
        lambda: (
            stack.runner_health()["firehose"]["errors"] == 1
            and stack.runner_health()["firehose"]["state"] == "restarting"
        )
    )
    line = status_line(stack)
    stack.stop_runners()
    assert "RUNNER ERROR firehose: 1 error(s), 0 restart(s), restarting; last " in line
    assert line.endswith("ZeroDivisionError('division by zero')")
