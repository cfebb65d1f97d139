"""The one typed configuration of streamlake, shared by the CDK app, local mode and the producers.

Values come from `cdk.json` context and are overridden with `npx cdk synth -c key=value`. Context values from
cdk.json arrive as JSON types; values from `-c` arrive as strings, so every field is parsed from either form.
Anything invalid raises `ConfigError` whose message names the key, before any construct is built.

This module imports nothing from AWS so producers and local mode can use it without the CDK installed.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CDK_JSON = ROOT / "cdk.json"

KAFKA_MODES = ("none", "msk", "confluent")
KAFKA_AUTH = ("plain", "scram-sha-256", "scram-sha-512")
REMOVAL_POLICIES = ("destroy", "retain")
DEFAULT_KAFKA_TOPICS = ("estudiante-eventos", "sistema-logs", "notificaciones")

_PREFIX_RE = re.compile(r"^[a-z][a-z0-9-]{1,18}[a-z0-9]$")
_EMAIL_RE = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[A-Za-z]{2,}$")
_TOPIC_RE = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_SECRET_NAME_RE = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
_MSK_ARN_RE = re.compile(r"^arn:aws[a-z-]*:kafka:[a-z0-9-]+:\d{12}:cluster/[A-Za-z0-9-]+/[A-Za-z0-9-]+$")
_HOST_PORT_RE = re.compile(r"^[A-Za-z0-9.-]+:\d{1,5}$")
_LAYER_VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")
# Debezium names change topics <server>.<schema or database>.<table> (Debezium: "Topic names").
_CDC_TOPIC_RE = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_$-]+){2,}$")
# A schema registry is a Confluent-compatible HTTPS endpoint or an AWS Glue Schema Registry ARN.
_REGISTRY_RE = re.compile(
    r"^(https://[A-Za-z0-9.-]+(:\d{1,5})?(/[A-Za-z0-9._~/-]*)?|arn:aws[a-z-]*:glue:[a-z0-9-]+:\d{12}:registry/[A-Za-z0-9_.-]+)$"
)


class ConfigError(ValueError):
    """A configuration value is missing, malformed or out of range. The message starts with the key."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"config key '{key}': {problem}")
        self.key = key


@dataclass(frozen=True)
class AlarmThresholds:
    """Thresholds of the CloudWatch alarms and of the processor's business alerts."""

    high_temperature_c: float = 30.0
    # A sensor in alert recovers below high_temperature_c minus this (lambdas/processor/lifecycle.py).
    high_temperature_hysteresis_c: float = 2.0
    error_burst_count: int = 5
    error_burst_window_seconds: int = 60
    iterator_age_seconds: int = 60
    write_throttle_records: int = 1
    data_freshness_seconds: int = 600
    lambda_errors: int = 1
    lambda_throttles: int = 1
    dlq_messages: int = 1
    invalid_records: int = 10


@dataclass(frozen=True)
class KafkaConfig:
    """Kafka bridge settings; `mode` none disables the bridge stack."""

    mode: str = "none"
    msk_cluster_arn: str = ""
    bootstrap_servers: tuple[str, ...] = ()
    secret_name: str = ""
    auth: str = "plain"
    topics: tuple[str, ...] = DEFAULT_KAFKA_TOPICS
    batch_size: int = 100
    cdc_topics: tuple[str, ...] = ()
    schema_registry_url: str = ""
    schema_registry_secret_name: str = ""

    @property
    def enabled(self) -> bool:
        return self.mode != "none"


# The window-metrics function's event source mapping (stacks/metrics.py, local/poller.py): batches are idempotent, so
# retries are cheap; window rows expire after an hour by default, so an older batch would only add to forgotten ones.
METRICS_MAX_RETRIES = 10
METRICS_MAX_RECORD_AGE_SECONDS = 3600


@dataclass(frozen=True)
class MetricsConfig:
    """Event-time windowed metrics (lambdas/metrics): window, watermark lateness, state TTL, event source batch."""

    window_seconds: int = 30
    allowed_lateness_seconds: int = 10
    ttl_seconds: int = 3600
    idle_shard_seconds: int = 60
    batch_size: int = 1000
    batch_window_seconds: int = 10


