"""The processor reads its settings from the environment the stack gives it, once, and names what is wrong."""

from __future__ import annotations

import pytest

from lambdas.processor.rules import Thresholds
from lambdas.processor.settings import Settings, SettingsError, get_settings

REQUIRED = {"ALERTS_TOPIC_ARN": "arn:aws:sns:eu-west-1:1:alerts", "LAKE_BUCKET": "lake", "IDEMPOTENCY_TABLE": "dedup"}
OPTIONAL = (
    "HIGH_TEMPERATURE_C",
    "ERROR_BURST_THRESHOLD",
    "ERROR_BURST_WINDOW_SECONDS",
    "HIGH_TEMPERATURE_HYSTERESIS_C",
    "ALERT_REMINDER_SECONDS",
)


@pytest.fixture
def env(monkeypatch):
    for name in OPTIONAL:
        monkeypatch.delenv(name, raising=False)
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_defaults_are_30_degrees_and_5_errors_in_60_seconds_2_degrees_hysteresis_hourly_reminders(env):
    assert get_settings() == Settings(
        alerts_topic_arn="arn:aws:sns:eu-west-1:1:alerts",
        lake_bucket="lake",
        idempotency_table="dedup",
        thresholds=Thresholds(
            high_temperature_c=30.0,
            error_burst_count=5,
            error_burst_window_seconds=60,
            high_temperature_hysteresis_c=2.0,
            alert_reminder_seconds=3600,
        ),
    )


def test_values_from_the_environment_win_and_are_read_once(env):
    env.setenv("HIGH_TEMPERATURE_C", "27.5")
    env.setenv("ERROR_BURST_THRESHOLD", "3")
    env.setenv("ERROR_BURST_WINDOW_SECONDS", "120")
    env.setenv("HIGH_TEMPERATURE_HYSTERESIS_C", "0")
    env.setenv("ALERT_REMINDER_SECONDS", "900")
    env.setenv("LAKE_BUCKET", "  padded  ")
    first = get_settings()
    assert first.thresholds == Thresholds(
        high_temperature_c=27.5,
        error_burst_count=3,
        error_burst_window_seconds=120,
        high_temperature_hysteresis_c=0.0,
        alert_reminder_seconds=900,
    )
    assert first.lake_bucket == "padded"
    env.setenv("ERROR_BURST_THRESHOLD", "9")
    assert get_settings() is first, "read once per execution environment"


@pytest.mark.parametrize("name", sorted(REQUIRED))
@pytest.mark.parametrize("value", [None, "", "   "])
def test_a_missing_required_variable_names_itself(env, name, value):
    if value is None:
        env.delenv(name)
    else:
        env.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        get_settings()
    assert str(raised.value) == (
        f"environment variable {name} is not set (the CDK stack sets it; see stacks/processor.py)"
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("HIGH_TEMPERATURE_C", "hot", "environment variable HIGH_TEMPERATURE_C must be a float, got 'hot'"),
        ("ERROR_BURST_THRESHOLD", "2.5", "environment variable ERROR_BURST_THRESHOLD must be a int, got '2.5'"),
        ("ERROR_BURST_THRESHOLD", "0", "environment variable ERROR_BURST_THRESHOLD must be positive, got '0'"),
        (
            "ERROR_BURST_WINDOW_SECONDS",
            "-60",
            "environment variable ERROR_BURST_WINDOW_SECONDS must be positive, got '-60'",
        ),
        ("ALERT_REMINDER_SECONDS", "0", "environment variable ALERT_REMINDER_SECONDS must be positive, got '0'"),
        (
            "HIGH_TEMPERATURE_HYSTERESIS_C",
            "-1",
            "environment variable HIGH_TEMPERATURE_HYSTERESIS_C must be 0 or more, got -1.0",
        ),
        (
            "HIGH_TEMPERATURE_HYSTERESIS_C",
            "nan",
            "environment variable HIGH_TEMPERATURE_HYSTERESIS_C must be 0 or more, got nan",
        ),
    ],
)
def test_a_malformed_number_names_the_variable_and_the_value(env, name, value, message):
    env.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        get_settings()
    assert str(raised.value) == message


@pytest.mark.parametrize(("value", "expected"), [("1", 1), ("0", 0.0), ("-5", -5.0)])
def test_the_temperature_may_be_zero_or_negative_and_counts_must_be_at_least_one(env, value, expected):
    env.setenv("HIGH_TEMPERATURE_C", value)
    env.setenv("ERROR_BURST_THRESHOLD", "1")
    settings = get_settings()
    assert settings.thresholds.high_temperature_c == expected
    assert settings.thresholds.error_burst_count == 1


def test_settings_cannot_be_changed_after_reading(env):
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        get_settings().lake_bucket = "other"  # type: ignore[misc]
