"""The standalone bridge against a real local Kafka broker (noida-db) and moto's Kinesis, S3 and CloudWatch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from lambdas.bridge.mapping import Route
from lambdas.bridge.wire import encode_avro
from local.kafka_broker import KafkaBroker
from local.moto_server import FAKE_CREDENTIALS, REGION, free_port, running_moto
from producers.kafka_bridge import (
    LAG_METRIC,
    AwsClients,
    BridgeError,
    BridgeSettings,
    BridgeThread,
    load_secrets_file,
    parse_args,
)
from tests.bridge.conftest import KinesisThrottle, read_quarantine, read_stream

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PARTITIONS = 3
# Short enough that a restarted bridge takes over the partitions of a SIGKILLed one quickly.
SESSION_TIMEOUT_MS = 6000


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with KafkaBroker(tmp_path_factory.mktemp("kafka")) as running:
        yield running


@pytest.fixture(scope="module")
def moto() -> Any:
    with running_moto(set_environment=False) as endpoint:
        yield endpoint


class Setup:
    """One test's own topics (routed like the three streamlake topics), group, stream and bucket."""

    def __init__(self, broker: KafkaBroker, endpoint: str) -> None:
        run = uuid.uuid4().hex[:8]
        self.broker = broker
        self.endpoint = endpoint
        self.topics = {
            f"estudiante-eventos-{run}": Route("student"),
            f"sistema-logs-{run}": Route("log"),
            f"notificaciones-{run}": Route("student", "email"),
        }
        self.student, self.logs, self.notifications = list(self.topics)
        self.group = f"bridge-{run}"
        self.stream = f"events-{run}"
        self.bucket = f"lake-{run}"
        broker.create_topics(self.topics, partitions=PARTITIONS)
        self.kinesis = self.client("kinesis")
        self.s3 = self.client("s3")
        self.cloudwatch = self.client("cloudwatch")
        self.kinesis.create_stream(StreamName=self.stream, ShardCount=2)
        self.s3.create_bucket(Bucket=self.bucket)

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def settings(self, **overrides: Any) -> BridgeSettings:
        values: dict[str, Any] = {
            "bootstrap_servers": self.broker.bootstrap_servers,
            "stream_name": self.stream,
            "lake_bucket": self.bucket,
            "topics": tuple(self.topics),
            "group": self.group,
            "endpoint_url": self.endpoint,
            "region": REGION,
            "session_timeout_ms": SESSION_TIMEOUT_MS,
            "lag_interval": 0.5,
            "routes": self.topics,
        }
        return BridgeSettings(**{**values, **overrides})

    def produce(self, messages: list[tuple[str, bytes | None, bytes]]) -> None:
        producer = Producer({"bootstrap.servers": self.broker.bootstrap_servers, "linger.ms": 5})
        for index, (topic, key, value) in enumerate(messages):
            producer.produce(topic, value=value, key=key)
            if index % 1000 == 0:
                producer.poll(0)
        assert producer.flush(30) == 0

    def committed(self) -> dict[tuple[str, int], int]:
        """The group's committed offsets, read as another client (without joining the group)."""
        consumer = Consumer({"bootstrap.servers": self.broker.bootstrap_servers, "group.id": self.group})
        try:
            partitions = [TopicPartition(t, p) for t in self.topics for p in range(PARTITIONS)]
            return {(tp.topic, tp.partition): max(tp.offset, 0) for tp in consumer.committed(partitions, timeout=10)}
        finally:
            consumer.close()

    def lag_metric(self) -> dict[str, float]:
        """Latest KafkaConsumerLag per topic, as CloudWatch has it."""
        latest: dict[str, float] = {}
        for topic in self.topics:
            stats = self.cloudwatch.get_metric_statistics(
                Namespace="Streamlake",
                MetricName=LAG_METRIC,
                Dimensions=[{"Name": "ConsumerGroup", "Value": self.group}, {"Name": "Topic", "Value": topic}],
                StartTime=time.time() - 600,
                EndTime=time.time() + 60,
                Period=1,
                Statistics=["Minimum"],
            )["Datapoints"]
            if stats:
                latest[topic] = min(stats, key=lambda d: -d["Timestamp"].timestamp())["Minimum"]
        return latest

    def environment(self) -> dict[str, str]:
        return {**os.environ, **FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": REGION, "PYTHONUNBUFFERED": "1"}

    def command(self, *extra: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "producers.kafka_bridge",
            "--bootstrap-servers",
            self.broker.bootstrap_servers,
            "--topics",
            ",".join(self.topics),
            "--group",
            self.group,
            "--stream",
            self.stream,
            "--lake-bucket",
            self.bucket,
            "--endpoint-url",
            self.endpoint,
            "--topic-families",
            json.dumps({t: {"family": r.family, "default_channel": r.default_channel} for t, r in self.topics.items()}),
            "--session-timeout-ms",
            str(SESSION_TIMEOUT_MS),
            # A restarted bridge takes the partitions of the killed one back at once (static membership).
            "--instance-id",
            f"{self.group}-1",
            *extra,
        ]


@pytest.fixture
def setup(broker: KafkaBroker, moto: Any, monkeypatch: pytest.MonkeyPatch) -> Setup:
    # The bridge on a thread builds its clients from the environment, as it does from a shell.
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    return Setup(broker, moto.url)


def student(i: int) -> bytes:
    return json.dumps({"timestamp": "2026-11-20T10:00:00Z", "student_id": f"s-{i}", "event_type": "login"}).encode()


def log_line(i: int) -> bytes:
    return json.dumps(
        {"timestamp": "2026-11-20T10:00:00Z", "level": "INFO", "service": "api", "message": f"{i}"}
    ).encode()


def notification(i: int) -> bytes:
    return json.dumps({"student_id": f"s-{i}", "event_type": "course_enrolled", "course_id": "MAT101"}).encode()


def mixed_messages(setup: Setup, count: int) -> list[tuple[str, bytes | None, bytes]]:
    makers = [(setup.student, student), (setup.logs, log_line), (setup.notifications, notification)]
    return [(makers[i % 3][0], f"k-{i % 11}".encode(), makers[i % 3][1](i)) for i in range(count)]


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)