@dataclass(frozen=True)
class Config:
    """Everything a deployment of streamlake can be tuned by. Defaults reproduce the lab setup."""

    prefix: str = "streamlake"
    shard_count: int = 1
    stream_retention_hours: int = 24
    firehose_buffer_seconds: int = 60
    firehose_buffer_mib: int = 64
    processor_batch_size: int = 100
    processor_batch_window_seconds: int = 1
    processor_max_retries: int = 3
    processor_max_record_age_seconds: int = 3600
    alert_emails: tuple[str, ...] = ()
    # At most one reminder per this many minutes while a sensor or service stays in alert.
    alert_reminder_minutes: int = 60
    ops_emails: tuple[str, ...] = ()
    removal_policy: str = "destroy"
    athena_bytes_scanned_cutoff_mb: int = 1024
    powertools_layer_version: str = "3.37.0"
    thresholds: AlarmThresholds = field(default_factory=AlarmThresholds)
    kafka: KafkaConfig = field(default_factory=KafkaConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)

    @property
    def retain_data(self) -> bool:
        return self.removal_policy == "retain"

    def stack_name(self, part: str) -> str:
        """CloudFormation stack name of one part (`data-lake`, `ingestion`, ...); producers look outputs up by it."""
        return f"{self.prefix}-{part}"


# ---------------------------------------------------------------------------------------------------------------
# Parsing. Each context key maps to one field; a key's parser returns the typed value or raises ConfigError.
# ---------------------------------------------------------------------------------------------------------------


def _int(lo: int, hi: int) -> Callable[[str, Any], int]:
    def parse(key: str, raw: Any) -> int:
        if isinstance(raw, bool):
            raise ConfigError(key, f"must be an integer, got {raw!r}")
        try:
            value = int(str(raw).strip(), 10) if not isinstance(raw, int) else raw
        except ValueError:
            raise ConfigError(key, f"must be an integer, got {raw!r}") from None
        if not lo <= value <= hi:
            raise ConfigError(key, f"must be between {lo} and {hi}, got {value}")
        return value

    return parse


def _float(lo: float, hi: float) -> Callable[[str, Any], float]:
    def parse(key: str, raw: Any) -> float:
        if isinstance(raw, bool):
            raise ConfigError(key, f"must be a number, got {raw!r}")
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise ConfigError(key, f"must be a number, got {raw!r}") from None
        if not lo <= value <= hi:  # also rejects NaN
            raise ConfigError(key, f"must be between {lo:g} and {hi:g}, got {raw!r}")
        return value

    return parse


def _choice(options: tuple[str, ...]) -> Callable[[str, Any], str]:
    def parse(key: str, raw: Any) -> str:
        value = str(raw).strip().lower()
        if value not in options:
            raise ConfigError(key, f"must be one of {', '.join(options)}, got {raw!r}")
        return value

    return parse


def _pattern(regex: re.Pattern[str], what: str, allow_empty: bool = False) -> Callable[[str, Any], str]:
    def parse(key: str, raw: Any) -> str:
        value = str(raw).strip()
        if allow_empty and not value:
            return ""
        if not regex.fullmatch(value):
            raise ConfigError(key, f"must be {what}, got {raw!r}")
        return value

    return parse


def _list_of(item: Callable[[str, Any], str], what: str) -> Callable[[str, Any], tuple[str, ...]]:
    """A list from JSON (`["a","b"]`) or from `-c key=a,b`; each item checked with the item parser."""

    def parse(key: str, raw: Any) -> tuple[str, ...]:
        if isinstance(raw, str):
            text = raw.strip()
            if text.startswith("["):
                try:
                    raw = json.loads(text)
                except json.JSONDecodeError:
                    raise ConfigError(key, f"must be a JSON list or comma-separated {what}, got {raw!r}") from None
            else:
                raw = [part for part in text.split(",") if part.strip()]
        if not isinstance(raw, list | tuple):
            raise ConfigError(key, f"must be a list of {what}, got {raw!r}")
        values = tuple(item(key, str(v)) for v in raw)
        if len(set(values)) != len(values):
            raise ConfigError(key, f"lists the same value twice: {list(values)!r}")
        return values

    return parse


_email = _pattern(_EMAIL_RE, "a list of e-mail addresses like ops@example.com")

_TOP_LEVEL: dict[str, Callable[[str, Any], Any]] = {
    "prefix": _pattern(_PREFIX_RE, "3-20 lowercase letters, digits or '-', starting with a letter"),
    "shard_count": _int(1, 500),
    "stream_retention_hours": _int(24, 8760),
    # Firehose accepts 0-900 s, but dynamic partitioning and Parquet conversion need at least 60 s.
    "firehose_buffer_seconds": _int(60, 900),
    # Format conversion and dynamic partitioning both need a buffer of at least 64 MiB; 128 MiB is the maximum.
    "firehose_buffer_mib": _int(64, 128),
    "processor_batch_size": _int(1, 10000),
    "processor_batch_window_seconds": _int(0, 300),
    "processor_max_retries": _int(0, 10000),
    "processor_max_record_age_seconds": _int(60, 604800),
    "alert_emails": _list_of(_email, "e-mail addresses"),
    "alert_reminder_minutes": _int(1, 10080),
    "ops_emails": _list_of(_email, "e-mail addresses"),
    "removal_policy": _choice(REMOVAL_POLICIES),
    # Athena refuses a cutoff below 10 MB.
    "athena_bytes_scanned_cutoff_mb": _int(10, 10_000_000),
    "powertools_layer_version": _pattern(_LAYER_VERSION_RE, "a Powertools release such as 3.37.0"),
}

