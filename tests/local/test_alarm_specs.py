"""The alarm definitions local mode evaluates (streamlake.alarms) are the hand-written table of what we deploy.

Local mode's evaluator and the CDK stack both read `alarm_specs(config)`. tests/infra/test_deployed_spec.py checks
the synthesised template against the tables in tests/deployed_tables.py; this file checks the specs themselves, with
no synth, so it is fast enough to be the mutation-testing subset for streamlake/alarms.py.
"""

from __future__ import annotations

import pytest

from streamlake.alarms import AlarmSpec, alarm_specs
from streamlake.config import load_config
from tests.deployed_tables import DEFAULT_ALARMS, TUNED, TUNED_ALARMS, Alarm

# Which resource a spec's symbolic `resource` is, in the tables' words (written here, not read from the module).
WATCHES = {
    ("stream", "StreamName"): "stream",
    ("delivery_stream", "DeliveryStreamName"): "delivery",
    ("function", "FunctionName"): "processor",
    ("queue", "QueueName"): "dlq",
    ("service", "service"): "service=processor",
}


def as_rows(specs: list[AlarmSpec]) -> list[Alarm]:
    return [
        Alarm(
            s.namespace,
            s.metric_name,
            s.statistic,
            s.period_seconds,
            s.evaluation_periods,
            s.threshold,
            s.comparison,
            s.dimension_name,
            WATCHES[(s.resource, s.dimension_name)],
        )
        for s in specs
    ]


def test_default_specs_are_the_written_table():
    specs = alarm_specs(load_config())
    assert as_rows(specs) == DEFAULT_ALARMS
    assert [s.key for s in specs] == [
        "iterator-age",
        "write-throttling",
        "firehose-freshness",
        "processor-errors",
        "processor-throttles",
        "dlq-depth",
        "invalid-records",
    ]
    assert {s.treat_missing_data for s in specs} == {"notBreaching"}


def test_tuned_specs_are_the_written_table():
    context = {k: v for k, v in TUNED.items() if not k.startswith("kafka_")}
    assert as_rows(alarm_specs(load_config(context))) == TUNED_ALARMS


def test_descriptions_state_the_configured_thresholds():
    described = {s.key: s.description for s in alarm_specs(load_config())}
    assert described["iterator-age"].startswith("Records wait more than 60 s in the Kinesis stream")
    assert described["write-throttling"].startswith("At least 1 writes to the stream were throttled in 5 minutes")
    assert described["firehose-freshness"].startswith("The oldest record in Firehose is older than 600 s")
    assert described["processor-errors"].startswith("The stream processor failed at least 1 invocation(s)")
    assert described["processor-throttles"].startswith("The stream processor was throttled at least 1 time(s)")
    assert described["dlq-depth"].startswith("At least 1 batch(es) were given up on")
    assert described["invalid-records"].startswith("At least 10 records in 5 minutes failed validation")


def spec(**overrides) -> AlarmSpec:
    fields = {
        "key": "k",
        "description": "d",
        "namespace": "AWS/Kinesis",
        "metric_name": "m",
        "resource": "stream",
        "statistic": "Sum",
        "period_seconds": 60,
        "evaluation_periods": 1,
        "threshold": 1.0,
    }
    return AlarmSpec(**{**fields, **overrides})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"resource": "bucket"}, "alarm k: unknown resource 'bucket'"),
        ({"statistic": "p99"}, "alarm k: unknown statistic 'p99'"),
        ({"comparison": "LessThanThreshold"}, "alarm k: unknown comparison 'LessThanThreshold'"),
        ({"period_seconds": 59}, "alarm k: period must be a multiple of 60 s, got 59"),
        ({"period_seconds": 0}, "alarm k: period must be a multiple of 60 s, got 0"),
        ({"period_seconds": 90}, "alarm k: period must be a multiple of 60 s, got 90"),
        ({"period_seconds": 61}, "alarm k: period must be a multiple of 60 s, got 61"),
        ({"evaluation_periods": 0}, "alarm k: evaluation_periods must be at least 1"),
    ],
)
def test_a_spec_cloudwatch_would_refuse_is_refused_before_synth(overrides, message):
    with pytest.raises(ValueError) as raised:
        spec(**overrides)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    "overrides",
    [
        {"period_seconds": 60},
        {"period_seconds": 120},
        {"period_seconds": 3600},
        {"evaluation_periods": 1},
        {"evaluation_periods": 2},
        {"statistic": "Maximum"},
        {"statistic": "Minimum"},
        {"statistic": "Average"},
        {"statistic": "SampleCount"},
        {"comparison": "GreaterThanThreshold"},
        {"resource": "delivery_stream"},
        {"resource": "function"},
        {"resource": "queue"},
        {"resource": "service"},
    ],
)
def test_a_valid_spec_is_accepted(overrides):
    assert spec(**overrides).key == "k"


def test_dimension_names_are_cloudwatchs():
    assert [spec(resource=r).dimension_name for r in ("stream", "delivery_stream", "function", "queue", "service")] == [
        "StreamName",
        "DeliveryStreamName",
        "FunctionName",
        "QueueName",
        "service",
    ]


def test_specs_are_immutable():
    with pytest.raises(AttributeError):
        spec().threshold = 2.0  # type: ignore[misc]
