"""The window-metrics function, its event source mapping, table, grants, Glue table and dashboard graphs.

Expected values are written out by hand (the deployed settings a reader can check against the README), not taken
from the construct's own constants.
"""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Match, Template

from stacks.metrics import WindowMetrics, WindowMetricsProps
from streamlake.config import ConfigError, config_from_context
from tests.infra.helpers import as_list, function_statements, only

HANDLER = "lambdas.metrics.handler.handler"


def test_metrics_function_has_its_own_mapping_in_shard_order_with_retries_bisect_and_the_shared_dlq(synth):
    t = synth.template(synth.pipeline.ingestion)
    stream_id, _ = only(t, "AWS::Kinesis::Stream")
    queue_id, _ = only(t, "AWS::SQS::Queue")
    fn_id, _ = only(t, "AWS::Lambda::Function", {"Handler": HANDLER})
    t.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "FunctionName": {"Ref": fn_id},
            "EventSourceArn": {"Fn::GetAtt": [stream_id, "Arn"]},
            "StartingPosition": "TRIM_HORIZON",
            "BatchSize": 1000,
            "MaximumBatchingWindowInSeconds": 10,
            "BisectBatchOnFunctionError": True,
            "MaximumRetryAttempts": 10,
            "MaximumRecordAgeInSeconds": 3600,
            "ParallelizationFactor": 1,
            "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [queue_id, "Arn"]}}},
        },
    )
    mapping = next(
        m
        for m in t.find_resources("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": fn_id}
    )
    # Whole batches are idempotent: no partial-failure reporting, unlike the processor.
    assert "FunctionResponseTypes" not in mapping["Properties"]


def test_metrics_function_gets_the_window_settings_and_its_table(synth):
    t = synth.template(synth.pipeline.ingestion)
    table_id, _ = only(
        t, "AWS::DynamoDB::Table", {"KeySchema": Match.array_with([{"AttributeName": "pk", "KeyType": "HASH"}])}
    )
    _, fn = only(t, "AWS::Lambda::Function", {"Handler": HANDLER})
    env = fn["Properties"]["Environment"]["Variables"]
    assert env["WINDOWS_TABLE"] == {"Ref": table_id}
    assert (env["METRICS_WINDOW_SECONDS"], env["METRICS_ALLOWED_LATENESS_SECONDS"]) == ("30", "10")
    assert (env["METRICS_TTL_SECONDS"], env["METRICS_IDLE_SHARD_SECONDS"], env["HIGH_TEMPERATURE_C"]) == (
        "3600",
        "60",
        "30",
    )
    t.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "BillingMode": "PAY_PER_REQUEST",
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
            "SSESpecification": {"SSEEnabled": True},
        },
    )


def test_metrics_function_may_write_only_window_objects_to_the_lake(synth):
    t = synth.template(synth.pipeline.ingestion)
    s3_statements = [
        s for s in function_statements(t, HANDLER) if any(a.startswith("s3:") for a in as_list(s["Action"]))
    ]
    assert s3_statements, "the function writes closed windows to the lake"
    for statement in s3_statements:
        assert not any(a.startswith(("s3:Get", "s3:Delete", "s3:List")) for a in as_list(statement["Action"]))
        rendered = json.dumps(statement["Resource"])
        assert "/metrics/window_metrics/*" in rendered, rendered