def _stream_settled(setup: Setup) -> bool:
    """Whether the stream holds as many records now as 0.2 s ago (no request still being written)."""
    before = len(read_stream(setup.kinesis, setup.stream))
    time.sleep(0.2)
    return len(read_stream(setup.kinesis, setup.stream)) == before


def test_bridge_thread_writes_quarantines_commits_and_reports_zero_lag(setup, tmp_path):
    # GIVEN plain JSON, Avro wire format and two poison messages across the three topics, and SASL credentials
    # from a secrets file (the local broker accepts SASL_PLAINTEXT/PLAIN with any credentials)
    messages = mixed_messages(setup, 300)
    avro_record = {"student_id": "s-avro", "event_type": "login", "channel": "sms", "timestamp": "2026-11-20T10:00:00Z"}
    messages += [
        (setup.notifications, b"s-avro", encode_avro(avro_record, 3)),
        (setup.student, None, b"\x00\x00\x00\x00\x2a not a known schema"),
        (setup.logs, None, b"<html>oops</html>"),
    ]
    setup.produce(messages)
    secrets = tmp_path / "kafka-secret.json"
    secrets.write_text(json.dumps({"username": "bridge", "password": "s3cret"}))
    username, password = load_secrets_file(secrets)
    settings = setup.settings(security_protocol="SASL_PLAINTEXT", sasl_username=username, sasl_password=password)

    # WHEN the bridge runs on a thread until everything is committed
    bridge = BridgeThread(settings).start()
    wait_for(lambda: bridge.stats.messages >= len(messages) or not bridge.alive, 30, "all messages bridged")
    assert bridge.error is None
    wait_for(lambda: sum(bridge.stats.lag.values()) == 0 and len(bridge.stats.lag) == 3, 10, "lag 0")
    bridge.stop()

    # THEN every good message is on the stream once, the poison ones are quarantined, offsets are all committed
    assert bridge.error is None
    records = read_stream(setup.kinesis, setup.stream)
    assert len(records) == 301 and len({r["event_id"] for r in records}) == 301
    assert Counter(r["family"] for r in records) == {"student": 201, "log": 100}
    (avro_event,) = [r for r in records if r.get("student_id") == "s-avro"]
    assert avro_event["channel"] == "sms" and avro_event["source"].startswith(f"kafka:{setup.notifications}/")
    assert {r["channel"] for r in records if r["source"].startswith(f"kafka:{setup.notifications}/")} == {
        "email",
        "sms",
    }
    quarantined = read_quarantine(setup.s3, setup.bucket)
    assert sorted(q["data"] for q in quarantined) == [b"\x00\x00\x00\x00\x2a not a known schema", b"<html>oops</html>"]
    assert sum(setup.committed().values()) == len(messages)
    assert setup.lag_metric() == dict.fromkeys(setup.topics, 0.0)


