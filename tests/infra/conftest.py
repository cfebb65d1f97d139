"""One synthesis per configuration per test session: templates are built once and shared by every test."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from aws_cdk import Stack
from aws_cdk.assertions import Template

from stacks.pipeline import Pipeline, create_app

KAFKA_MSK = {
    "kafka_mode": "msk",
    "kafka_msk_cluster_arn": "arn:aws:kafka:eu-west-1:123456789012:cluster/events/0a1b2c3d-4e5f-6789-abcd-ef01234567-1",
}
KAFKA_CONFLUENT = {
    "kafka_mode": "confluent",
    "kafka_bootstrap_servers": "pkc-abc12.eu-west-1.aws.confluent.cloud:9092",
    "kafka_secret_name": "streamlake/confluent",
    "kafka_auth": "plain",
}


@dataclass
class Synthesised:
    pipeline: Pipeline
    templates: dict[str, Template]

    def template(self, stack: Stack) -> Template:
        return self.templates[stack.node.id]


def _synth(context: dict[str, object], outdir) -> Synthesised:
    app, pipeline = create_app(context=context, outdir=str(outdir))
    app.synth()  # runs the cdk-nag aspects once for every stack
    return Synthesised(pipeline, {s.node.id: Template.from_stack(s) for s in pipeline.stacks})


@pytest.fixture(scope="session")
def synth(tmp_path_factory) -> Synthesised:
    """The pipeline with cdk.json's settings and alert/ops e-mail subscribers."""
    return _synth(
        {"alert_emails": "alerts@example.com,teacher@example.org", "ops_emails": "oncall@example.com"},
        tmp_path_factory.mktemp("cdk-default"),
    )


@pytest.fixture(scope="session")
def synth_msk(tmp_path_factory) -> Synthesised:
    return _synth({**KAFKA_MSK, "removal_policy": "retain"}, tmp_path_factory.mktemp("cdk-msk"))


@pytest.fixture(scope="session")
def synth_confluent(tmp_path_factory) -> Synthesised:
    return _synth(KAFKA_CONFLUENT, tmp_path_factory.mktemp("cdk-confluent"))


# Every tunable the deployed spec depends on, set away from its default (as `npx cdk synth -c key=value` gives them:
# strings). tests/infra/test_deployed_spec.py writes the values these must produce by hand.
TUNED = {
    "prefix": "tuned",
    "processor_batch_size": "250",
    "processor_batch_window_seconds": "7",
    "processor_max_retries": "5",
    "processor_max_record_age_seconds": "7200",
    "firehose_buffer_seconds": "300",
    "firehose_buffer_mib": "128",
    "threshold_iterator_age_seconds": "120",
    "threshold_write_throttle_records": "50",
    "threshold_data_freshness_seconds": "900",
    "threshold_lambda_errors": "3",
    "threshold_lambda_throttles": "4",
    "threshold_dlq_messages": "2",
    "threshold_invalid_records": "25",
    **KAFKA_MSK,
    "kafka_topics": "clicks,grades",
    "kafka_batch_size": "500",
}


@pytest.fixture(scope="session")
def synth_tuned(tmp_path_factory) -> Synthesised:
    """The pipeline with every ESM, Firehose, alarm and Kafka setting away from its default."""
    return _synth(TUNED, tmp_path_factory.mktemp("cdk-tuned"))
