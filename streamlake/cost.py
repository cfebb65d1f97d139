"""The bill before deploying: an itemised monthly estimate of a configuration at a steady event rate.

    python -m streamlake cost [--rate EVENTS_PER_SECOND] [--record-bytes N] [--region us-east-1|eu-west-1]
                              [--alert-fraction F] [-c key=value ...]

Prices come from streamlake/prices.json (dated; each rate names its source page and whether it was verified). The
model, item by item (a month is 730 hours, AWS's convention; GB is 2^30 bytes):

- fixed: shard-hours; the topics' KMS key; one standard alarm per alarm definition (streamlake.alarms); the
  dashboard; the Kafka secret when one is configured. Lambda and Firehose cost nothing while idle.
- Kinesis: one PUT payload unit per started 25 KB of each record.
- Firehose: ingestion and Parquet conversion on each record rounded up to 5 KB; dynamic partitioning on the data
  delivered plus per object delivered. Firehose writes one object per partition (family x hour) per buffer flush:
  with events spread over the three families, each family flushes every `firehose_buffer_seconds` (or earlier at
  `firehose_buffer_mib`), and the raw/ backup flushes once per buffer.
- Lambda (Arm): requests, and GB-seconds at the durations the benchmarks measure: the processor handles a record
  in 1/22,292 CPU-seconds (bench/bench_processor.py, README), the bridge in 0.35 ms (bench_kafka_bridge.py); the
  transformation runs the same validation as the processor, so it is given the processor's per-record cost. A
  function gets CPU in proportion to its memory (one vCPU at 1,769 MB), so a 512 MB function takes 1769/512 times
  the CPU time in wall time; each invocation adds an assumed 5 ms of calls and start-up (not measured). Lambda
  bills each invocation's duration rounded up to 1 ms. The processor's event source mapping invokes once per
  batch (`processor_batch_size`) or once per batch window, whichever comes first.
- X-Ray (processor, bridge): the default sampling rule records the first request each second and 5 % of the rest.
- DynamoDB: an alert costs a de-duplication read (1 RRU, strongly consistent) and a write (1 WRU). The alert
  lifecycle (lambdas/processor/lifecycle.py) reads the open-alert sets once per processor invocation (4 items per
  family, 2 families: 8 RRU) and, for each record that can open or continue an alert, at most one state read and
  one state write (items under 1 KB): counted as 1 RRU and 1 WRU per alerting event, the most it can be.
- `alert_fraction` is the share of events that are alert-worthy (a hot reading, an ERROR/CRITICAL line, a grade).
  Each is counted as one SNS publish and one e-mail per subscriber: an upper bound, since a sensor that stays hot
  sends one message on entering the alert state and then at most one reminder per `alert_reminder_minutes`.
- SNS: one publish request per alert and one e-mail per alert per `alert_emails` subscriber.
- CloudWatch: the processor's 8 EMF metrics (and the bridge's 4) as custom metrics once traffic flows; log
  ingestion and one month's storage of an assumed 1.5 KB of log per invocation (EMF document and Lambda's
  START/END/REPORT lines).
- S3: PUT requests of every object Firehose writes; storage in the 12th month of operation, each prefix in the
  classes its lifecycle rules (stacks/storage.py) move it through, at the compression design.md measured (gzip
  JSON 2.2 MB and Parquet 0.9 MB for 23 MB of JSON); objects under 128 KB, which S3 Lifecycle does not transition
  by default, stay in Standard; and the lifecycle transition requests of that month.
- Athena is priced per run of each saved query at the bytes it read in bench/bench_athena.py (100,000 sensor
  records, docs/athena.md), with Athena's 10 MB minimum; queries not measured are shown at the minimum.

Not included: free tiers, data transfer, quarantined records (assumed none), Athena results storage, Glue Data
Catalog (free below one million objects and requests).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamlake.config import Config

PRICES_JSON = Path(__file__).with_name("prices.json")
HOURS_PER_MONTH = 730
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
GB = 1024**3
MIB = 1024**2

# Benchmarks (README "Benchmarks"): CPU seconds per record.
PROCESSOR_CPU_SECONDS_PER_RECORD = 1 / 22_292
BRIDGE_CPU_SECONDS_PER_RECORD = 0.35 / 1000
FULL_VCPU_MB = 1769
INVOCATION_OVERHEAD_MS = 5.0  # assumed, not measured
PROCESSOR_MEMORY_MB, TRANSFORM_MEMORY_MB, BRIDGE_MEMORY_MB = 512, 256, 256
TRANSFORM_BUFFER_BYTES = 3 * MIB  # stacks/delivery.py TRANSFORM_BUFFER
TRANSFORM_INTERVAL_SECONDS = 60  # stacks/delivery.py TRANSFORM_INTERVAL
# design.md: 100k sensor records are 23 MB of JSON, 2.2 MB gzip JSON, 0.9 MB Parquet.
RAW_GZIP_RATIO = 2.2 / 23
PARQUET_RATIO = 0.9 / 23
FAMILIES = 3
PROCESSOR_METRICS, BRIDGE_METRICS = 8, 4
LOG_BYTES_PER_INVOCATION = 1536  # assumed: EMF document + START/END/REPORT lines
# Window-metrics function (stacks/metrics.py, bench/bench_metrics.py). Per invocation it reads and conditionally
# writes each window item a batch touches: about 70 for the bench's mix (50 sensors, 5 locations, 6 services,
# 8 courses); more entities, more items (16 per window and dimension at most). Its wall time is those DynamoDB
# round trips, assumed 5 ms each and sequential, plus the CPU bench_metrics measures (moto's share included).
METRICS_MEMORY_MB = 256
METRICS_ITEMS_PER_INVOCATION = 70
METRICS_ROUND_TRIP_MS = 5.0  # assumed, not measured
METRICS_CPU_SECONDS_PER_RECORD = 1 / 1350
# Custom metrics the function emits: 5 batch metrics, LateRecords x 3 families, and per closed window 3 per location,
# 2 per service and 1 per student event type, for the bench's mix (5 locations, 6 services, 5 event types).
WINDOW_METRICS = 5 + 3 + 3 * 5 + 2 * 6 + 5
XRAY_RESERVOIR_PER_SECOND, XRAY_RATE = 1.0, 0.05

# Bytes each saved query read in bench/bench_athena.py over 100,000 sensor records (docs/athena.md).
MEASURED_QUERY_BYTES: dict[str, int] = {
    "lab_latest_readings": round(989.2 * 1024),
    "lab_avg_temperature_by_sensor": round(520.0 * 1024),
    "lab_readings_above_30c": round(482.0 * 1024),
    "sensor_hourly_stats": round(209.1 * 1024),
}


class PriceError(ValueError):
    """The price table lacks a region or a rate."""


@dataclass(frozen=True)
class Prices:
    region: str
    as_of: str
    rates: dict[str, float]
    rules: dict[str, float]
    unverified: tuple[str, ...]

    def __getitem__(self, name: str) -> float:
        return self.rates[name]


def load_prices(region: str, path: Path = PRICES_JSON) -> Prices:
    table = json.loads(path.read_text())
    if region not in table["regions"]:
        raise PriceError(f"no prices for region {region!r}; the table has {sorted(table['regions'])}")
    entries = table["regions"][region]
    return Prices(
        region=region,
        as_of=table["as_of"],
        rates={k: float(v["value"]) for k, v in entries.items()},
        rules={k: float(v["value"]) for k, v in table["rules"].items()},
        unverified=tuple(sorted(k for k, v in {**entries, **table["rules"]}.items() if not v["verified"])),
    )


@dataclass(frozen=True)
class Workload:
    """A steady load: events per second, bytes per event, share of events that raise an alert."""

    rate: float = 10.0
    record_bytes: int = 230
    alert_fraction: float = 0.01

    def __post_init__(self) -> None:
        if self.rate < 0:
            raise ValueError(f"rate must be at least 0 events/s, got {self.rate}")
        if not 1 <= self.record_bytes <= 1024 * 1024:
            raise ValueError(f"record_bytes must be 1-1048576 (Kinesis' record limit), got {self.record_bytes}")
        if not 0 <= self.alert_fraction <= 1:
            raise ValueError(f"alert_fraction must be 0-1, got {self.alert_fraction}")

    @property
    def events_per_month(self) -> float:
        return self.rate * SECONDS_PER_MONTH


# The alert lifecycle's open-alert sets: AlertStateStore.OPEN_BUCKETS (4) items per family, 2 families, read
# strongly consistent (1 RRU each, found or not) once per processor invocation.
OPEN_ALERT_READS = 8


@dataclass(frozen=True)
class Item:
    service: str
    what: str
    quantity: float
    unit: str
    unit_price: float
    fixed: bool

    @property
    def monthly(self) -> float:
        return self.quantity * self.unit_price


def lambda_duration_ms(records: float, cpu_seconds_per_record: float, memory_mb: int) -> float:
    """Billed duration of one invocation: CPU time scaled by the memory's CPU share, plus overhead, rounded up."""
    cpu_share = min(1.0, memory_mb / FULL_VCPU_MB)
    return float(math.ceil(records * cpu_seconds_per_record * 1000 / cpu_share + INVOCATION_OVERHEAD_MS))