_THRESHOLDS: dict[str, Callable[[str, Any], Any]] = {
    "high_temperature_c": _float(-40.0, 100.0),
    "high_temperature_hysteresis_c": _float(0.0, 50.0),
    "error_burst_count": _int(1, 100_000),
    "error_burst_window_seconds": _int(10, 3600),
    "iterator_age_seconds": _int(1, 604800),
    "write_throttle_records": _int(1, 1_000_000),
    "data_freshness_seconds": _int(60, 86400),
    "lambda_errors": _int(1, 100_000),
    "lambda_throttles": _int(1, 100_000),
    "dlq_messages": _int(1, 100_000),
    "invalid_records": _int(1, 1_000_000),
}

_KAFKA: dict[str, Callable[[str, Any], Any]] = {
    "mode": _choice(KAFKA_MODES),
    "msk_cluster_arn": _pattern(_MSK_ARN_RE, "an MSK cluster ARN (arn:aws:kafka:region:account:cluster/name/id)", True),
    "bootstrap_servers": _list_of(_pattern(_HOST_PORT_RE, "host:port entries"), "host:port entries"),
    "secret_name": _pattern(_SECRET_NAME_RE, "a Secrets Manager secret name (not the secret itself)", True),
    "auth": _choice(KAFKA_AUTH),
    "topics": _list_of(_pattern(_TOPIC_RE, "Kafka topic names"), "Kafka topic names"),
    "batch_size": _int(1, 10000),
    "cdc_topics": _list_of(
        _pattern(_CDC_TOPIC_RE, "Debezium change topics named <server>.<schema or database>.<table>"),
        "Debezium change topics",
    ),
    "schema_registry_url": _pattern(
        _REGISTRY_RE,
        "an https:// schema registry URL or a Glue Schema Registry ARN (arn:aws:glue:...:registry/name)",
        True,
    ),
    "schema_registry_secret_name": _pattern(_SECRET_NAME_RE, "a Secrets Manager secret name (not the secret)", True),
}

_METRICS: dict[str, Callable[[str, Any], Any]] = {
    # Further rules (a window divides a minute or an hour, lateness below the window) in _check_combinations.
    "window_seconds": _int(1, 3600),
    "allowed_lateness_seconds": _int(0, 3599),
    # How long window rows stay in DynamoDB after their window ends (closed windows stay in the lake).
    "ttl_seconds": _int(60, 7 * 86400),
    "idle_shard_seconds": _int(1, 86400),
    "batch_size": _int(1, 10000),
    "batch_window_seconds": _int(0, 300),
}

# Context keys are flat so `-c key=value` works for every one: thresholds are `threshold_<name>`, Kafka
# settings `kafka_<name>`, windowed metrics `metrics_<name>`.
_THRESHOLD_PREFIX = "threshold_"
_KAFKA_PREFIX = "kafka_"
_METRICS_PREFIX = "metrics_"
CONFIG_KEYS: tuple[str, ...] = (
    *_TOP_LEVEL,
    *(_THRESHOLD_PREFIX + k for k in _THRESHOLDS),
    *(_KAFKA_PREFIX + k for k in _KAFKA),
    *(_METRICS_PREFIX + k for k in _METRICS),
)
# Keys that look like ours (snake_case) but are not: a typo such as `shard_cont` must not pass silently.
_OUR_KEY_SHAPE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$|^[a-z]+$")
# Keys other tools put in the context that share our shape.
_FOREIGN_KEYS = frozenset({"acknowledged-issue-numbers"})


