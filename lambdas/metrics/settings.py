"""The window-metrics function's settings, from the environment the CDK stack or local mode gives it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

from lambdas.metrics.windows import WindowSettings, WindowSettingsError


class SettingsError(RuntimeError):
    """The function's environment is missing a variable or has a bad value."""


@dataclass(frozen=True)
class Settings:
    windows_table: str
    lake_bucket: str
    ttl_seconds: int
    windows: WindowSettings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read once per container; a missing or malformed variable names itself in the error."""
    try:
        windows = WindowSettings(
            window_seconds=_integer("METRICS_WINDOW_SECONDS", "30"),
            allowed_lateness_seconds=_integer("METRICS_ALLOWED_LATENESS_SECONDS", "10"),
            high_temperature_c=_float("HIGH_TEMPERATURE_C", "30"),
            idle_seconds=_integer("METRICS_IDLE_SHARD_SECONDS", "60"),
        )
    except WindowSettingsError as error:
        raise SettingsError(str(error)) from None
    return Settings(
        windows_table=_required("WINDOWS_TABLE"),
        lake_bucket=_required("LAKE_BUCKET"),
        ttl_seconds=_integer("METRICS_TTL_SECONDS", "3600"),
        windows=windows,
    )


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise SettingsError(f"environment variable {name} is not set (the CDK stack sets it; see stacks/metrics.py)")
    return value


def _integer(name: str, default: str) -> int:
    raw = os.environ.get(name, default)
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"environment variable {name} must be an integer, got {raw!r}") from None


def _float(name: str, default: str) -> float:
    raw = os.environ.get(name, default)
    try:
        return float(raw)
    except ValueError:
        raise SettingsError(f"environment variable {name} must be a number, got {raw!r}") from None
