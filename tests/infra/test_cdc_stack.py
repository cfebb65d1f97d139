"""CDC in the templates: the table_changes Glue table and the bridge's change topics with the schema registry."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Annotations, Match

from tests.infra.conftest import KAFKA_CONFLUENT, KAFKA_MSK, _synth

CDC_TOPIC = "pgserver1.public.clientes"
REGISTRY = "https://psrc-abc12.eu-west-1.aws.confluent.cloud"


@pytest.fixture(scope="module")
def synth_cdc(tmp_path_factory):
    context = {
        **KAFKA_CONFLUENT,
        "kafka_cdc_topics": CDC_TOPIC,
        "kafka_schema_registry_url": REGISTRY,
        "kafka_schema_registry_secret_name": "streamlake/registry",
    }
    return _synth(context, tmp_path_factory.mktemp("cdk-cdc"))


def test_table_changes_is_partitioned_by_source_table_and_hour_with_projection(synth):
    t = synth.template(synth.pipeline.data_lake)
    (table,) = [
        r["Properties"]["TableInput"]
        for r in t.find_resources("AWS::Glue::Table").values()
        if r["Properties"]["TableInput"]["Name"] == "table_changes"
    ]
    assert [k["Name"] for k in table["PartitionKeys"]] == ["source_table", "year", "month", "day", "hour"]
    assert {c["Name"]: c["Type"] for c in table["StorageDescriptor"]["Columns"]} == {
        "event_id": "string",
        "timestamp": "string",
        "source": "string",
        "connector": "string",
        "op": "string",
        "row_key": "string",
        "before": "string",
        "after": "string",
        "source_position": "string",
        "ts_ms": "bigint",
    }
    params = table["Parameters"]
    assert params["projection.enabled"] == "true"
    assert params["projection.source_table.type"] == "injected"
    assert params["classification"] == "parquet"
    template = params["storage.location.template"]["Fn::Join"][1][-1]
    assert template == (
        "/processed/family=change/source_table=${source_table}/year=${year}/month=${month}/day=${day}/hour=${hour}/"
    )


def test_firehose_converts_change_columns_too(synth):
    # Firehose converts with all_events' schema: without the change columns it would drop them from the Parquet.
    t = synth.template(synth.pipeline.data_lake)
    (table,) = [
        r["Properties"]["TableInput"]
        for r in t.find_resources("AWS::Glue::Table").values()
        if r["Properties"]["TableInput"]["Name"] == "all_events"
    ]
    names = {c["Name"] for c in table["StorageDescriptor"]["Columns"]}
    assert {"op", "row_key", "before", "after", "source_position", "ts_ms"} <= names
    assert "source_table" not in names
    assert table["Parameters"]["projection.family.values"] == "sensor,student,log"


def test_cdc_topic_uses_the_schema_registry_with_json_records_and_provisioned_pollers(synth_cdc):
    t = synth_cdc.template(synth_cdc.pipeline.kafka_bridge)
    mappings = {
        m["Properties"]["Topics"][0]: m["Properties"]
        for m in t.find_resources("AWS::Lambda::EventSourceMapping").values()
    }
    cdc = mappings[CDC_TOPIC]
    registry = cdc["SelfManagedKafkaEventSourceConfig"]["SchemaRegistryConfig"]
    assert registry["SchemaRegistryURI"] == REGISTRY
    assert registry["EventRecordFormat"] == "JSON"
    assert sorted(v["Attribute"] for v in registry["SchemaValidationConfigs"]) == ["KEY", "VALUE"]
    (access,) = registry["AccessConfigs"]
    assert access["Type"] == "BASIC_AUTH"
    assert "streamlake/registry" in json.dumps(access["URI"])
    assert cdc["ProvisionedPollerConfig"] == {"MinimumPollers": 1, "MaximumPollers": 2}
    # The event topics keep reading plain messages, on demand.
    assert "SchemaRegistryConfig" not in json.dumps(mappings["sistema-logs"])
    assert "ProvisionedPollerConfig" not in mappings["sistema-logs"]


def test_cdc_topics_route_to_the_change_family(synth_cdc):
    t = synth_cdc.template(synth_cdc.pipeline.kafka_bridge)
    (function,) = [
        f["Properties"]
        for f in t.find_resources("AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "lambdas.bridge.handler.handler"
    ]
    routes = json.loads(function["Environment"]["Variables"]["KAFKA_TOPIC_FAMILIES"])
    assert routes[CDC_TOPIC] == "change"
    assert routes["sistema-logs"] == "log"


def test_a_glue_schema_registry_is_read_with_the_bridge_role_and_passes_cdk_nag(tmp_path_factory):
    arn = "arn:aws:glue:eu-west-1:123456789012:registry/cdc"
    synth = _synth(
        {**KAFKA_MSK, "kafka_cdc_topics": CDC_TOPIC, "kafka_schema_registry_url": arn},
        tmp_path_factory.mktemp("cdk-cdc-glue"),
    )
    stack = synth.pipeline.kafka_bridge
    t = synth.template(stack)
    (cdc,) = [
        m["Properties"]
        for m in t.find_resources("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["Topics"] == [CDC_TOPIC]
    ]
    registry = cdc["AmazonManagedKafkaEventSourceConfig"]["SchemaRegistryConfig"]
    assert registry["SchemaRegistryURI"] == arn
    assert registry["EventRecordFormat"] == "JSON"
    policies = json.dumps(t.find_resources("AWS::IAM::Policy"))
    assert "glue:GetSchemaVersion" in policies and "glue:GetRegistry" in policies
    errors = Annotations.from_stack(stack).find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
    assert not errors, [e.entry.data for e in errors]
