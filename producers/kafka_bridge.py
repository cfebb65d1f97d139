"""Standalone Kafka -> Kinesis bridge: the bridge Lambda's code in a confluent-kafka consumer group.

    python -m producers.kafka_bridge --bootstrap-servers localhost:9092 --stream streamlake-events \\
        --lake-bucket streamlake-lake [--topics estudiante-eventos,sistema-logs,notificaciones] [--group NAME]

Runs where no Lambda event source mapping can (on premises, a laptop, local mode), with the same guarantees:

- Every message is decoded, routed and validated by `lambdas.bridge` exactly as in the Lambda; undecodable or
  invalid ones go to quarantine/stage=bridge/ in the lake bucket.
- Offsets are committed by hand, synchronously, only after Kinesis acknowledged every entry of the batch and the
  quarantine object is written. Auto-commit and automatic offset storage are off, so a crash (even SIGKILL) can only
  cause the uncommitted tail to be delivered again; those copies carry the same event_id and the processor drops
  them. A batch Kinesis refuses is retried (with backoff) until it is written or the bridge is stopped: it is
  never skipped.
- SIGTERM / Ctrl-C finish the batch in hand, commit it, and leave the group; the next start resumes from the
  committed offsets (`auto.offset.reset=earliest` only applies to a group that has never committed).
- Consumer lag (high watermark - committed offset, summed per topic) goes to CloudWatch every `--lag-interval`
  seconds as Streamlake/KafkaConsumerLag with dimensions ConsumerGroup and Topic.

Credentials are never flags: SASL user and password come from KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD or from
`--secrets-file`, a JSON file shaped like the Secrets Manager secret the Lambda uses ({"username", "password"}).

For local mode and tests, `run_bridge(settings, stop_event)` runs the loop in the caller's thread and
`BridgeThread` runs it on a daemon thread (see docs/kafka.md).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambdas.bridge.adapters import KinesisWriteError, KinesisWriter, QuarantineWriter
from lambdas.bridge.core import BatchOutcome, run_batch
from lambdas.bridge.debezium import ValueDecoder
from lambdas.bridge.mapping import KafkaMessage, Route, parse_routes
from lambdas.bridge.wire import SchemaRegistry, default_registry
from producers.schema_registry import RegistryUnavailableError, registry_client, registry_decoder
from streamlake.config import DEFAULT_KAFKA_TOPICS

NAMESPACE = "Streamlake"
LAG_METRIC = "KafkaConsumerLag"
DEFAULT_GROUP = "streamlake-bridge"  # the CDK's event sources use "<prefix>-bridge" too
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
# Backoff between attempts at a batch Kinesis keeps refusing (each attempt already retries inside KinesisWriter).
_BATCH_RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)

log = logging.getLogger("producers.kafka_bridge")


class BridgeError(RuntimeError):
    """A condition the bridge cannot run with (broker unreachable, stream missing, bad settings): one line."""


@dataclass(frozen=True)
class BridgeSettings:
    """Everything the standalone bridge needs. `kafka_overrides` are extra librdkafka properties."""

    bootstrap_servers: str
    stream_name: str
    lake_bucket: str
    topics: tuple[str, ...] = DEFAULT_KAFKA_TOPICS
    group: str = DEFAULT_GROUP
    instance_id: str | None = None
    endpoint_url: str | None = None
    region: str | None = None
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "PLAIN"
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    batch_size: int = 500
    kinesis_max_attempts: int = 8
    poll_timeout: float = 0.5
    lag_interval: float = 30.0
    connect_timeout: float = 10.0
    session_timeout_ms: int = 45_000
    offset_reset: str = "earliest"
    routes: dict[str, Route] = field(default_factory=lambda: parse_routes(None))
    kafka_overrides: dict[str, Any] = field(default_factory=dict)
    # Debezium change topics (docs/cdc.md) and the registry their Avro schemas are in (None: the bundled schemas).
    cdc_topics: tuple[str, ...] = ()
    schema_registry_url: str | None = None

    def __post_init__(self) -> None:
        if not (self.topics or self.cdc_topics):
            raise BridgeError("no topics to consume: give --topics")
        for topic in self.cdc_topics:
            self.routes[topic] = Route("change")
        if self.security_protocol not in SECURITY_PROTOCOLS:
            raise BridgeError(f"security protocol must be one of {', '.join(SECURITY_PROTOCOLS)}")
        if self.security_protocol.startswith("SASL"):
            if self.sasl_mechanism not in SASL_MECHANISMS:
                raise BridgeError(f"SASL mechanism must be one of {', '.join(SASL_MECHANISMS)}")
            if not (self.sasl_username and self.sasl_password):
                raise BridgeError(
                    f"{self.security_protocol} needs credentials: set KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD "
                    "or give --secrets-file"
                )
        if not 1 <= self.batch_size <= 10_000:
            raise BridgeError("batch size must be between 1 and 10000")
        if self.kinesis_max_attempts < 1:
            raise BridgeError("Kinesis max attempts must be at least 1")

    def consumer_config(self) -> dict[str, Any]:
        """librdkafka settings of the consumer (holds the password: never log it)."""
        config: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "group.id": self.group,
            "client.id": "streamlake-kafka-bridge",
            # Offsets are committed by run_bridge after Kinesis acknowledged the batch, never in the background.
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": self.offset_reset,
            "session.timeout.ms": self.session_timeout_ms,
            "heartbeat.interval.ms": max(100, self.session_timeout_ms // 3),
            "security.protocol": self.security_protocol,
        }
        if self.instance_id:
            # Static membership: a restarted bridge with the same instance id takes its partitions back at once,
            # instead of waiting for the group to expire the dead member (brokers differ in how long that takes).
            config["group.instance.id"] = self.instance_id
        if self.security_protocol.startswith("SASL"):
            config.update(
                {
                    "sasl.mechanisms": self.sasl_mechanism,
                    "sasl.username": self.sasl_username,
                    "sasl.password": self.sasl_password,
                }
            )
        config.update(self.kafka_overrides)
        return config


@dataclass
class BridgeStats:
    """Running totals, updated after every committed batch (read them from another thread freely)."""

    messages: int = 0
    written: int = 0
    quarantined: int = 0
    # Of the quarantined: messages the bridge's own code raised on (reason `internal error: <type>`), a bug to report.
    internal_errors: int = 0
    batches: int = 0
    retried_entries: int = 0
    failed_attempts: int = 0
    lag: dict[str, int] = field(default_factory=dict)
    committed: dict[tuple[str, int], int] = field(default_factory=dict)


def load_secrets_file(path: str | os.PathLike[str]) -> tuple[str, str]:
    """(username, password) from a JSON file shaped like the bridge's Secrets Manager secret."""
    try:
        secret = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise BridgeError(f"cannot read secrets file {path}: {exc.strerror}") from None
    except json.JSONDecodeError:
        raise BridgeError(f'secrets file {path} is not JSON (expected {{"username": ..., "password": ...}})') from None
    if not isinstance(secret, dict) or not secret.get("username") or not secret.get("password"):
        raise BridgeError(f'secrets file {path} needs "username" and "password"')
    return str(secret["username"]), str(secret["password"])


