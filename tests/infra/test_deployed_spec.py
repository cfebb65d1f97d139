"""What we deploy, written down by hand: every alarm, event source mapping, Firehose setting and Glue table.

The tables (tests/deployed_tables.py) are literal copies of what the design and the README promise, typed in rather
than computed from `streamlake.alarms.alarm_specs`, `streamlake.lake` or the config: a test that rebuilds its
expectation from the code under test passes whatever the code says. Two configurations are checked, cdk.json's
defaults and one where every tunable is moved (`TUNED`), so a value hard-coded in a construct instead of taken from
the config fails too.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.deployed_tables import (
    DEFAULT_ALARMS,
    DEFAULT_METRICS_MAPPING,
    DEFAULT_PROCESSOR_ALERTS,
    DEFAULT_PROCESSOR_MAPPING,
    FAMILY_PROJECTION,
    GLUE_TABLES,
    MSK_BRIDGE_MAPPINGS,
    TIME_PROJECTION,
    TUNED_ALARMS,
    TUNED_BRIDGE_MAPPINGS,
    TUNED_PROCESSOR_ALERTS,
    TUNED_PROCESSOR_MAPPING,
    Alarm,
    firehose_spec,
)
from tests.infra.conftest import Synthesised
from tests.infra.helpers import only

PROCESSOR_HANDLER = "lambdas.processor.handler.handler"
METRICS_HANDLER = "lambdas.metrics.handler.handler"
BRIDGE_HANDLER = "lambdas.bridge.handler.handler"


# ---------------------------------------------------------------------------------------------------------------
# Naming resources by role. Logical IDs are generated, so each role is found by what makes it that resource.
# ---------------------------------------------------------------------------------------------------------------


def _roles(synth: Synthesised) -> dict[str, tuple[str, str]]:
    """role -> (stack id, logical id) for the resources an alarm or a mapping may point at."""
    ingestion = synth.template(synth.pipeline.ingestion)
    stack = synth.pipeline.ingestion.node.id
    processor_id, _ = only(ingestion, "AWS::Lambda::Function", {"Handler": PROCESSOR_HANDLER})
    mapping = _processor_mapping(synth)
    queue_id = mapping["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    roles = {
        "stream": (stack, only(ingestion, "AWS::Kinesis::Stream")[0]),
        "delivery": (stack, only(ingestion, "AWS::KinesisFirehose::DeliveryStream")[0]),
        "processor": (stack, processor_id),
        "metrics": (stack, only(ingestion, "AWS::Lambda::Function", {"Handler": METRICS_HANDLER})[0]),
        "dlq": (stack, queue_id),
    }
    assert ingestion.to_json()["Resources"][queue_id]["Type"] == "AWS::SQS::Queue"
    if synth.pipeline.kafka_bridge is not None:
        bridge = synth.template(synth.pipeline.kafka_bridge)
        roles["bridge"] = (
            synth.pipeline.kafka_bridge.node.id,
            only(bridge, "AWS::Lambda::Function", {"Handler": BRIDGE_HANDLER})[0],
        )
    return roles


def _exported(synth: Synthesised, import_value: dict) -> tuple[str, str, str]:
    """(stack id, logical id, attribute or 'Ref') behind an `Fn::ImportValue` of another stack's output."""
    name = import_value["Fn::ImportValue"]
    for stack in synth.pipeline.stacks:
        for output in synth.template(stack).to_json().get("Outputs", {}).values():
            if output.get("Export", {}).get("Name") == name:
                value = output["Value"]
                if "Ref" in value:
                    return stack.node.id, value["Ref"], "Ref"
                logical_id, attribute = value["Fn::GetAtt"]
                return stack.node.id, logical_id, attribute
    raise AssertionError(f"no stack exports {name}")


def _processor_mapping(synth: Synthesised) -> dict[str, Any]:
    ingestion = synth.template(synth.pipeline.ingestion)
    processor_id, _ = only(ingestion, "AWS::Lambda::Function", {"Handler": PROCESSOR_HANDLER})
    _, mapping = only(ingestion, "AWS::Lambda::EventSourceMapping", {"FunctionName": {"Ref": processor_id}})
    return mapping["Properties"]


