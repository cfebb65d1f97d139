"""One synthesis per configuration per test session: templates are built once and shared by every test."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from aws_cdk import Stack
from aws_cdk.assertions import Template

from stacks.pipeline import Pipeline, create_app
from tests.deployed_tables import TUNED

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


@pytest.fixture(scope="session")
def synth_tuned(tmp_path_factory) -> Synthesised:
    """The pipeline with every ESM, Firehose, alarm and Kafka setting away from its default."""
    return _synth(TUNED, tmp_path_factory.mktemp("cdk-tuned"))
