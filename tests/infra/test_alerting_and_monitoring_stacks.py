"""SNS topics, alarms (one per spec in streamlake.alarms) and the dashboard."""

from __future__ import annotations

import json

from aws_cdk.assertions import Match

from lambdas.processor import metric_names
from streamlake.alarms import alarm_specs
from tests.infra.helpers import imported, only

RESOURCE_TYPES = {
    "stream": "AWS::Kinesis::Stream",
    "delivery_stream": "AWS::KinesisFirehose::DeliveryStream",
    "function": "AWS::Lambda::Function",
    "queue": "AWS::SQS::Queue",
}


def _topic_id(synth, display_name: str) -> str:
    return only(synth.template(synth.pipeline.alerting), "AWS::SNS::Topic", {"DisplayName": display_name})[0]


def test_topics_are_kms_encrypted_and_subscribed_from_config(synth):
    t = synth.template(synth.pipeline.alerting)
    key_id, _ = only(t, "AWS::KMS::Key", {"EnableKeyRotation": True})
    alerts = _topic_id(synth, "streamlake alerts")
    ops = _topic_id(synth, "streamlake pipeline alarms")
    for topic in (alerts, ops):
        assert t.to_json()["Resources"][topic]["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    subs = t.find_resources("AWS::SNS::Subscription", {"Properties": {"Protocol": "email"}})
    by_topic = sorted((s["Properties"]["TopicArn"]["Ref"], s["Properties"]["Endpoint"]) for s in subs.values())
    assert by_topic == sorted(
        [(alerts, "alerts@example.com"), (alerts, "teacher@example.org"), (ops, "oncall@example.com")]
    )


def test_topics_deny_publishing_without_tls(synth):
    t = synth.template(synth.pipeline.alerting)
    policies = t.find_resources("AWS::SNS::TopicPolicy")
    assert len(policies) == 2
    for policy in policies.values():
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
        )


def test_cloudwatch_may_use_the_topic_key_so_alarms_can_publish(synth):
    t = synth.template(synth.pipeline.alerting)
    _, key = only(t, "AWS::KMS::Key")
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    assert any(
        s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
        and set(s["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
        for s in statements
    )


def test_every_alarm_watches_the_right_metric_and_notifies_the_ops_topic(synth):
    monitoring = synth.template(synth.pipeline.monitoring)
    ingestion = synth.template(synth.pipeline.ingestion)
    ops_topic = imported(synth.template(synth.pipeline.alerting), _topic_id(synth, "streamlake pipeline alarms"))
    specs = alarm_specs(synth.pipeline.config)
    monitoring.resource_count_is("AWS::CloudWatch::Alarm", len(specs))
    assert {s.key for s in specs} >= {
        "iterator-age",
        "write-throttling",
        "firehose-freshness",
        "processor-errors",
        "processor-throttles",
        "dlq-depth",
    }
    for spec in specs:
        if spec.resource == "service":
            dimension_value = "processor"
        else:
            resource_id, _ = (
                only(ingestion, RESOURCE_TYPES[spec.resource], {"Handler": "lambdas.processor.handler.handler"})
                if spec.resource == "function"
                else only(ingestion, RESOURCE_TYPES[spec.resource])
            )
            attribute = "QueueName" if spec.resource == "queue" else None
            dimension_value = imported(ingestion, resource_id, attribute)
        monitoring.has_resource_properties(
            "AWS::CloudWatch::Alarm",
            {
                "Namespace": spec.namespace,
                "MetricName": spec.metric_name,
                "Dimensions": [{"Name": spec.dimension_name, "Value": dimension_value}],
                "Statistic": spec.statistic,
                "Period": spec.period_seconds,
                "EvaluationPeriods": spec.evaluation_periods,
                "Threshold": spec.threshold,
                "ComparisonOperator": spec.comparison,
                "TreatMissingData": spec.treat_missing_data,
                "AlarmActions": [ops_topic],
                "OKActions": [ops_topic],
                "AlarmDescription": spec.description,
            },
        )


def test_alarm_thresholds_follow_config(synth):
    config = synth.pipeline.config
    monitoring = synth.template(synth.pipeline.monitoring)
    monitoring.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "GetRecords.IteratorAgeMilliseconds",
            "Threshold": config.thresholds.iterator_age_seconds * 1000,
        },
    )
    monitoring.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {"MetricName": "DeliveryToS3.DataFreshness", "Threshold": config.thresholds.data_freshness_seconds},
    )


def test_dashboard_shows_every_alarm_and_the_traffic(synth):
    monitoring = synth.template(synth.pipeline.monitoring)
    _, dashboard = only(monitoring, "AWS::CloudWatch::Dashboard", {"DashboardName": "streamlake-pipeline"})
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    alarm_ids = monitoring.find_resources("AWS::CloudWatch::Alarm")
    for alarm_id in alarm_ids:
        assert alarm_id in body, f"alarm {alarm_id} missing from the dashboard"
    processor_metrics = (
        *metric_names.FAMILY_RECORDS.values(),
        metric_names.INVALID_RECORDS,
        metric_names.ALERTS_PUBLISHED,
        metric_names.END_TO_END_LAG,
    )
    for metric in ("IncomingRecords", "IteratorAge", *processor_metrics):
        assert f'\\"{metric}\\"' in body, f"{metric} missing from the dashboard"
    monitoring.has_resource_properties("AWS::CloudWatch::Dashboard", {"DashboardBody": Match.any_value()})
