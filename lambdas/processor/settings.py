"""The processor's settings, from the environment the CDK stack (stacks/processor.py) or local mode gives it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

from lambdas.processor.rules import Thresholds


class SettingsError(RuntimeError):
    """The function's environment is missing a variable or has a bad value."""


@dataclass(frozen=True)
class Settings:
    alerts_topic_arn: str
    lake_bucket: str
    idempotency_table: str
    thresholds: Thresholds


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read once per container; a missing or malformed variable names itself in the error."""
    return Settings(
        alerts_topic_arn=_required("ALERTS_TOPIC_ARN"),
        lake_bucket=_required("LAKE_BUCKET"),
        idempotency_table=_required("IDEMPOTENCY_TABLE"),
        thresholds=Thresholds(
            high_temperature_c=_number("HIGH_TEMPERATURE_C", "30", float),
            error_burst_count=_number("ERROR_BURST_THRESHOLD", "5", int),
            error_burst_window_seconds=_number("ERROR_BURST_WINDOW_SECONDS", "60", int),
            high_temperature_hysteresis_c=_hysteresis(),
            alert_reminder_seconds=_number("ALERT_REMINDER_SECONDS", "3600", int),
        ),
    )


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise SettingsError(f"environment variable {name} is not set (the CDK stack sets it; see stacks/processor.py)")
    return value


def _number(name: str, default: str, kind: type) -> float:
    raw = os.environ.get(name, default)
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"environment variable {name} must be a {kind.__name__}, got {raw!r}") from None
    if value <= 0 and kind is int:
        raise SettingsError(f"environment variable {name} must be positive, got {raw!r}")
    return value


def _hysteresis() -> float:
    value = _number("HIGH_TEMPERATURE_HYSTERESIS_C", "2", float)
    if not 0 <= value < float("inf"):  # also refuses NaN
        raise SettingsError(f"environment variable HIGH_TEMPERATURE_HYSTERESIS_C must be 0 or more, got {value!r}")
    return value