def test_sigkill_mid_stream_then_restart_delivers_every_message_with_duplicates_only_from_the_uncommitted_tail(setup):
    # GIVEN 10,000 messages across the three topics
    total = 10_000
    setup.produce(mixed_messages(setup, total))

    # WHEN the bridge is SIGKILLed mid-stream...
    first = subprocess.Popen(
        setup.command("--batch-size", "100", "--verbose"),
        cwd=ROOT,
        env=setup.environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for line in first.stderr:
            if "committed" in line and int(line.split("total ")[1].split(",")[0]) >= 2000:
                break
        # A few ms later the next batch is usually on its way to Kinesis but not committed: the tail to redeliver.
        time.sleep(0.005)
        first.send_signal(signal.SIGKILL)
    finally:
        first.kill()
        first.wait(10)
        first.stderr.close()
    # Let moto finish a PutRecords the bridge sent just before it died: wait until the stream stops growing.
    wait_for(lambda: _stream_settled(setup), 30, "the stream to settle after the kill")
    committed_at_kill = setup.committed()
    on_stream_at_kill = read_stream(setup.kinesis, setup.stream)
    assert sum(committed_at_kill.values()) < total, "the bridge finished before it was killed"

    # ...and started again, then stopped with SIGTERM once it caught up
    second = subprocess.Popen(
        setup.command("--lag-interval", "0.5"),
        cwd=ROOT,
        env=setup.environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: sum(setup.committed().values()) == total, 60, "the restarted bridge to commit everything")
        second.send_signal(signal.SIGTERM)
        _, errors = second.communicate(timeout=30)
    finally:
        second.kill()
    assert second.returncode == 0, errors

    # THEN every message is on the stream, each with one event_id
    records = read_stream(setup.kinesis, setup.stream)
    sources = Counter(r["source"] for r in records)
    assert len(sources) == total
    assert len({r["event_id"] for r in records}) == total

    # AND the only copies are the messages written but not committed when the bridge was killed
    def offset_of(record: dict) -> tuple[tuple[str, int], int]:
        topic, partition, offset = record["source"].removeprefix("kafka:").rsplit("/", 2)
        return (topic, int(partition)), int(offset)

    uncommitted_tail = sum(1 for r in on_stream_at_kill if offset_of(r)[1] >= committed_at_kill[offset_of(r)[0]])
    assert len(records) - total == uncommitted_tail
    # AND the lag is back to 0
    assert setup.lag_metric() == dict.fromkeys(setup.topics, 0.0)
    assert "stopped: " in errors


def test_unreachable_broker_is_a_one_line_error(setup):
    port = free_port()
    command = setup.command("--connect-timeout", "2")
    command[command.index("--bootstrap-servers") + 1] = f"127.0.0.1:{port}"
    result = subprocess.run(command, cwd=ROOT, env=setup.environment(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"kafka_bridge: error: cannot reach Kafka at 127.0.0.1:{port}")


def test_missing_stream_is_a_one_line_error(setup):
    command = setup.command()
    command[command.index("--stream") + 1] = "no-such-stream"
    result = subprocess.run(command, cwd=ROOT, env=setup.environment(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"kafka_bridge: error: Kinesis stream no-such-stream not found at {setup.endpoint}"
    ]


def test_restarted_bridge_resumes_from_the_committed_offsets(setup):
    # GIVEN a bridge that bridged a first lot and was stopped cleanly
    setup.produce(mixed_messages(setup, 60))
    bridge = BridgeThread(setup.settings()).start()
    wait_for(lambda: bridge.stats.messages >= 60, 30, "the first lot")
    bridge.stop()

    # WHEN more messages arrive and a new bridge starts in the same group
    setup.produce(mixed_messages(setup, 90)[60:])
    again = BridgeThread(setup.settings()).start()
    wait_for(lambda: again.stats.messages >= 30 or not again.alive, 30, "the second lot")
    # Stop once the group committed the end of every partition: a redelivered message would have come before that.
    wait_for(lambda: sum(setup.committed().values()) >= 90 or not again.alive, 30, "the group to commit all 90")
    again.stop()

    # THEN it bridged only the new messages: nothing twice, nothing missed
    assert again.stats.messages == 30
    records = read_stream(setup.kinesis, setup.stream)
    assert len(records) == len({r["source"] for r in records}) == 90


def test_batch_kinesis_keeps_refusing_is_not_committed_until_it_is_written(setup):
    # GIVEN Kinesis refuses every entry of the first two PutRecords calls (one whole attempt at the batch)
    setup.produce(mixed_messages(setup, 30))
    clients = AwsClients(kinesis=setup.client("kinesis"), s3=setup.s3, cloudwatch=setup.cloudwatch)
    throttle = KinesisThrottle(clients.kinesis, lambda call, index, entry: call <= 2)
    committed_while_refused: list[int] = []

    # WHEN the bridge runs (batch size 30: all messages in one batch)
    bridge = BridgeThread(setup.settings(batch_size=30, kinesis_max_attempts=2), clients=clients).start()
    wait_for(lambda: bridge.stats.failed_attempts == 1 or not bridge.alive, 30, "the refused attempt")
    committed_while_refused.append(sum(setup.committed().values()))
    wait_for(lambda: bridge.stats.messages == 30 or not bridge.alive, 30, "the batch to be written")
    bridge.stop()

    # THEN nothing was committed while Kinesis refused the batch, and afterwards each message is there once
    assert bridge.error is None
    assert committed_while_refused == [0]
    assert throttle.calls[:3] == [30, 30, 30]
    assert sum(setup.committed().values()) == 30
    records = read_stream(setup.kinesis, setup.stream)
    assert len(records) == len({r["source"] for r in records}) == 30


# --------------------------------------------------------------------------------------------------------------------
# Settings and credentials
# --------------------------------------------------------------------------------------------------------------------


def test_credentials_come_from_the_environment_and_never_show_in_settings():
    env = {"STREAM_NAME": "s", "LAKE_BUCKET": "b", "KAFKA_SASL_USERNAME": "key", "KAFKA_SASL_PASSWORD": "hunter2"}
    settings = parse_args(["--bootstrap-servers", "pkc-1.confluent.cloud:9092", "--sasl-mechanism", "PLAIN"], env)
    assert settings.security_protocol == "SASL_SSL"  # credentials given: TLS by default
    config = settings.consumer_config()
    assert (config["sasl.username"], config["sasl.password"], config["sasl.mechanisms"]) == ("key", "hunter2", "PLAIN")
    assert config["enable.auto.commit"] is False and config["enable.auto.offset.store"] is False
    assert "hunter2" not in repr(settings)


def test_secrets_file_overrides_the_environment_and_must_be_complete(tmp_path):
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"username": "svc", "password": "pw"}))
    settings = parse_args(["--secrets-file", str(secret), "--stream", "s", "--lake-bucket", "b"], {})
    assert (settings.sasl_username, settings.sasl_password) == ("svc", "pw")
    secret.write_text(json.dumps({"username": "svc"}))
    with pytest.raises(BridgeError, match='needs "username" and "password"'):
        parse_args(["--secrets-file", str(secret), "--stream", "s", "--lake-bucket", "b"], {})


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["--lake-bucket", "b"], "no Kinesis stream: give --stream or set STREAM_NAME"),
        (["--stream", "s"], "no lake bucket"),
        (["--stream", "s", "--lake-bucket", "b", "--security-protocol", "SASL_SSL"], "SASL_SSL needs credentials"),
        (["--stream", "s", "--lake-bucket", "b", "--topic-families", "{"], "KAFKA_TOPIC_FAMILIES is not JSON"),
    ],
)
def test_bad_settings_are_refused_with_the_reason(argv, problem):
    with pytest.raises(BridgeError, match=problem):
        parse_args(argv, {})


def test_stop_event_stops_an_idle_bridge_promptly(setup):
    stop = threading.Event()
    bridge = BridgeThread(setup.settings()).start()
    wait_for(lambda: bridge.alive, 5, "start")
    # Idle in its poll loop: it measured the (zero) lag of the partitions it was assigned.
    wait_for(lambda: bridge.stats.lag or not bridge.alive, 30, "the bridge to be assigned its partitions")
    started = time.monotonic()
    bridge.stop()
    del stop
    assert not bridge.alive and time.monotonic() - started < 5
    assert bridge.error is None
