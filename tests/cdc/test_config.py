"""The CDC context keys are validated like the others: a bad value fails before synth, naming the key."""

from __future__ import annotations

import pytest

from streamlake.config import ConfigError, config_from_context

REGISTRY = "https://psrc-abc12.eu-west-1.aws.confluent.cloud"


def test_cdc_keys_are_read_from_context_strings():
    config = config_from_context(
        {
            "kafka_cdc_topics": "pgserver1.public.clientes,mysql1.shop.orders",
            "kafka_schema_registry_url": REGISTRY,
            "kafka_schema_registry_secret_name": "streamlake/registry",
        }
    )
    assert config.kafka.cdc_topics == ("pgserver1.public.clientes", "mysql1.shop.orders")
    assert config.kafka.schema_registry_url == REGISTRY
    assert config.kafka.schema_registry_secret_name == "streamlake/registry"


def test_a_glue_schema_registry_arn_needs_no_secret():
    arn = "arn:aws:glue:eu-west-1:123456789012:registry/cdc"
    assert config_from_context({"kafka_schema_registry_url": arn}).kafka.schema_registry_url == arn


@pytest.mark.parametrize(
    ("context", "key", "message"),
    [
        ({"kafka_cdc_topics": "clientes"}, "kafka_cdc_topics", "<server>.<schema or database>.<table>"),
        ({"kafka_cdc_topics": "a.b.c,a.b.c"}, "kafka_cdc_topics", "lists the same value twice"),
        (
            {"kafka_cdc_topics": "sistema-logs.x.y", "kafka_topics": "sistema-logs.x.y"},
            "kafka_cdc_topics",
            "is also in kafka_topics",
        ),
        ({"kafka_schema_registry_url": "http://registry:8081"}, "kafka_schema_registry_url", "https://"),
        ({"kafka_schema_registry_url": REGISTRY}, "kafka_schema_registry_secret_name", "is required"),
        (
            {
                "kafka_schema_registry_url": "arn:aws:glue:eu-west-1:123456789012:registry/cdc",
                "kafka_schema_registry_secret_name": "x",
            },
            "kafka_schema_registry_secret_name",
            "IAM role",
        ),
        ({"kafka_schema_registry_secret_name": "x"}, "kafka_schema_registry_url", "is required"),
        ({"kafka_schema_registry_secret_name": '{"username": "k"}'}, "kafka_schema_registry_secret_name", "not the"),
    ],
)
def test_bad_cdc_settings_name_their_key(context, key, message):
    with pytest.raises(ConfigError) as error:
        config_from_context(context)
    assert error.value.key == key
    assert message in str(error.value)


def test_standalone_bridge_flags_route_cdc_topics_to_the_change_family():
    from producers.kafka_bridge import parse_args

    settings = parse_args(
        [
            "--stream",
            "s",
            "--lake-bucket",
            "b",
            "--cdc-topics",
            "pgserver1.public.clientes",
            "--topics",
            "sistema-logs",
        ],
        environ={"SCHEMA_REGISTRY_URL": "https://registry.example.com"},
    )
    assert settings.cdc_topics == ("pgserver1.public.clientes",)
    assert settings.topics == ("sistema-logs",)
    assert settings.routes["pgserver1.public.clientes"].family == "change"
    assert settings.routes["sistema-logs"].family == "log"
    assert settings.schema_registry_url == "https://registry.example.com"