def deployed_alarms(synth: Synthesised) -> list[Alarm]:
    """Every alarm of the monitoring stack as an `Alarm` row, its dimension resolved to a role."""
    roles = {where: role for role, where in _roles(synth).items()}
    rows = []
    actions = []
    for alarm in synth.template(synth.pipeline.monitoring).find_resources("AWS::CloudWatch::Alarm").values():
        p = alarm["Properties"]
        assert len(p["Dimensions"]) == 1, p["Dimensions"]
        (dimension,) = p["Dimensions"]
        if isinstance(dimension["Value"], str):
            watches = f"{dimension['Name']}={dimension['Value']}"
        else:
            stack, logical_id, attribute = _exported(synth, dimension["Value"])
            watches = roles.get((stack, logical_id), logical_id)
            # A queue is named by its QueueName attribute, everything else by its Ref (its name).
            assert attribute == ("QueueName" if watches == "dlq" else "Ref"), (watches, attribute)
        rows.append(
            Alarm(
                p["Namespace"],
                p["MetricName"],
                p["Statistic"],
                p["Period"],
                p["EvaluationPeriods"],
                p["Threshold"],
                p["ComparisonOperator"],
                dimension["Name"],
                watches,
            )
        )
        # Every alarm pages one topic, and says so again when it recovers.
        assert p["AlarmActions"] == p["OKActions"] and len(p["AlarmActions"]) == 1, p
        actions.append(p["AlarmActions"][0])
        assert p["TreatMissingData"] == "notBreaching"
    # ... and that topic is the alerting stack's ops topic.
    for action in actions:
        stack, topic_id, _ = _exported(synth, action)
        topic = synth.template(synth.pipeline.alerting).to_json()["Resources"][topic_id]
        assert stack == synth.pipeline.alerting.node.id
        assert topic["Properties"]["DisplayName"] == "streamlake pipeline alarms"
    return rows


def _by_role(synth: Synthesised, value: Any, roles: dict[tuple[str, str], str], stack: str) -> Any:
    """A Ref/GetAtt-Arn to a role's resource becomes the role's name; literals stay as they are."""
    if isinstance(value, dict) and ("Ref" in value or "Fn::GetAtt" in value):
        logical_id = value["Ref"] if "Ref" in value else value["Fn::GetAtt"][0]
        return roles.get((stack, logical_id), logical_id)
    return value


def deployed_mappings(synth: Synthesised, stack_obj) -> list[dict[str, Any]]:
    """The stack's event source mappings with resources replaced by role names and tags left out."""
    roles = {where: role for role, where in _roles(synth).items()}
    stack = stack_obj.node.id
    rows = []
    for mapping in synth.template(stack_obj).find_resources("AWS::Lambda::EventSourceMapping").values():
        props = {k: v for k, v in mapping["Properties"].items() if k != "Tags"}
        if "DestinationConfig" in props:
            props["OnFailure"] = props.pop("DestinationConfig")["OnFailure"]["Destination"]
        rows.append({k: _by_role(synth, v, roles, stack) for k, v in props.items()})
    return rows


# ---------------------------------------------------------------------------------------------------------------
# Alarms
# ---------------------------------------------------------------------------------------------------------------


def _assert_same_rows(actual: list, expected: list) -> None:
    missing = [row for row in expected if row not in actual]
    unexpected = [row for row in actual if row not in expected]
    assert not missing and not unexpected, f"\nmissing: {missing}\nunexpected: {unexpected}"
    assert len(actual) == len(expected)


def test_default_alarms_are_exactly_the_written_table(synth):
    _assert_same_rows(deployed_alarms(synth), DEFAULT_ALARMS)


def test_tuned_alarm_thresholds_are_exactly_the_written_table(synth_tuned):
    _assert_same_rows(deployed_alarms(synth_tuned), TUNED_ALARMS)


