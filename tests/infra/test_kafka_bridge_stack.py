"""Kafka bridge stack: absent by default, MSK or Confluent Cloud event sources when configured."""

from __future__ import annotations

import json

from streamlake.config import DEFAULT_KAFKA_TOPICS
from tests.infra.conftest import KAFKA_CONFLUENT, KAFKA_MSK
from tests.infra.helpers import as_list, function_statements, imported, only

BRIDGE = "lambdas.bridge.handler.handler"


def test_no_bridge_stack_when_kafka_mode_is_none(synth):
    assert synth.pipeline.kafka_bridge is None
    assert "KafkaBridge" not in synth.templates


def test_msk_mode_consumes_each_topic_from_the_cluster(synth_msk):
    t = synth_msk.template(synth_msk.pipeline.kafka_bridge)
    mappings = t.find_resources("AWS::Lambda::EventSourceMapping")
    assert sorted(m["Properties"]["Topics"][0] for m in mappings.values()) == sorted(DEFAULT_KAFKA_TOPICS)
    for mapping in mappings.values():
        props = mapping["Properties"]
        assert props["EventSourceArn"] == KAFKA_MSK["kafka_msk_cluster_arn"]
        assert props["StartingPosition"] == "TRIM_HORIZON"
        assert props["AmazonManagedKafkaEventSourceConfig"] == {"ConsumerGroupId": "streamlake-bridge"}


def test_msk_without_secret_uses_iam_auth_scoped_to_topics_and_group(synth_msk):
    t = synth_msk.template(synth_msk.pipeline.kafka_bridge)
    statements = function_statements(t, BRIDGE)
    cluster = KAFKA_MSK["kafka_msk_cluster_arn"]
    read = next(s for s in statements if "kafka-cluster:ReadData" in as_list(s["Action"]))
    assert sorted(as_list(read["Resource"])) == sorted(
        cluster.replace(":cluster/", ":topic/") + f"/{topic}" for topic in DEFAULT_KAFKA_TOPICS
    )
    group = next(s for s in statements if "kafka-cluster:AlterGroup" in as_list(s["Action"]))
    assert group["Resource"] == cluster.replace(":cluster/", ":group/") + "/streamlake-bridge"


def test_confluent_mode_reads_sasl_credentials_from_the_named_secret(synth_confluent):
    t = synth_confluent.template(synth_confluent.pipeline.kafka_bridge)
    mappings = t.find_resources("AWS::Lambda::EventSourceMapping")
    assert len(mappings) == len(DEFAULT_KAFKA_TOPICS)
    for mapping in mappings.values():
        props = mapping["Properties"]
        assert props["SelfManagedEventSource"] == {
            "Endpoints": {"KafkaBootstrapServers": [KAFKA_CONFLUENT["kafka_bootstrap_servers"]]}
        }
        (access,) = props["SourceAccessConfigurations"]
        assert access["Type"] == "BASIC_AUTH"
        assert KAFKA_CONFLUENT["kafka_secret_name"] in json.dumps(access["URI"])
        assert props["StartingPosition"] == "TRIM_HORIZON"


def test_bridge_may_write_to_the_stream(synth_confluent):
    t = synth_confluent.template(synth_confluent.pipeline.kafka_bridge)
    ingestion = synth_confluent.template(synth_confluent.pipeline.ingestion)
    stream_arn = imported(ingestion, only(ingestion, "AWS::Kinesis::Stream")[0], "Arn")
    statements = function_statements(t, BRIDGE)
    put = next(s for s in statements if "kinesis:PutRecords" in as_list(s["Action"]))
    assert put["Resource"] == stream_arn
    secret = next(s for s in statements if "secretsmanager:GetSecretValue" in as_list(s["Action"]))
    assert KAFKA_CONFLUENT["kafka_secret_name"] in json.dumps(secret["Resource"])


def test_templates_hold_secret_names_never_secret_values(synth_confluent):
    rendered = json.dumps([t.to_json() for t in synth_confluent.templates.values()])
    assert KAFKA_CONFLUENT["kafka_secret_name"] in rendered
    assert "SecretString" not in rendered and "password" not in rendered.lower()


def test_bridge_gets_the_topic_family_map_it_parses_back_to_the_default_routes(synth_msk, synth_confluent):
    from lambdas.bridge.mapping import DEFAULT_ROUTES, parse_routes

    for synthesised in (synth_msk, synth_confluent):
        t = synthesised.template(synthesised.pipeline.kafka_bridge)
        _, fn = only(t, "AWS::Lambda::Function", {"Handler": BRIDGE})
        variables = fn["Properties"]["Environment"]["Variables"]
        assert parse_routes(variables["KAFKA_TOPIC_FAMILIES"]) == DEFAULT_ROUTES
        assert {"STREAM_NAME", "LAKE_BUCKET"} <= set(variables)


def test_event_sources_take_the_configured_batch_size_in_both_modes(synth_msk, synth_confluent):
    for synthesised in (synth_msk, synth_confluent):
        t = synthesised.template(synthesised.pipeline.kafka_bridge)
        for mapping in t.find_resources("AWS::Lambda::EventSourceMapping").values():
            assert mapping["Properties"]["BatchSize"] == synthesised.pipeline.config.kafka.batch_size
            assert mapping["Properties"]["MaximumBatchingWindowInSeconds"] == 1


def test_bridge_may_touch_only_the_stream_the_quarantine_prefix_and_the_secret(synth_confluent):
    t = synth_confluent.template(synth_confluent.pipeline.kafka_bridge)
    ingestion = synth_confluent.template(synth_confluent.pipeline.ingestion)
    stream_arn = imported(ingestion, only(ingestion, "AWS::Kinesis::Stream")[0], "Arn")
    for statement in function_statements(t, BRIDGE):
        services = {action.split(":")[0] for action in as_list(statement["Action"])}
        assert len(services) == 1, statement
        service = services.pop()
        resource = statement["Resource"]
        if service == "kinesis":
            assert resource == stream_arn
        elif service == "s3":
            assert json.dumps(resource).endswith('"/quarantine/*"]]}')
        elif service == "secretsmanager":
            assert json.dumps(resource).endswith(f':secret:{KAFKA_CONFLUENT["kafka_secret_name"]}-??????"]]}}')
        elif service == "logs":  # only its own log group, not AWSLambdaBasicExecutionRole's every group
            _, function = only(t, "AWS::Lambda::Function", {"Handler": BRIDGE})
            log_group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
            assert resource == {"Fn::GetAtt": [log_group, "Arn"]}
            assert sorted(statement["Action"]) == ["logs:CreateLogStream", "logs:PutLogEvents"]
        else:
            assert (service, resource) == ("xray", "*")  # X-Ray has no resource-level permissions