def processor_invocations_per_second(config: Config, rate: float) -> float:
    """One invocation per batch, or per batch window (at least 1 s: Lambda polls a shard about once a second)."""
    per_shard = rate / config.shard_count
    window = max(1, config.processor_batch_window_seconds)
    return config.shard_count * min(per_shard, max(per_shard / config.processor_batch_size, 1 / window))


def metrics_invocations_per_second(config: Config, rate: float) -> float:
    """The window-metrics mapping: one invocation per batch, or per batch window (at least 1 s), per shard."""
    m = config.metrics
    per_shard = rate / config.shard_count
    window = max(1, m.batch_window_seconds)
    return config.shard_count * min(per_shard, max(per_shard / m.batch_size, 1 / window))


def xray_traces(invocations_per_second: float) -> float:
    reservoir = min(invocations_per_second, XRAY_RESERVOIR_PER_SECOND)
    return (reservoir + XRAY_RATE * (invocations_per_second - reservoir)) * SECONDS_PER_MONTH


def _flushes(events_per_second: float, bytes_per_second: float, config: Config) -> float:
    """Objects one Firehose partition writes per month: a flush per buffer interval with data, or per full buffer."""
    if events_per_second <= 0:
        return 0.0
    by_time = min(events_per_second, 1 / config.firehose_buffer_seconds) * SECONDS_PER_MONTH
    by_size = bytes_per_second * SECONDS_PER_MONTH / (config.firehose_buffer_mib * MIB)
    return max(by_time, by_size)