def config_from_context(context: Mapping[str, Any]) -> Config:
    """Build and validate the Config from CDK context (cdk.json merged with `-c` overrides)."""
    unknown = [k for k in context if _OUR_KEY_SHAPE.match(k) and k not in CONFIG_KEYS and k not in _FOREIGN_KEYS]
    if unknown:
        key = sorted(unknown)[0]
        close = difflib.get_close_matches(key, CONFIG_KEYS, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; known keys: {', '.join(CONFIG_KEYS)}"
        raise ConfigError(key, f"is not a streamlake setting{hint}")

    def pick(parsers: Mapping[str, Callable[[str, Any], Any]], prefix: str) -> dict[str, Any]:
        return {
            name: parse(prefix + name, context[prefix + name])
            for name, parse in parsers.items()
            if context.get(prefix + name) is not None
        }

    config = Config(
        **pick(_TOP_LEVEL, ""),
        thresholds=AlarmThresholds(**pick(_THRESHOLDS, _THRESHOLD_PREFIX)),
        kafka=KafkaConfig(**pick(_KAFKA, _KAFKA_PREFIX)),
        metrics=MetricsConfig(**pick(_METRICS, _METRICS_PREFIX)),
    )
    _check_combinations(config)
    return config


def _check_combinations(config: Config) -> None:
    """Rules that involve more than one key."""
    t, k = config.thresholds, config.kafka
    if t.data_freshness_seconds <= config.firehose_buffer_seconds:
        raise ConfigError(
            "threshold_data_freshness_seconds",
            f"must be greater than firehose_buffer_seconds ({config.firehose_buffer_seconds}), "
            f"or the alarm fires on every normal buffer flush; got {t.data_freshness_seconds}",
        )
    if config.processor_max_record_age_seconds > config.stream_retention_hours * 3600:
        raise ConfigError(
            "processor_max_record_age_seconds",
            f"must not exceed the stream retention ({config.stream_retention_hours} h); "
            f"got {config.processor_max_record_age_seconds}",
        )
    if k.mode == "msk" and not k.msk_cluster_arn:
        raise ConfigError("kafka_msk_cluster_arn", "is required when kafka_mode is msk")
    if k.mode == "confluent":
        if not k.bootstrap_servers:
            raise ConfigError("kafka_bootstrap_servers", "is required when kafka_mode is confluent")
        if not k.secret_name:
            raise ConfigError(
                "kafka_secret_name",
                "is required when kafka_mode is confluent: name a Secrets Manager secret holding "
                '{"username": ..., "password": ...} (the API key and secret)',
            )
    if k.enabled and not (k.topics or k.cdc_topics):
        raise ConfigError("kafka_topics", "must list at least one topic when the Kafka bridge is enabled")
    both = sorted(set(k.topics) & set(k.cdc_topics))
    if both:
        raise ConfigError("kafka_cdc_topics", f"{both[0]} is also in kafka_topics; a topic is either events or changes")
    if k.schema_registry_url.startswith("https://") and not k.schema_registry_secret_name:
        raise ConfigError(
            "kafka_schema_registry_secret_name",
            "is required with an https:// kafka_schema_registry_url: name a Secrets Manager secret holding "
            '{"username": ..., "password": ...} (the registry API key and secret)',
        )
    if k.schema_registry_url.startswith("arn:") and k.schema_registry_secret_name:
        raise ConfigError(
            "kafka_schema_registry_secret_name",
            "must be empty with a Glue Schema Registry: the bridge reaches it with its IAM role",
        )
    if k.schema_registry_secret_name and not k.schema_registry_url:
        raise ConfigError("kafka_schema_registry_url", "is required when kafka_schema_registry_secret_name is set")
    _check_windows(config)


def _check_windows(config: Config) -> None:
    """The windowed-metrics rules are the engine's own (lambdas/metrics/windows.py), checked before synthesis."""
    from lambdas.metrics.windows import WindowSettings, WindowSettingsError

    m = config.metrics
    try:
        WindowSettings(
            window_seconds=m.window_seconds,
            allowed_lateness_seconds=m.allowed_lateness_seconds,
            high_temperature_c=config.thresholds.high_temperature_c,
            idle_seconds=m.idle_shard_seconds,
        )
    except WindowSettingsError as error:
        raise ConfigError(error.key, error.problem) from None


def load_config(overrides: Mapping[str, Any] | None = None, cdk_json: Path = CDK_JSON) -> Config:
    """Config from cdk.json's context plus overrides, for code that runs outside the CDK (local mode, producers)."""
    try:
        context = dict(json.loads(cdk_json.read_text()).get("context", {}))
    except FileNotFoundError:
        context = {}
    context.update(overrides or {})
    return config_from_context(context)


def describe_keys() -> list[tuple[str, str]]:
    """(context key, default) for every setting, used by README generation checks and `--help` texts."""
    defaults = Config()
    rows = [(name, repr(getattr(defaults, name))) for name in _TOP_LEVEL]
    rows += [(_THRESHOLD_PREFIX + f.name, repr(getattr(defaults.thresholds, f.name))) for f in fields(AlarmThresholds)]
    rows += [(_KAFKA_PREFIX + f.name, repr(getattr(defaults.kafka, f.name))) for f in fields(KafkaConfig)]
    rows += [(_METRICS_PREFIX + f.name, repr(getattr(defaults.metrics, f.name))) for f in fields(MetricsConfig)]
    return rows