def test_every_alarm_description_names_its_threshold_in_the_configured_unit(synth, synth_tuned):
    """A paged engineer reads the description: it must state the threshold the alarm actually uses."""
    expected = {
        # (MetricName, default fragment, tuned fragment)
        "GetRecords.IteratorAgeMilliseconds": ("more than 60 s", "more than 120 s"),
        "WriteProvisionedThroughputExceeded": ("At least 1 writes", "At least 50 writes"),
        "DeliveryToS3.DataFreshness": ("older than 600 s", "older than 900 s"),
        "Errors": ("at least 1 invocation", "at least 3 invocation"),
        "Throttles": ("at least 1 time", "at least 4 time"),
        "ApproximateNumberOfMessagesVisible": ("At least 1 batch", "At least 2 batch"),
        "InvalidRecords": ("At least 10 records", "At least 25 records"),
    }
    for which, s in ((0, synth), (1, synth_tuned)):
        alarms = s.template(s.pipeline.monitoring).find_resources("AWS::CloudWatch::Alarm").values()
        described = {a["Properties"]["MetricName"]: a["Properties"]["AlarmDescription"] for a in alarms}
        assert set(described) == set(expected)
        for metric, fragments in expected.items():
            assert fragments[which] in described[metric], (metric, described[metric])


# ---------------------------------------------------------------------------------------------------------------
# Event source mappings
# ---------------------------------------------------------------------------------------------------------------


def test_default_processor_mapping_is_exactly_the_written_table(synth):
    _assert_same_rows(
        deployed_mappings(synth, synth.pipeline.ingestion), [DEFAULT_PROCESSOR_MAPPING, DEFAULT_METRICS_MAPPING]
    )


def test_tuned_processor_mapping_takes_every_setting_from_the_config(synth_tuned):
    # The tuned config moves the processor's settings only; the window-metrics mapping keeps its defaults.
    _assert_same_rows(
        deployed_mappings(synth_tuned, synth_tuned.pipeline.ingestion),
        [TUNED_PROCESSOR_MAPPING, DEFAULT_METRICS_MAPPING],
    )


@pytest.mark.parametrize(
    ("fixture", "expected"), [("synth", DEFAULT_PROCESSOR_ALERTS), ("synth_tuned", TUNED_PROCESSOR_ALERTS)]
)
def test_processor_alert_settings_are_exactly_the_written_table(fixture, expected, request):
    synthesised = request.getfixturevalue(fixture)
    t = synthesised.template(synthesised.pipeline.ingestion)
    _, fn = only(t, "AWS::Lambda::Function", {"Handler": "lambdas.processor.handler.handler"})
    env = fn["Properties"]["Environment"]["Variables"]
    assert {name: env.get(name) for name in expected} == expected


@pytest.mark.parametrize(
    ("fixture", "expected"), [("synth_msk", MSK_BRIDGE_MAPPINGS), ("synth_tuned", TUNED_BRIDGE_MAPPINGS)]
)
def test_kafka_bridge_mappings_are_exactly_the_written_table(fixture, expected, request):
    s = request.getfixturevalue(fixture)
    rows = deployed_mappings(s, s.pipeline.kafka_bridge)
    assert {row["Topics"][0]: row for row in rows} == expected
    assert len(rows) == len(expected)


# ---------------------------------------------------------------------------------------------------------------
# Firehose
# ---------------------------------------------------------------------------------------------------------------