def estimate(config: Config, workload: Workload, prices: Prices) -> list[Item]:
    """Every line of the monthly bill, fixed ones first."""
    p = prices
    items = [
        Item(
            "Kinesis", "shard-hours", config.shard_count * HOURS_PER_MONTH, "shard-hour", p["kinesis_shard_hour"], True
        ),
        Item("KMS", "customer managed key (SNS topics)", 1, "key-month", p["kms_key_month"], True),
        Item("CloudWatch", "alarms", _alarm_count(config), "alarm-month", p["cloudwatch_alarm_month"], True),
        Item("CloudWatch", "dashboard", 1, "dashboard-month", p["cloudwatch_dashboard_month"], True),
    ]
    if config.kafka.secret_name:
        items.append(
            Item("Secrets Manager", "Kafka SASL secret", 1, "secret-month", p["secrets_manager_secret_month"], True)
        )
    if workload.rate == 0:
        return items

    events = workload.events_per_month
    size = workload.record_bytes
    rounded = math.ceil(size / p.rules["firehose_rounding_bytes"]) * p.rules["firehose_rounding_bytes"]
    put_units = math.ceil(size / p.rules["kinesis_put_payload_unit_bytes"])
    data_gb = events * size / GB
    firehose_gb = events * rounded / GB

    per_family_rate = workload.rate / FAMILIES
    parquet_objects = FAMILIES * _flushes(per_family_rate, per_family_rate * size * PARQUET_RATIO, config)
    raw_objects = _flushes(workload.rate, workload.rate * size * RAW_GZIP_RATIO, config)

    processor_rate = processor_invocations_per_second(config, workload.rate)
    processor_invocations = processor_rate * SECONDS_PER_MONTH
    processor_ms = lambda_duration_ms(
        workload.rate / processor_rate, PROCESSOR_CPU_SECONDS_PER_RECORD, PROCESSOR_MEMORY_MB
    )
    transform_rate = max(workload.rate * size / TRANSFORM_BUFFER_BYTES, 1 / TRANSFORM_INTERVAL_SECONDS)
    transform_invocations = transform_rate * SECONDS_PER_MONTH
    transform_ms = lambda_duration_ms(
        workload.rate / transform_rate, PROCESSOR_CPU_SECONDS_PER_RECORD, TRANSFORM_MEMORY_MB
    )
    gb_seconds = (
        processor_invocations * processor_ms / 1000 * PROCESSOR_MEMORY_MB / 1024
        + transform_invocations * transform_ms / 1000 * TRANSFORM_MEMORY_MB / 1024
    )
    invocations = processor_invocations + transform_invocations
    traced = xray_traces(processor_rate)
    metrics = PROCESSOR_METRICS

    if config.kafka.enabled:
        # Every event is assumed to come through Kafka; the bridge batches `kafka_batch_size` messages per topic.
        bridge_rate = min(workload.rate, max(workload.rate / config.kafka.batch_size, len(config.kafka.topics)))
        bridge_invocations = bridge_rate * SECONDS_PER_MONTH
        bridge_ms = lambda_duration_ms(workload.rate / bridge_rate, BRIDGE_CPU_SECONDS_PER_RECORD, BRIDGE_MEMORY_MB)
        gb_seconds += bridge_invocations * bridge_ms / 1000 * BRIDGE_MEMORY_MB / 1024
        invocations += bridge_invocations
        traced += xray_traces(bridge_rate)
        metrics += BRIDGE_METRICS

    alerts = events * workload.alert_fraction
    log_gb = invocations * LOG_BYTES_PER_INVOCATION / GB
    items += [
        Item(
            "Kinesis",
            f"PUT payload units ({put_units} per record)",
            events * put_units / 1e6,
            "million units",
            p["kinesis_put_payload_units_per_million"],
            False,
        ),
        Item(
            "Firehose",
            "ingestion (records rounded up to 5 KB)",
            firehose_gb,
            "GB",
            p["firehose_ingestion_per_gb"],
            False,
        ),
        Item(
            "Firehose",
            "JSON to Parquet conversion (5 KB rounding)",
            firehose_gb,
            "GB",
            p["firehose_format_conversion_per_gb"],
            False,
        ),
        Item("Firehose", "dynamic partitioning, data", data_gb, "GB", p["firehose_dynamic_partitioning_per_gb"], False),
        Item(
            "Firehose",
            "dynamic partitioning, objects",
            parquet_objects / 1000,
            "thousand objects",
            p["firehose_dynamic_partitioning_per_thousand_objects"],
            False,
        ),
        Item(
            "Lambda",
            "requests (processor, transformation, bridge)",
            invocations / 1e6,
            "million requests",
            p["lambda_requests_per_million"],
            False,
        ),
        Item(
            "Lambda",
            f"compute (processor {processor_ms:g} ms/invocation, transformation {transform_ms:g} ms)",
            gb_seconds,
            "GB-second",
            p["lambda_arm_gb_second"],
            False,
        ),
        Item("X-Ray", "traces recorded", traced / 1e6, "million traces", p["xray_traces_recorded_per_million"], False),
        Item(
            "S3",
            "PUT requests (Parquet and raw objects)",
            (parquet_objects + raw_objects) / 1000,
            "thousand requests",
            p["s3_put_per_thousand"],
            False,
        ),
        *_storage_items(events * size, parquet_objects, raw_objects, p),
        Item(
            "DynamoDB",
            "alert de-duplication writes",
            alerts / 1e6,
            "million WRU",
            p["dynamodb_write_request_units_per_million"],
            False,
        ),
        Item(
            "DynamoDB",
            "alert de-duplication reads (strongly consistent)",
            alerts / 1e6,
            "million RRU",
            p["dynamodb_read_request_units_per_million"],
            False,
        ),
        Item(
            "DynamoDB",
            f"alert lifecycle: open-alert reads ({OPEN_ALERT_READS}/invocation)",
            processor_invocations * OPEN_ALERT_READS / 1e6,
            "million RRU",
            p["dynamodb_read_request_units_per_million"],
            False,
        ),
        Item(
            "DynamoDB",
            "alert lifecycle: state writes (at most 1 per alerting event)",
            alerts / 1e6,
            "million WRU",
            p["dynamodb_write_request_units_per_million"],
            False,
        ),
        Item(
            "DynamoDB",
            "alert lifecycle: state reads (at most 1 per alerting event)",
            alerts / 1e6,
            "million RRU",
            p["dynamodb_read_request_units_per_million"],
            False,
        ),
        Item("SNS", "alert publishes", alerts / 1e6, "million requests", p["sns_requests_per_million"], False),
        Item(
            "SNS",
            f"alert e-mails ({len(config.alert_emails)} subscribers)",
            alerts * len(config.alert_emails) / 1e5,
            "hundred thousand e-mails",
            p["sns_email_per_hundred_thousand"],
            False,
        ),
        *_window_metrics_items(config, workload, p),
        Item("CloudWatch", "custom metrics (EMF)", metrics, "metric-month", p["cloudwatch_custom_metric_month"], False),
        Item("CloudWatch", "log ingestion", log_gb, "GB", p["cloudwatch_logs_ingestion_per_gb"], False),
        Item(
            "CloudWatch",
            "log storage (one month kept)",
            log_gb,
            "GB-month",
            p["cloudwatch_logs_storage_gb_month"],
            False,
        ),
    ]
    return items