def test_window_metrics_glue_table_reads_json_windows_by_projected_hour(synth):
    t = synth.template(synth.pipeline.data_lake)
    _, table = only(t, "AWS::Glue::Table", {"TableInput": {"Name": "window_metrics"}})
    table_input = table["Properties"]["TableInput"]
    storage = table_input["StorageDescriptor"]
    assert storage["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    columns = {c["Name"]: c["Type"] for c in storage["Columns"]}
    assert columns["window_start"] == "string" and columns["count"] == "bigint"
    assert columns["avg_temperature"] == "double" and columns["error_rate"] == "double"
    assert [k["Name"] for k in table_input["PartitionKeys"]] == ["year", "month", "day", "hour"]
    params = table_input["Parameters"]
    assert params["projection.enabled"] == "true"
    template = json.dumps(params["storage.location.template"])
    assert "/metrics/window_metrics/year=${year}/month=${month}/day=${day}/hour=${hour}/" in template


def test_dashboard_graphs_window_kpis_by_location_service_and_event_type(synth):
    monitoring = synth.template(synth.pipeline.monitoring)
    _, dashboard = only(monitoring, "AWS::CloudWatch::Dashboard", {"DashboardName": "streamlake-pipeline"})
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for search in (
        '{Streamlake,service,location} MetricName=\\\\\\"WindowAvgTemperature\\\\\\"',
        '{Streamlake,service,service} MetricName=\\\\\\"WindowErrorRate\\\\\\"',
        '{Streamlake,service,event_type} MetricName=\\\\\\"WindowStudentEvents\\\\\\"',
    ):
        assert search in body, search


def _construct_template(**overrides: object) -> Template:
    stack = cdk.Stack(cdk.App(), "Test")
    props = {
        "stream": kinesis.Stream(stack, "Stream"),
        "lake_bucket": s3.Bucket(stack, "Lake"),
        "dead_letter_queue": sqs.Queue(stack, "Dlq"),
        "powertools_version": "3.37.0",
        "window_seconds": 30,
        "allowed_lateness_seconds": 10,
        "ttl_seconds": 3600,
        "idle_shard_seconds": 60,
        "batch_size": 1000,
        "batch_window_seconds": 5,
        "high_temperature_c": 30.0,
        "retain_logs": False,
        **overrides,
    }
    WindowMetrics(stack, "Metrics", WindowMetricsProps(**props))  # type: ignore[arg-type]
    return Template.from_stack(stack)


def test_non_default_window_settings_reach_the_function_and_the_mapping():
    t = _construct_template(
        window_seconds=60, allowed_lateness_seconds=20, ttl_seconds=7200, batch_size=250, batch_window_seconds=2
    )
    t.has_resource_properties(
        "AWS::Lambda::EventSourceMapping", {"BatchSize": 250, "MaximumBatchingWindowInSeconds": 2}
    )
    t.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Environment": {
                "Variables": Match.object_like(
                    {
                        "METRICS_WINDOW_SECONDS": "60",
                        "METRICS_ALLOWED_LATENESS_SECONDS": "20",
                        "METRICS_TTL_SECONDS": "7200",
                    }
                )
            }
        },
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"window_seconds": 45}, "metrics_window_seconds"),
        ({"allowed_lateness_seconds": 30}, "metrics_allowed_lateness_seconds"),
        ({"ttl_seconds": 10}, "ttl_seconds must be 60-604800"),
        ({"batch_size": 0}, "batch_size must be 1-10000"),
    ],
)
def test_bad_construct_props_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        _construct_template(**overrides)


@pytest.mark.parametrize(
    ("context", "line"),
    [
        (
            {"metrics_window_seconds": "45"},
            "config key 'metrics_window_seconds': must divide a minute (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30) or be "
            "a whole number of minutes dividing an hour, got 45",
        ),
        (
            {"metrics_window_seconds": "120", "metrics_allowed_lateness_seconds": "120"},
            "config key 'metrics_allowed_lateness_seconds': must be less than metrics_window_seconds (120), got 120",
        ),
        ({"metrics_ttl_seconds": "5"}, "config key 'metrics_ttl_seconds': must be between 60 and 604800, got 5"),
        (
            {"metrics_window_seconds": "420"},
            "config key 'metrics_window_seconds': a window of whole minutes must divide an hour, got 420",
        ),
    ],
)
def test_window_config_errors_stop_synthesis_with_one_line_naming_the_key(context, line):
    with pytest.raises(ConfigError) as caught:
        config_from_context(context)
    assert str(caught.value) == line