def deployed_firehose(synth: Synthesised) -> dict[str, Any]:
    ingestion = synth.template(synth.pipeline.ingestion)
    _, stream = only(ingestion, "AWS::KinesisFirehose::DeliveryStream")
    props = stream["Properties"]
    s3 = props["ExtendedS3DestinationConfiguration"]
    conversion = s3["DataFormatConversionConfiguration"]
    assert conversion["Enabled"] is True
    stack, table_id, _ = _exported(synth, conversion["SchemaConfiguration"]["TableName"])
    table = synth.template(synth.pipeline.data_lake).to_json()["Resources"][table_id]
    (processor,) = s3["ProcessingConfiguration"]["Processors"]
    assert processor["Type"] == "Lambda" and s3["ProcessingConfiguration"]["Enabled"] is True
    backup = s3["S3BackupConfiguration"]
    # Source: the pipeline's stream.
    stream_id = only(ingestion, "AWS::Kinesis::Stream")[0]
    assert props["KinesisStreamSourceConfiguration"]["KinesisStreamARN"] == {"Fn::GetAtt": [stream_id, "Arn"]}
    # Both destinations are the lake bucket.
    assert s3["BucketARN"] == backup["BucketARN"]
    return {
        "DeliveryStreamType": props["DeliveryStreamType"],
        "BufferingHints": s3["BufferingHints"],
        "Prefix": s3["Prefix"],
        "ErrorOutputPrefix": s3["ErrorOutputPrefix"],
        "FileExtension": s3["FileExtension"],
        "DynamicPartitioning": s3["DynamicPartitioningConfiguration"],
        "Input": conversion["InputFormatConfiguration"],
        "Output": conversion["OutputFormatConfiguration"],
        "SchemaTable": table["Properties"]["TableInput"]["Name"],
        "Transform": {
            p["ParameterName"]: p["ParameterValue"]
            for p in processor["Parameters"]
            if p["ParameterName"] not in ("RoleArn", "LambdaArn")
        },
        "Backup": {
            "S3BackupMode": s3["S3BackupMode"],
            **{k: backup[k] for k in ("BufferingHints", "CompressionFormat", "Prefix", "ErrorOutputPrefix")},
        },
    }


def test_default_firehose_is_exactly_the_written_spec(synth):
    assert deployed_firehose(synth) == firehose_spec(60, 64)


def test_tuned_firehose_buffers_as_configured_in_both_destinations(synth_tuned):
    assert deployed_firehose(synth_tuned) == firehose_spec(300, 128)


def test_firehose_transformation_is_the_transform_lambda(synth):
    ingestion = synth.template(synth.pipeline.ingestion)
    transform_id, _ = only(ingestion, "AWS::Lambda::Function", {"Handler": "lambdas.transform.handler.handler"})
    _, stream = only(ingestion, "AWS::KinesisFirehose::DeliveryStream")
    (processor,) = stream["Properties"]["ExtendedS3DestinationConfiguration"]["ProcessingConfiguration"]["Processors"]
    params = {p["ParameterName"]: p["ParameterValue"] for p in processor["Parameters"]}
    assert params["LambdaArn"] == {"Fn::GetAtt": [transform_id, "Arn"]}


# ---------------------------------------------------------------------------------------------------------------
# Glue
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(GLUE_TABLES))
def test_glue_table_columns_partitions_and_projection_are_the_written_table(synth, name):
    columns, partitions, family = GLUE_TABLES[name]
    t = synth.template(synth.pipeline.data_lake)
    _, table = only(t, "AWS::Glue::Table", {"TableInput": {"Name": name}})
    table_input = table["Properties"]["TableInput"]
    storage = table_input["StorageDescriptor"]
    assert [(c["Name"], c["Type"]) for c in storage["Columns"]] == columns
    assert [(k["Name"], k["Type"]) for k in table_input["PartitionKeys"]] == partitions
    assert table_input["TableType"] == "EXTERNAL_TABLE"
    assert storage["InputFormat"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    assert storage["SerdeInfo"]["SerializationLibrary"] == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"

    params = table_input["Parameters"]
    projection = {k: v for k, v in params.items() if k.startswith("projection.")}
    assert projection == (TIME_PROJECTION if family else {**TIME_PROJECTION, **FAMILY_PROJECTION})
    lake_id = only(t, "AWS::S3::Bucket", {"VersioningConfiguration": {"Status": "Enabled"}})[0]
    family_part = f"family={family}" if family else "family=${family}"
    assert params["storage.location.template"] == {
        "Fn::Join": [
            "",
            [
                "s3://",
                {"Ref": lake_id},
                f"/processed/{family_part}/year=${{year}}/month=${{month}}/day=${{day}}/hour=${{hour}}/",
            ],
        ]
    }
    location_suffix = f"/processed/family={family}/" if family else "/processed/"
    assert storage["Location"] == {"Fn::Join": ["", ["s3://", {"Ref": lake_id}, location_suffix]]}