def _window_metrics_items(config: Config, workload: Workload, p: Prices) -> list[Item]:
    """The window-metrics function: its invocations, DynamoDB state, closed-window objects and EMF metrics."""
    rate = metrics_invocations_per_second(config, workload.rate)
    invocations = rate * SECONDS_PER_MONTH
    records = workload.rate / rate
    # A record touches one or two items (sensor and location); a small batch touches at most one per record.
    items = min(float(METRICS_ITEMS_PER_INVOCATION), records)
    cpu_ms = records * METRICS_CPU_SECONDS_PER_RECORD * 1000 / min(1.0, METRICS_MEMORY_MB / FULL_VCPU_MB)
    duration_ms = float(math.ceil(cpu_ms + items * 2 * METRICS_ROUND_TRIP_MS))
    units = invocations * items / 1e6
    windows = SECONDS_PER_MONTH / config.metrics.window_seconds
    return [
        Item(
            "Lambda",
            "window-metrics requests",
            invocations / 1e6,
            "million requests",
            p["lambda_requests_per_million"],
            False,
        ),
        Item(
            "Lambda",
            f"window-metrics compute ({duration_ms:g} ms/invocation)",
            invocations * duration_ms / 1000 * METRICS_MEMORY_MB / 1024,
            "GB-second",
            p["lambda_arm_gb_second"],
            False,
        ),
        Item(
            "DynamoDB",
            f"window state writes ({items:g} items/invocation)",
            units,
            "million WRU",
            p["dynamodb_write_request_units_per_million"],
            False,
        ),
        Item(
            "DynamoDB",
            "window state reads (strongly consistent)",
            units,
            "million RRU",
            p["dynamodb_read_request_units_per_million"],
            False,
        ),
        Item(
            "S3",
            "window_metrics objects (one per closed window)",
            windows / 1000,
            "thousand requests",
            p["s3_put_per_thousand"],
            False,
        ),
        Item(
            "CloudWatch",
            "window metrics (EMF, per location/service/event type)",
            WINDOW_METRICS,
            "metric-month",
            p["cloudwatch_custom_metric_month"],
            False,
        ),
    ]