# --------------------------------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class AwsClients:
    kinesis: Any
    s3: Any
    cloudwatch: Any

    @classmethod
    def create(cls, settings: BridgeSettings) -> AwsClients:
        import boto3
        from botocore.config import Config

        config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=30)
        session = boto3.session.Session(region_name=settings.region or None)
        if not session.region_name:
            raise BridgeError("no AWS region: give --region or set AWS_REGION")

        def client(service: str) -> Any:
            return session.client(service, endpoint_url=settings.endpoint_url, config=config)

        try:
            return cls(kinesis=client("kinesis"), s3=client("s3"), cloudwatch=client("cloudwatch"))
        except ValueError as exc:  # botocore's "Invalid endpoint: ..."
            raise BridgeError(f"{exc} (check --endpoint-url and --region)") from None


def check_stream(kinesis: Any, settings: BridgeSettings) -> None:
    """BridgeError unless the stream exists and is writable (ACTIVE or UPDATING)."""
    from botocore.exceptions import BotoCoreError, ClientError

    where = settings.endpoint_url or f"region {kinesis.meta.region_name}"
    try:
        summary = kinesis.describe_stream_summary(StreamName=settings.stream_name)["StreamDescriptionSummary"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            raise BridgeError(f"Kinesis stream {settings.stream_name} not found at {where}") from None
        raise BridgeError(f"cannot describe Kinesis stream {settings.stream_name} at {where}: {code}") from None
    except BotoCoreError as exc:
        raise BridgeError(f"cannot reach Kinesis at {where}: {exc}") from None
    if summary["StreamStatus"] not in ("ACTIVE", "UPDATING"):
        raise BridgeError(f"Kinesis stream {settings.stream_name} is {summary['StreamStatus']}, not ACTIVE")


def _to_message(raw: Any) -> KafkaMessage:
    timestamp_type, timestamp = raw.timestamp()
    headers = tuple((name, value or b"") for name, value in (raw.headers() or []))
    return KafkaMessage(
        topic=raw.topic(),
        partition=raw.partition(),
        offset=raw.offset(),
        timestamp_ms=timestamp if timestamp_type != 0 else None,  # 0: TIMESTAMP_NOT_AVAILABLE
        key=raw.key(),
        value=raw.value(),
        headers=headers,
    )


def run_bridge(
    settings: BridgeSettings,
    stop_event: threading.Event,
    *,
    clients: AwsClients | None = None,
    registry: SchemaRegistry | None = None,
    on_batch: Callable[[BatchOutcome, BridgeStats], None] | None = None,
    stats: BridgeStats | None = None,
    decoder: ValueDecoder | None = None,
) -> BridgeStats:
    """Consume until `stop_event` is set; returns the totals. Raises BridgeError when it cannot run.

    Each batch is written (Kinesis + quarantine) and then its offsets are committed; `on_batch` is called after the
    commit. Safe to run on a thread: it installs no signal handlers.
    """
    from confluent_kafka import Consumer, KafkaError, KafkaException

    stats = stats if stats is not None else BridgeStats()
    clients = clients or AwsClients.create(settings)
    registry = registry or default_registry()
    if decoder is None and settings.schema_registry_url:
        try:
            decoder = registry_decoder(registry_client(settings.schema_registry_url, os.environ))
        except ValueError as exc:
            raise BridgeError(str(exc)) from None
    check_stream(clients.kinesis, settings)
    writer = KinesisWriter(clients.kinesis, settings.stream_name, max_attempts=settings.kinesis_max_attempts)
    quarantine = QuarantineWriter(clients.s3, settings.lake_bucket)

    # The last few client errors (librdkafka reports connection failures here), for the unreachable-broker message.
    errors: deque[str] = deque(maxlen=5)
    librdkafka_log = logging.getLogger("producers.kafka_bridge.librdkafka")
    consumer = Consumer(
        settings.consumer_config(),
        error_cb=lambda error: errors.append(str(error)),
        logger=librdkafka_log,
    )
    try:
        _check_broker(consumer, settings, errors)
        consumer.subscribe([*settings.topics, *settings.cdc_topics])
        log.info(
            "bridging %s from %s (group %s) into %s",
            ",".join(settings.topics),
            settings.bootstrap_servers,
            settings.group,
            settings.stream_name,
        )
        next_lag_report = time.monotonic() + settings.lag_interval
        warned_topics: set[str] = set()
        while not stop_event.is_set():
            raw_messages = consumer.consume(num_messages=settings.batch_size, timeout=settings.poll_timeout)
            batch: list[KafkaMessage] = []
            for raw in raw_messages:
                error = raw.error()
                if error is None:
                    batch.append(_to_message(raw))
                elif error.code() == KafkaError._PARTITION_EOF:
                    continue
                elif error.fatal():
                    raise BridgeError(f"Kafka consumer failed: {error.str()}")
                elif error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    topic = raw.topic() or "?"
                    if topic not in warned_topics:
                        warned_topics.add(topic)
                        log.warning("topic %s does not exist (yet); consuming it once it does", topic)
                else:
                    log.warning("Kafka consumer: %s", error.str())
            if batch:
                outcome = _write_with_retries(batch, settings, registry, writer, quarantine, stop_event, stats, decoder)
                if outcome is None:
                    break  # stopped while Kinesis was refusing the batch: nothing committed, redelivered later
                _commit(consumer, batch, stats)
                stats.messages += outcome.messages
                stats.written += outcome.written
                stats.quarantined += outcome.quarantined
                stats.internal_errors += outcome.internal_errors
                stats.retried_entries += outcome.retried
                stats.batches += 1
                if outcome.quarantined:
                    log.warning("quarantined %d message(s), e.g. %s", outcome.quarantined, outcome.reasons[0])
                if on_batch is not None:
                    on_batch(outcome, stats)
            if time.monotonic() >= next_lag_report:
                report_lag(consumer, clients.cloudwatch, settings, stats)
                next_lag_report = time.monotonic() + settings.lag_interval
        report_lag(consumer, clients.cloudwatch, settings, stats)
    except KafkaException as exc:
        raise BridgeError(f"Kafka consumer failed: {exc.args[0].str() if exc.args else exc}") from None
    finally:
        # A dynamic member leaves the group here, so another bridge gets the partitions at once; a static member
        # (instance_id) keeps them for its restart. Offsets were committed batch by batch; close() commits nothing
        # (auto-commit is off).
        consumer.close()
    return stats


def _check_broker(consumer: Any, settings: BridgeSettings, errors: deque[str]) -> None:
    from confluent_kafka import KafkaException

    try:
        metadata = consumer.list_topics(timeout=settings.connect_timeout)
    except KafkaException as exc:
        detail = errors[-1] if errors else (exc.args[0].str() if exc.args else str(exc))
        raise BridgeError(f"cannot reach Kafka at {settings.bootstrap_servers}: {detail}") from None
    missing = [t for t in (*settings.topics, *settings.cdc_topics) if t not in metadata.topics]
    if missing:
        log.warning("topic(s) %s do not exist yet on %s", ", ".join(missing), settings.bootstrap_servers)


def _write_with_retries(
    batch: Sequence[KafkaMessage],
    settings: BridgeSettings,
    registry: SchemaRegistry,
    writer: KinesisWriter,
    quarantine: QuarantineWriter,
    stop_event: threading.Event,
    stats: BridgeStats,
    decoder: ValueDecoder | None = None,
) -> BatchOutcome | None:
    """The batch written, or None if the bridge was stopped before Kinesis took it. Permanent errors raise."""
    from botocore.exceptions import BotoCoreError, ClientError

    attempt = 0
    while True:
        try:
            return run_batch(
                batch, routes=settings.routes, registry=registry, writer=writer, quarantine=quarantine, decoder=decoder
            )
        except RegistryUnavailableError as exc:  # nothing written yet is lost: the batch is planned again
            problem = str(exc)
        except KinesisWriteError as exc:
            if exc.permanent:
                raise BridgeError(str(exc)) from None
            problem = str(exc)
        except (ClientError, BotoCoreError) as exc:  # the quarantine write to S3
            problem = f"quarantine write to s3://{settings.lake_bucket} failed: {exc}"
        stats.failed_attempts += 1
        delay = _BATCH_RETRY_DELAYS[min(attempt, len(_BATCH_RETRY_DELAYS) - 1)]
        attempt += 1
        log.warning(
            "batch of %d not written (%s); retrying in %.0f s, offsets not committed", len(batch), problem, delay
        )
        if stop_event.wait(delay):
            return None


def _commit(consumer: Any, batch: Sequence[KafkaMessage], stats: BridgeStats) -> None:
    from confluent_kafka import KafkaException, TopicPartition

    next_offsets: dict[tuple[str, int], int] = {}
    for message in batch:
        position = (message.topic, message.partition)
        next_offsets[position] = max(next_offsets.get(position, 0), message.offset + 1)
    try:
        consumer.commit(
            offsets=[TopicPartition(t, p, o) for (t, p), o in next_offsets.items()],
            asynchronous=False,
        )
    except KafkaException as exc:
        # Typically a rebalance took the partitions away: the new owner re-reads from the last commit and the
        # copies it writes carry the same event_ids. Nothing is lost, so carry on.
        log.warning("offset commit failed (%s); those messages will be delivered again", exc.args[0].str())
        return
    stats.committed.update(next_offsets)


def measure_lag(consumer: Any, timeout: float = 5.0) -> dict[str, int]:
    """Messages not yet committed by this group, per topic, over the partitions assigned to this consumer."""
    from confluent_kafka import TopicPartition

    assignment = consumer.assignment()
    if not assignment:
        return {}
    lag: dict[str, int] = {}
    for tp in consumer.committed(assignment, timeout=timeout):
        low, high = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout=timeout)
        start = tp.offset if tp.offset >= 0 else low  # never committed: everything still there is lag
        lag[tp.topic] = lag.get(tp.topic, 0) + max(0, high - start)
    return lag


