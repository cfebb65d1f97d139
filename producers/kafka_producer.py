"""Send the same realistic events to the Kafka topics the bridge reads: `python producers/kafka_producer.py --help`.

Topics (the defaults of `kafka_topics` in cdk.json and of the bridge's routes):
  estudiante-eventos   student events, keyed by student_id
  notificaciones       notifications: grade_posted student events with a `channel` (email/sms), keyed by student_id
  sistema-logs         service logs, keyed by service

The producer is idempotent (`enable.idempotence`, `acks=all`): librdkafka retries without duplicating or
reordering a partition's messages. Every delivery report is counted: acknowledged messages in `sent`, messages the
broker did not take in `failed` and in the failure file (exit status 1).

Where messages go, and how to authenticate (first that applies):
  --bootstrap-servers / KAFKA_BOOTSTRAP_SERVERS / `bootstrap_servers` in --secrets-file / `kafka_bootstrap_servers`
  in cdk.json. With an API key and secret (KAFKA_API_KEY / KAFKA_API_SECRET, or `api_key` / `api_secret` in the
  secrets file) it connects with SASL_SSL and PLAIN, as Confluent Cloud expects (KAFKA_SASL_MECHANISM for SCRAM);
  without, PLAINTEXT, as a local broker (`noida-db start --only kafka`) expects. Credentials are never read from
  anywhere else, and never printed.

Library API:

    from producers.kafka_producer import produce_kafka
    summary = produce_kafka(count=1000, family="mixed", seed=7, bootstrap_servers="127.0.0.1:9092",
                            create_topics=True)
    summary.sent, summary.failed, summary.records   # SentRecord.position = {"topic", "partition", "offset"}

Exit status: 0 all delivered, 1 some messages failed (see the failure file), 2 bad usage, 3 could not start
(broker unreachable, authentication, missing topics), 130 aborted by a second Ctrl-C.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as `python producers/kafka_producer.py`: make the repository importable even without `pip install -e`.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse  # noqa: E402
import base64  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Mapping  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import IO, Any, TextIO  # noqa: E402

from producers.generators import EventGenerator, GeneratedRecord  # noqa: E402
from producers.kinesis_writer import ProducerError  # noqa: E402
from producers.reporting import Progress, SentRecord, StopOnInterrupt, Summary, percentile_ms  # noqa: E402
from producers.test_producer import (  # noqa: E402
    CONTINUOUS_RATE,
    DEFAULT_COUNT,
    EXIT_ABORTED,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_SETUP,
    MAX_PACING_BACKLOG_S,
    add_generator_arguments,
)

SOURCE = "kafka_producer"
KAFKA_FAMILIES = ("student", "notification", "log", "mixed")
TOPICS: dict[str, str] = {
    "student": "estudiante-eventos",
    "notification": "notificaciones",
    "log": "sistema-logs",
}
# Mixed traffic on the Kafka side: no sensors (they write to Kinesis directly).
MIXED_WEIGHTS: dict[str, float] = {"student": 0.45, "notification": 0.15, "log": 0.40}
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
# Seconds a message may wait for delivery, retries included; then its delivery report says it failed.
DELIVERY_TIMEOUT_S = 30
CONNECT_TIMEOUT_S = 5.0

# Settings that make the producer safe and quick: idempotent with acks from all in-sync replicas, small batches.
PRODUCER_DEFAULTS: dict[str, Any] = {
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 20,
    "compression.type": "lz4",
    "message.timeout.ms": DELIVERY_TIMEOUT_S * 1000,
    "client.id": "streamlake-kafka-producer",
}

_ENV_KEYS = {
    "bootstrap_servers": "KAFKA_BOOTSTRAP_SERVERS",
    "api_key": "KAFKA_API_KEY",
    "api_secret": "KAFKA_API_SECRET",
    "sasl_mechanism": "KAFKA_SASL_MECHANISM",
    "security_protocol": "KAFKA_SECURITY_PROTOCOL",
    "ssl_ca_location": "KAFKA_SSL_CA_LOCATION",
}


def read_secrets_file(path: Path) -> dict[str, str]:
    """Connection settings from a JSON object or a KEY=VALUE (.env style) file.

    Keys: bootstrap_servers, api_key, api_secret, sasl_mechanism, security_protocol, ssl_ca_location, in lower case
    or as the KAFKA_* environment variable names.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProducerError(f"cannot read secrets file {path}: {exc.strerror}") from None
    raw: dict[str, Any]
    if text.lstrip().startswith("{"):
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ProducerError(f"secrets file {path} is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    else:
        raw = {}
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, sep, value = line.removeprefix("export ").partition("=")
            if not sep:
                raise ProducerError(f"secrets file {path}:{number}: expected KEY=VALUE")
            raw[key.strip()] = value.strip().strip("'\"")
    by_env = {env: name for name, env in _ENV_KEYS.items()}
    settings = {}
    for key, value in raw.items():
        name = by_env.get(key, key.lower())
        if name in _ENV_KEYS and value not in (None, ""):
            settings[name] = str(value)
    return settings


def connection_settings(
    bootstrap_servers: str | None = None,
    *,
    secrets_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    security_protocol: str | None = None,
    config_servers: tuple[str, ...] = (),
) -> dict[str, Any]:
    """librdkafka settings to connect: the flag, then the secrets file, then the environment, then cdk.json.

    An API key and secret mean Confluent Cloud: SASL_SSL with PLAIN (or KAFKA_SASL_MECHANISM). Without them,
    PLAINTEXT. `security_protocol` overrides the protocol (e.g. SASL_PLAINTEXT for a local broker with SASL).
    """
    environ = os.environ if environ is None else environ
    from_env = {name: environ[env] for name, env in _ENV_KEYS.items() if environ.get(env)}
    from_file = read_secrets_file(secrets_file) if secrets_file is not None else {}
    merged = {**from_env, **from_file}
    servers = bootstrap_servers or merged.get("bootstrap_servers") or ",".join(config_servers)
    if not servers:
        raise ProducerError(
            "no Kafka bootstrap servers: pass --bootstrap-servers HOST:PORT, set KAFKA_BOOTSTRAP_SERVERS, "
            "or put bootstrap_servers in --secrets-file"
        )
    settings: dict[str, Any] = {"bootstrap.servers": servers}
    key, secret = merged.get("api_key"), merged.get("api_secret")
    if bool(key) != bool(secret):
        raise ProducerError("Kafka API key and secret go together: set both KAFKA_API_KEY and KAFKA_API_SECRET")
    protocol = (security_protocol or merged.get("security_protocol") or ("SASL_SSL" if key else "PLAINTEXT")).upper()
    if protocol not in SECURITY_PROTOCOLS:
        raise ProducerError(f"unknown Kafka security protocol {protocol!r}; expected one of {SECURITY_PROTOCOLS}")
    settings["security.protocol"] = protocol
    if protocol.startswith("SASL_"):
        if not key:
            raise ProducerError(f"{protocol} needs credentials: set KAFKA_API_KEY and KAFKA_API_SECRET")
        mechanism = merged.get("sasl_mechanism", "PLAIN").upper()
        if mechanism not in SASL_MECHANISMS:
            raise ProducerError(f"unknown SASL mechanism {mechanism!r}; expected one of {', '.join(SASL_MECHANISMS)}")
        settings.update({"sasl.mechanism": mechanism, "sasl.username": key, "sasl.password": secret})
    if protocol.endswith("SSL") and merged.get("ssl_ca_location"):
        settings["ssl.ca.location"] = merged["ssl_ca_location"]
    return settings


def producer_config(connection: Mapping[str, Any], **overrides: Any) -> dict[str, Any]:
    """The full producer configuration: connection settings plus the idempotent, acks=all defaults."""
    return {**PRODUCER_DEFAULTS, **connection, **overrides}


def redacted(config: Mapping[str, Any]) -> dict[str, Any]:
    """A configuration that is safe to print."""
    return {k: ("****" if "password" in k or "secret" in k else v) for k, v in config.items()}


def topic_for(record: GeneratedRecord) -> str:
    """The topic a generated record belongs on."""
    return TOPICS[record.kind]


class _FailureLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._file: IO[str] | None = None

    def write(self, topic: str, record: GeneratedRecord, reason: str, code: str | None) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        line = {
            "failed_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "topic": topic,
            "key": record.key,
            "event_id": record.event_id,
            "reason": reason,
            "error_code": code,
            "data_base64": base64.b64encode(record.data).decode("ascii"),
            "data": record.data.decode("utf-8", errors="replace"),
        }
        self._file.write(json.dumps(line, ensure_ascii=False) + "\n")
        self._file.flush()  # the record of last resort must survive a crash right after
        self.count += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


_ADMIN_KEYS = (
    "bootstrap.servers",
    "security.protocol",
    "sasl.mechanism",
    "sasl.username",
    "sasl.password",
    "ssl.ca.location",
)


def _check_broker(
    producer: Any, connection: Mapping[str, Any], topics: set[str], create: bool, partitions: int
) -> None:
    """Fail fast, with one line, when the broker cannot be reached or a topic is missing."""
    from confluent_kafka import KafkaException

    servers = connection["bootstrap.servers"]
    try:
        metadata = producer.list_topics(timeout=CONNECT_TIMEOUT_S)
    except KafkaException as exc:
        error = exc.args[0]
        if "AUTH" in error.name() or "SASL" in error.str():
            raise ProducerError(
                f"Kafka at {servers} rejected the credentials: check KAFKA_API_KEY / KAFKA_API_SECRET"
            ) from None
        raise ProducerError(
            f"cannot reach Kafka at {servers}: is the broker running (`noida-db start --only kafka`)? "
            "check --bootstrap-servers / KAFKA_BOOTSTRAP_SERVERS"
        ) from None
    missing = sorted(topics - set(metadata.topics))
    if not missing:
        return
    if not create:
        raise ProducerError(
            f"topic(s) {', '.join(missing)} do not exist on {servers}: create them, or pass --create-topics"
        )
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({k: v for k, v in connection.items() if k in _ADMIN_KEYS})
    futures = admin.create_topics([NewTopic(t, num_partitions=partitions, replication_factor=1) for t in missing])
    for topic, future in futures.items():
        try:
            future.result(CONNECT_TIMEOUT_S * 2)
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise ProducerError(f"cannot create topic {topic} on {servers}: {exc.args[0].str()}") from None
    del admin  # only now: an AdminClient dropped before its futures resolve cancels them


def produce_kafka(
    count: int | None = None,
    family: str = "mixed",
    rate: float | None = None,
    bad_ratio: float = 0.0,
    seed: int | None = None,
    bootstrap_servers: str | None = None,
    *,
    continuous: bool = False,
    error_bursts: int = 0,
    secrets_file: Path | None = None,
    security_protocol: str | None = None,
    settings: Mapping[str, Any] | None = None,
    create_topics: bool = False,
    partitions: int = 3,
    failure_path: Path | None = None,
    keep_records: bool = True,
    stop: threading.Event | None = None,
    on_sent: Callable[[SentRecord], None] | None = None,
    progress: Progress | None = None,
    environ: Mapping[str, str] | None = None,
    verbose: bool = False,
) -> Summary:
    """Generate `count` records (default 100) of `family` and produce them to their Kafka topics; return the Summary.

    `continuous=True` runs until `stop` is set (or `count`, if given, is reached), at `rate` records/s (default 1).
    `settings` adds or overrides librdkafka settings; `verbose` shows librdkafka's own log. Raises ProducerError
    when it cannot start (see module docstring); delivery failures are counted in the summary and written to
    `failure_path`.
    """
    from confluent_kafka import KafkaError, KafkaException, Producer

    if family not in KAFKA_FAMILIES:
        raise ProducerError(f"unknown family {family!r} for Kafka; expected one of {', '.join(KAFKA_FAMILIES)}")
    if rate is not None and rate <= 0:
        raise ProducerError(f"--rate must be positive, got {rate:g}")
    if continuous and rate is None:
        rate = CONTINUOUS_RATE
    if not continuous and count is None:
        count = DEFAULT_COUNT
    config_servers: tuple[str, ...] = ()
    if bootstrap_servers is None:
        from streamlake.config import ConfigError, load_config

        try:
            config_servers = load_config().kafka.bootstrap_servers
        except ConfigError:
            config_servers = ()
    connection = connection_settings(
        bootstrap_servers,
        secrets_file=secrets_file,
        environ=environ,
        security_protocol=security_protocol,
        config_servers=config_servers,
    )
    servers = connection["bootstrap.servers"]
    fatal: list[str] = []

    def on_error(error: Any) -> None:
        # librdkafka reports connection trouble here and keeps retrying; only fatal errors end the run.
        if error.fatal():
            fatal.append(error.str())

    # librdkafka logs every failed connection attempt; the user gets one clear line from us instead, unless verbose.
    client_log = logging.getLogger("producers.kafka_producer.librdkafka")
    client_log.setLevel(logging.DEBUG if verbose else logging.CRITICAL)
    producer = Producer(producer_config(connection, error_cb=on_error, logger=client_log, **dict(settings or {})))
    weights = MIXED_WEIGHTS if family == "mixed" else None
    generator = EventGenerator(family, seed=seed, bad_ratio=bad_ratio, source=SOURCE, weights=weights)
    if error_bursts:
        generator.force_error_burst(10 * error_bursts)
    topics = {TOPICS[kind] for kind in (MIXED_WEIGHTS if family == "mixed" else {family: 1})}
    _check_broker(producer, connection, topics, create_topics, partitions)

    stop = stop or threading.Event()
    # librdkafka retries inside the client and does not report how often: no retry count in this summary.
    summary = Summary(target=f"kafka {servers}", retries=None)
    failures = _FailureLog(failure_path or Path(f"failed-messages-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.jsonl"))
    latencies: list[float] = []
    counts = {"sent": 0, "failed": 0}

    def delivered(record: GeneratedRecord, enqueued: float) -> Callable[[Any, Any], None]:
        def callback(error: Any, message: Any) -> None:
            if error is not None:
                counts["failed"] += 1
                code = error.name() if isinstance(error, KafkaError) else None
                failures.write(message.topic(), record, str(error.str()), code)
                return
            latency = time.monotonic() - enqueued
            counts["sent"] += 1
            latencies.append(latency)
            if record.malformed is not None:
                summary.malformed_sent += 1
            sent = SentRecord(
                event_id=record.event_id,
                key=record.key,
                data=record.data,
                kind=record.kind,
                family=record.family,
                malformed=record.malformed,
                position={"topic": message.topic(), "partition": message.partition(), "offset": message.offset()},
                latency=latency,
            )
            if keep_records:
                summary.records.append(sent)
            if on_sent is not None:
                on_sent(sent)

        return callback

    def show(force: bool = False) -> None:
        if progress is not None:
            progress.update(counts["sent"], counts["failed"], 0, len(producer), force=force)

    if progress is not None:
        speed = f"{rate:g} records/s" if rate else "as fast as the broker takes them"
        progress.message(f"producing to {', '.join(sorted(topics))} at {servers} ({speed}); Ctrl-C stops after a flush")
        progress.restart()
    interval = 1.0 / rate if rate else 0.0
    started = time.monotonic()
    next_at = started
    try:
        while (count is None or summary.generated < count) and not stop.is_set() and not fatal:
            if interval:
                delay = next_at - time.monotonic()
                # Serve delivery reports while waiting for the next record's turn.
                while delay > 0 and not stop.is_set():
                    producer.poll(min(delay, 0.1))
                    delay = next_at - time.monotonic()
                if stop.is_set():
                    break
                next_at = max(next_at + interval, time.monotonic() - MAX_PACING_BACKLOG_S)
            record = generator.next()
            topic = topic_for(record)
            summary.generated += 1
            while True:
                try:
                    producer.produce(
                        topic, key=record.key, value=record.data, on_delivery=delivered(record, time.monotonic())
                    )
                    break
                except BufferError:
                    # The local queue is full: wait for deliveries instead of spinning.
                    producer.poll(0.05)
                except KafkaException as exc:
                    # Refused before it was queued (e.g. larger than message.max.bytes): no delivery report follows.
                    counts["failed"] += 1
                    failures.write(topic, record, exc.args[0].str(), exc.args[0].name())
                    break
            producer.poll(0)
            show()
        summary.interrupted = stop.is_set()
        if summary.interrupted and progress is not None and len(producer):
            progress.message(f"stopping: delivering the {len(producer)} queued messages (Ctrl-C again to abort)")
        while len(producer) and not fatal:
            producer.flush(1.0)
            show()
    except KeyboardInterrupt:
        # Second Ctrl-C: messages not yet sent get a purge delivery report, which writes them to the failure file.
        producer.purge(in_queue=True, in_flight=False)
        producer.flush(5.0)
        summary.aborted = True
    except KafkaException as exc:
        # poll() and flush() raise a fatal error (e.g. an idempotent producer out of sequence with a broker that
        # lost its state) as well as reporting it: end the run the same way, with the reason in the summary.
        error = exc.args[0] if exc.args else None
        if not (isinstance(error, KafkaError) and error.fatal()):
            raise
        fatal.append(error.str())
    finally:
        if fatal:
            producer.purge(in_queue=True, in_flight=True)
            _serve_reports(producer, 5.0)
            summary.error = f"Kafka producer stopped: {fatal[0]}"
        failures.close()
        show(force=True)
        if progress is not None:
            progress.clear()
    summary.elapsed = time.monotonic() - started
    summary.sent, summary.failed = counts["sent"], counts["failed"]
    summary.p50_ms = percentile_ms(latencies, 0.50)
    summary.p99_ms = percentile_ms(latencies, 0.99)
    summary.failure_path = str(failures.path) if counts["failed"] else None
    return summary


def _serve_reports(producer: Any, timeout: float) -> None:
    """Serve the delivery reports still due (purged messages go to the failure file through them). A producer in a
    fatal state raises from every flush after serving what it could, so keep flushing until none is left."""
    from confluent_kafka import KafkaException

    deadline = time.monotonic() + timeout
    while len(producer) and time.monotonic() < deadline:
        try:
            producer.flush(0.2)
        except KafkaException:
            continue


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python producers/kafka_producer.py",
        description="Produce realistic student, notification and log events to the streamlake Kafka topics "
        "(estudiante-eventos, notificaciones, sistema-logs) with an idempotent producer.",
        epilog="Exit status: 0 all delivered, 1 some messages failed (see the failure file), 2 bad usage, "
        "3 could not start (broker, credentials, topics), 130 aborted by a second Ctrl-C.",
    )
    target = parser.add_argument_group("where to send")
    target.add_argument(
        "--bootstrap-servers",
        help="HOST:PORT[,HOST:PORT] (default: KAFKA_BOOTSTRAP_SERVERS, the secrets file, or kafka_bootstrap_servers "
        "in cdk.json)",
    )
    target.add_argument(
        "--secrets-file",
        type=Path,
        help="JSON or KEY=VALUE file with bootstrap_servers, api_key, api_secret (Confluent Cloud: SASL_SSL)",
    )
    target.add_argument(
        "--security-protocol", choices=SECURITY_PROTOCOLS, help="override the protocol chosen from the credentials"
    )
    target.add_argument("--create-topics", action="store_true", help="create missing topics (local brokers)")
    target.add_argument("--partitions", type=int, default=3, help="partitions of created topics (default 3)")
    add_generator_arguments(parser, KAFKA_FAMILIES, "mixed")
    delivery = parser.add_argument_group("delivery")
    delivery.add_argument(
        "--failures-file",
        type=Path,
        help="where undelivered messages go (default failed-messages-<time>.jsonl, only if any)",
    )
    delivery.add_argument(
        "--sent-file", type=Path, help="write every delivered message (id, key, topic, partition, offset) as JSON lines"
    )
    delivery.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    delivery.add_argument("-v", "--verbose", action="store_true", help="show the Kafka client's own log lines")
    args = parser.parse_args(argv)
    if args.error_burst and args.family not in {"log", "mixed"}:
        parser.error("--error-burst needs --family log or mixed")
    if args.partitions < 1:
        parser.error("--partitions must be at least 1")
    return args


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    """Run the CLI; returns the exit status."""
    out = out or sys.stdout
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    stop = threading.Event()
    progress = Progress(sys.stderr)
    sent_file = args.sent_file.open("w", encoding="utf-8") if args.sent_file else None
    try:
        with StopOnInterrupt(stop):
            summary = produce_kafka(
                count=args.count,
                family=args.family,
                rate=args.rate,
                bad_ratio=args.bad_ratio,
                seed=args.seed,
                bootstrap_servers=args.bootstrap_servers,
                continuous=args.continuous,
                error_bursts=args.error_burst,
                secrets_file=args.secrets_file,
                security_protocol=args.security_protocol,
                create_topics=args.create_topics,
                partitions=args.partitions,
                failure_path=args.failures_file,
                keep_records=False,
                stop=stop,
                on_sent=(lambda r: sent_file.write(r.to_json() + "\n")) if sent_file else None,
                progress=progress,
                verbose=args.verbose,
            )
    except ProducerError as exc:
        progress.clear()
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_SETUP
    except KeyboardInterrupt:
        progress.clear()
        print("aborted", file=sys.stderr)
        return EXIT_ABORTED
    finally:
        if sent_file is not None:
            sent_file.close()
    print(json.dumps(summary.to_dict()) if args.json else summary.format(), file=out, flush=True)
    if summary.aborted:
        return EXIT_ABORTED
    return EXIT_OK if summary.ok else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