def _alarm_count(config: Config) -> int:
    from streamlake.alarms import alarm_specs

    return len(alarm_specs(config))


def _storage_items(json_bytes_per_month: float, parquet_objects: float, raw_objects: float, p: Prices) -> list[Item]:
    """The 12th month of data. raw/ moves to IA at 30 days and Glacier Flexible at 90, processed/ to IA at 90 (and
    Glacier IR at 365, not reached) (stacks/storage.py), but S3 Lifecycle by default does not transition objects
    under 128 KB: Firehose's small objects stay in Standard. Glacier keeps 40 KB of index per object."""
    minimum = p.rules["s3_lifecycle_minimum_transition_bytes"]
    overhead = p.rules["s3_glacier_object_overhead_bytes"]
    raw_bytes, parquet_bytes = json_bytes_per_month * RAW_GZIP_RATIO, json_bytes_per_month * PARQUET_RATIO
    raw_moves = raw_objects > 0 and raw_bytes / raw_objects >= minimum
    parquet_moves = parquet_objects > 0 and parquet_bytes / parquet_objects >= minimum
    standard = raw_bytes * (1 if raw_moves else 12) + parquet_bytes * (3 if parquet_moves else 12)
    ia = raw_bytes * 2 * raw_moves + parquet_bytes * 9 * parquet_moves
    glacier = 9 * (raw_bytes + raw_objects * overhead) * raw_moves
    to_ia = raw_objects * raw_moves + parquet_objects * parquet_moves
    return [
        Item("S3", "storage, Standard (month 12)", standard / GB, "GB-month", p["s3_standard_gb_month"], False),
        Item("S3", "storage, Standard-IA (month 12)", ia / GB, "GB-month", p["s3_standard_ia_gb_month"], False),
        Item(
            "S3",
            "storage, Glacier Flexible Retrieval (month 12)",
            glacier / GB,
            "GB-month",
            p["s3_glacier_flexible_gb_month"],
            False,
        ),
        Item(
            "S3",
            "lifecycle transitions to IA (objects of 128 KB or more)",
            to_ia / 1000,
            "thousand requests",
            p["s3_transition_ia_per_thousand"],
            False,
        ),
        Item(
            "S3",
            "lifecycle transitions to Glacier Flexible",
            raw_objects * raw_moves / 1000,
            "thousand requests",
            p["s3_transition_glacier_flexible_per_thousand"],
            False,
        ),
    ]