def report_lag(consumer: Any, cloudwatch: Any, settings: BridgeSettings, stats: BridgeStats) -> None:
    """Measure the lag and put it to CloudWatch; a failure here is logged, never fatal."""
    from botocore.exceptions import BotoCoreError, ClientError
    from confluent_kafka import KafkaException

    try:
        lag = measure_lag(consumer)
    except KafkaException as exc:
        log.warning("could not measure consumer lag: %s", exc)
        return
    if not lag:
        return
    stats.lag = lag
    try:
        cloudwatch.put_metric_data(
            Namespace=NAMESPACE,
            MetricData=[
                {
                    "MetricName": LAG_METRIC,
                    "Dimensions": [
                        {"Name": "ConsumerGroup", "Value": settings.group},
                        {"Name": "Topic", "Value": topic},
                    ],
                    "Value": float(value),
                    "Unit": "Count",
                }
                for topic, value in sorted(lag.items())
            ],
        )
    except (ClientError, BotoCoreError) as exc:
        log.warning("could not put %s to CloudWatch: %s", LAG_METRIC, exc)
    log.info("consumer lag %s", ", ".join(f"{t}={v}" for t, v in sorted(lag.items())))


class BridgeThread:
    """`run_bridge` on a daemon thread, for local mode: start(), stop(), `stats`, `error` (if it died)."""

    def __init__(self, settings: BridgeSettings, **kwargs: Any) -> None:
        self.settings = settings
        self.stats = BridgeStats()
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._kwargs = kwargs
        self._thread = threading.Thread(target=self._run, name="kafka-bridge", daemon=True)

    def _run(self) -> None:
        try:
            run_bridge(self.settings, self._stop, stats=self.stats, **self._kwargs)
        except BaseException as exc:  # reported to the owner through `error`, a thread has nowhere to raise to
            self.error = exc
            log.error("kafka bridge stopped: %s", exc)

    def start(self) -> BridgeThread:
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the batch in hand, commit it, leave the group."""
        self._stop.set()
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()


# --------------------------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None, environ: dict[str, str] | None = None) -> BridgeSettings:
    """Settings from flags, with defaults from the environment; BridgeError for a bad combination."""
    env = dict(os.environ if environ is None else environ)
    parser = argparse.ArgumentParser(
        prog="python -m producers.kafka_bridge",
        description="Copy Kafka topics into the streamlake Kinesis stream, committing offsets only after Kinesis "
        "acknowledged them.",
    )
    parser.add_argument("--bootstrap-servers", default=env.get("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092"))
    parser.add_argument("--topics", default=env.get("KAFKA_TOPICS", ",".join(DEFAULT_KAFKA_TOPICS)))
    parser.add_argument("--group", default=env.get("KAFKA_GROUP", DEFAULT_GROUP), help="consumer group id")
    parser.add_argument(
        "--instance-id",
        default=env.get("KAFKA_GROUP_INSTANCE_ID"),
        help="static group membership id, stable across restarts and unique per running bridge (e.g. the host name)",
    )
    parser.add_argument("--stream", default=env.get("STREAM_NAME"), help="Kinesis stream (default $STREAM_NAME)")
    parser.add_argument(
        "--lake-bucket", default=env.get("LAKE_BUCKET"), help="bucket for quarantine/ (default $LAKE_BUCKET)"
    )
    parser.add_argument("--endpoint-url", default=env.get("AWS_ENDPOINT_URL"), help="AWS endpoint (moto, LocalStack)")
    parser.add_argument("--region", default=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"))
    parser.add_argument(
        "--security-protocol",
        choices=SECURITY_PROTOCOLS,
        default=env.get("KAFKA_SECURITY_PROTOCOL"),
        help="default: SASL_SSL when credentials are given, else PLAINTEXT",
    )
    parser.add_argument("--sasl-mechanism", choices=SASL_MECHANISMS, default=env.get("KAFKA_SASL_MECHANISM", "PLAIN"))
    parser.add_argument(
        "--secrets-file",
        default=env.get("KAFKA_SECRETS_FILE"),
        help='JSON {"username", "password"}; or set KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD',
    )
    parser.add_argument("--batch-size", type=int, default=500, help="messages per PutRecords batch and commit")
    parser.add_argument(
        "--kinesis-max-attempts", type=int, default=8, help="PutRecords calls per chunk before the batch is retried"
    )
    parser.add_argument("--lag-interval", type=float, default=30.0, help="seconds between lag metrics")
    parser.add_argument("--connect-timeout", type=float, default=10.0, help="seconds to wait for the broker")
    parser.add_argument("--session-timeout-ms", type=int, default=45_000)
    parser.add_argument("--offset-reset", choices=("earliest", "latest"), default="earliest")
    parser.add_argument(
        "--topic-families",
        default=env.get("KAFKA_TOPIC_FAMILIES"),
        help='JSON topic -> family map, e.g. {"campus-logs": "log"} (default: the three streamlake topics)',
    )
    parser.add_argument(
        "--cdc-topics",
        default=env.get("KAFKA_CDC_TOPICS", ""),
        help="Debezium change topics (<server>.<schema>.<table>), read into the change family (docs/cdc.md)",
    )
    parser.add_argument(
        "--schema-registry-url",
        default=env.get("SCHEMA_REGISTRY_URL"),
        help="schema registry of the change topics' Avro (credentials: SCHEMA_REGISTRY_USERNAME / _PASSWORD); "
        "default: the schemas bundled in lambdas/bridge/schemas",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every batch and librdkafka's warnings")
    args = parser.parse_args(argv)
    logging.getLogger("producers.kafka_bridge.librdkafka").setLevel(logging.WARNING if args.verbose else 100)
    if args.verbose:
        log.setLevel(logging.DEBUG)

    if not args.stream:
        raise BridgeError("no Kinesis stream: give --stream or set STREAM_NAME")
    if not args.lake_bucket:
        raise BridgeError("no lake bucket for quarantined messages: give --lake-bucket or set LAKE_BUCKET")
    username, password = env.get("KAFKA_SASL_USERNAME"), env.get("KAFKA_SASL_PASSWORD")
    if args.secrets_file:
        username, password = load_secrets_file(args.secrets_file)
    protocol = args.security_protocol or ("SASL_SSL" if username else "PLAINTEXT")
    try:
        routes = parse_routes(args.topic_families)
    except ValueError as exc:
        raise BridgeError(str(exc)) from None
    return BridgeSettings(
        bootstrap_servers=args.bootstrap_servers,
        stream_name=args.stream,
        lake_bucket=args.lake_bucket,
        topics=tuple(t.strip() for t in args.topics.split(",") if t.strip()),
        group=args.group,
        instance_id=args.instance_id or None,
        endpoint_url=args.endpoint_url or None,
        region=args.region,
        security_protocol=protocol,
        sasl_mechanism=args.sasl_mechanism,
        sasl_username=username,
        sasl_password=password,
        batch_size=args.batch_size,
        kinesis_max_attempts=args.kinesis_max_attempts,
        lag_interval=args.lag_interval,
        connect_timeout=args.connect_timeout,
        session_timeout_ms=args.session_timeout_ms,
        offset_reset=args.offset_reset,
        routes=routes,
        cdc_topics=tuple(t.strip() for t in args.cdc_topics.split(",") if t.strip()),
        schema_registry_url=args.schema_registry_url or None,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: 0 after a clean stop, 1 with a one-line error otherwise."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s kafka_bridge %(levelname)s %(message)s", stream=sys.stderr
    )
    # botocore announces where it found credentials at INFO: noise on every start.
    logging.getLogger("botocore").setLevel(logging.WARNING)
    stop = threading.Event()

    def request_stop(signum: int, _frame: Any) -> None:
        log.info("%s received: finishing the current batch", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        settings = parse_args(argv)

        def progress(outcome: BatchOutcome, stats: BridgeStats) -> None:
            log.debug(
                "committed %d messages (total %d, %d quarantined)", outcome.messages, stats.messages, stats.quarantined
            )

        stats = run_bridge(settings, stop, on_batch=progress)
    except BridgeError as exc:
        print(f"kafka_bridge: error: {exc}", file=sys.stderr)
        return 1
    lag = ", ".join(f"{t}={v}" for t, v in sorted(stats.lag.items())) or "unknown"
    log.info(
        "stopped: %d messages, %d written, %d quarantined, lag %s",
        stats.messages,
        stats.written,
        stats.quarantined,
        lag,
    )
    return 0


__all__ = ["BridgeError", "BridgeSettings", "BridgeStats", "BridgeThread", "main", "run_bridge"]

if __name__ == "__main__":
    sys.exit(main())
