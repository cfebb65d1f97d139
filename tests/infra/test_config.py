"""Config from CDK context: defaults, coercion of `-c` strings, and one clear error per bad value."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamlake.config import CONFIG_KEYS, Config, ConfigError, config_from_context, describe_keys, load_config

ROOT = Path(__file__).resolve().parents[2]


def test_cdk_json_gives_the_lab_defaults():
    config = load_config()
    assert config.shard_count == 1
    assert config.firehose_buffer_seconds == 60
    assert config.thresholds.high_temperature_c == 30
    assert config.kafka.mode == "none" and not config.kafka.enabled
    assert config.removal_policy == "destroy"


def test_command_line_strings_are_parsed_like_json_values():
    config = config_from_context(
        {
            "shard_count": "4",
            "alert_emails": "a@example.com, b@example.org",
            "ops_emails": '["ops@example.com"]',
            "threshold_high_temperature_c": "35.5",
            "kafka_mode": "CONFLUENT",
            "kafka_bootstrap_servers": "b1.example.com:9092,b2.example.com:9092",
            "kafka_secret_name": "streamlake/confluent",
            "kafka_topics": "a,b",
        }
    )
    assert config.shard_count == 4
    assert config.alert_emails == ("a@example.com", "b@example.org")
    assert config.ops_emails == ("ops@example.com",)
    assert config.thresholds.high_temperature_c == 35.5
    assert config.kafka.mode == "confluent"
    assert config.kafka.bootstrap_servers == ("b1.example.com:9092", "b2.example.com:9092")
    assert config.kafka.topics == ("a", "b")


@pytest.mark.parametrize(
    ("context", "key", "fragment"),
    [
        ({"shard_count": 0}, "shard_count", "between 1 and 500, got 0"),
        ({"shard_count": "two"}, "shard_count", "must be an integer"),
        ({"shard_count": True}, "shard_count", "must be an integer"),
        ({"firehose_buffer_seconds": 1000}, "firehose_buffer_seconds", "between 60 and 900, got 1000"),
        ({"firehose_buffer_mib": 8}, "firehose_buffer_mib", "between 64 and 128"),
        ({"alert_emails": "not-an-email"}, "alert_emails", "e-mail addresses"),
        ({"alert_emails": ["ok@example.com", "bad@"]}, "alert_emails", "'bad@'"),
        ({"ops_emails": "a@example.com,a@example.com"}, "ops_emails", "same value twice"),
        ({"kafka_mode": "confluent"}, "kafka_bootstrap_servers", "required when kafka_mode is confluent"),
        (
            {"kafka_mode": "confluent", "kafka_bootstrap_servers": "b.example.com:9092"},
            "kafka_secret_name",
            "Secrets Manager secret",
        ),
        ({"kafka_mode": "msk"}, "kafka_msk_cluster_arn", "required when kafka_mode is msk"),
        ({"kafka_msk_cluster_arn": "arn:aws:s3:::bucket"}, "kafka_msk_cluster_arn", "MSK cluster ARN"),
        ({"kafka_mode": "kinesis"}, "kafka_mode", "one of none, msk, confluent"),
        ({"kafka_bootstrap_servers": "no-port"}, "kafka_bootstrap_servers", "host:port"),
        ({"kafka_secret_name": "has space"}, "kafka_secret_name", "secret name"),
        ({"removal_policy": "snapshot"}, "removal_policy", "destroy, retain"),
        ({"athena_bytes_scanned_cutoff_mb": 5}, "athena_bytes_scanned_cutoff_mb", "between 10"),
        ({"prefix": "Stream_Lake"}, "prefix", "lowercase"),
        ({"threshold_high_temperature_c": "nan"}, "threshold_high_temperature_c", "between"),
        ({"alert_reminder_minutes": 0}, "alert_reminder_minutes", "between 1 and 10080, got 0"),
        ({"alert_reminder_minutes": "1.5"}, "alert_reminder_minutes", "must be an integer"),
        (
            {"threshold_high_temperature_hysteresis_c": -0.5},
            "threshold_high_temperature_hysteresis_c",
            "between 0 and 50, got -0.5",
        ),
        ({"threshold_data_freshness_seconds": 60}, "threshold_data_freshness_seconds", "greater than"),
        ({"processor_max_record_age_seconds": 200000}, "processor_max_record_age_seconds", "stream retention"),
        ({"shard_cont": 2}, "shard_cont", "did you mean 'shard_count'"),
    ],
)
def test_bad_value_fails_with_a_message_naming_the_key(context, key, fragment):
    with pytest.raises(ConfigError) as error:
        config_from_context(context)
    assert error.value.key == key
    assert str(error.value).startswith(f"config key '{key}':")
    assert fragment in str(error.value)


def test_foreign_context_keys_are_left_alone():
    config = config_from_context({"@aws-cdk/core:stackRelativeExports": True, "cli-telemetry": False})
    assert config == Config()


@given(st.integers())
def test_any_shard_count_is_accepted_exactly_when_in_range(count):
    try:
        config = config_from_context({"shard_count": count})
    except ConfigError as error:
        assert not 1 <= count <= 500
        assert error.key == "shard_count"
    else:
        assert config.shard_count == count


@given(st.text(max_size=40))
def test_any_text_for_an_email_list_either_parses_or_names_the_key(text):
    try:
        config = config_from_context({"alert_emails": text})
    except ConfigError as error:
        assert error.key == "alert_emails"
    else:
        assert all("@" in e for e in config.alert_emails)


def test_every_key_is_documented_in_readme():
    readme = (ROOT / "README.md").read_text()
    missing = [key for key, _ in describe_keys() if f"`{key}`" not in readme]
    assert not missing, f"README lacks config keys: {missing}"
    assert len(describe_keys()) == len(CONFIG_KEYS)


def test_synth_with_a_bad_key_exits_with_one_line_naming_it():
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps({"shard_count": 0}), "CDK_OUTDIR": "/nonexistent"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "streamlake: invalid configuration: config key 'shard_count': must be between 1 and 500, got 0"
    )