def athena_runs(query_names: list[str], prices: Prices) -> list[tuple[str, int | None, float]]:
    """(query, measured bytes or None, $ per run), each run billed at least Athena's 10 MB."""
    minimum = prices.rules["athena_minimum_bytes_per_query"]
    per_byte = prices["athena_per_tb_scanned"] / 1e12
    rows = []
    for name in query_names:
        measured = MEASURED_QUERY_BYTES.get(name)
        rows.append((name, measured, max(measured or 0, minimum) * per_byte))
    return rows


def render(config: Config, workload: Workload, prices: Prices, items: list[Item], queries: list[str]) -> str:
    fixed = sum(i.monthly for i in items if i.fixed)
    variable = sum(i.monthly for i in items if not i.fixed)
    total = fixed + variable
    lines = [
        f"streamlake monthly estimate, {prices.region}, prices as of {prices.as_of} (streamlake/prices.json)",
        f"{workload.rate:g} events/s of {workload.record_bytes} bytes, {workload.alert_fraction:.1%} raising an alert, "
        f"{config.shard_count} shard(s), Kafka bridge: {config.kafka.mode}",
        "",
        f"{'service':<16}{'item':<62}{'quantity':>16} {'unit':<26}{'$/month':>10}",
    ]
    for item in items:
        lines.append(
            f"{item.service:<16}{item.what[:61]:<62}{item.quantity:>16,.3f} {item.unit:<26}{item.monthly:>10,.2f}"
        )
    lines += [
        "",
        f"fixed ${fixed:,.2f}/month, per-event ${variable:,.2f}/month, total ${total:,.2f}/month "
        f"(${total / (HOURS_PER_MONTH / 24):,.2f}/day)",
    ]
    top = sorted((i for i in items if i.monthly > 0), key=lambda i: -i.monthly)[:3]
    lines.append("largest: " + ", ".join(f"{i.service} {i.what} ${i.monthly:,.2f}" for i in top))
    lines += ["", "Athena, per run of each saved query (measured bytes over 100,000 sensor records; 10 MB minimum):"]
    for name, measured, cost in athena_runs(queries, prices):
        shown = f"{measured / 1024:,.1f} KiB" if measured else "not measured"
        lines.append(f"  {name:<34}{shown:>16}  ${cost:.6f}")
    if prices.unverified:
        lines += ["", f"unverified rates ({len(prices.unverified)}): check them against the sources in prices.json"]
    return "\n".join(lines)


def summary_line(items: list[Item]) -> str:
    total = sum(i.monthly for i in items)
    return f"${total:,.2f}/month (${total / (HOURS_PER_MONTH / 24):,.2f}/day)"


def to_json(items: list[Item]) -> list[dict[str, Any]]:
    return [{**item.__dict__, "monthly": item.monthly} for item in items]
