"""The Kafka producer against a real local broker (noida-db), and its Confluent Cloud settings."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from lambdas.schemas import parse
from local.kafka_broker import KafkaBroker
from local.moto_server import free_port
from producers.generators import GeneratedRecord
from producers.kafka_producer import (
    PRODUCER_DEFAULTS,
    TOPICS,
    connection_settings,
    produce_kafka,
    producer_config,
    read_secrets_file,
    redacted,
)
from producers.kinesis_writer import ProducerError
from tests.producers.conftest import subprocess_env

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "producers" / "kafka_producer.py"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    with KafkaBroker(tmp_path_factory.mktemp("kafka")) as running:
        running.create_topics(TOPICS.values(), partitions=3)
        yield running


def consume_all(broker: KafkaBroker, topics: list[str]) -> list[Any]:
    """Every message of `topics`, read from the start up to the high watermarks at call time."""
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": f"test-{time.monotonic_ns()}",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
        }
    )
    try:
        targets = []
        for topic in topics:
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            for partition in partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
                if high > low:
                    targets.append((topic, partition, low, high))
        consumer.assign([TopicPartition(t, p, low) for t, p, low, _ in targets])
        expected = sum(high - low for _, _, low, high in targets)
        messages: list[Any] = []
        deadline = time.monotonic() + 20
        while len(messages) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                messages.append(message)
        return messages
    finally:
        consumer.close()


def test_mixed_records_land_on_their_topics_keyed_by_entity_with_every_delivery_counted(broker, tmp_path):
    # GIVEN topics that already hold messages from earlier tests
    before = Counter(m.topic() for m in consume_all(broker, list(TOPICS.values())))

    # WHEN 3,000 mixed records (some malformed) are produced
    summary = produce_kafka(
        count=3_000,
        family="mixed",
        bad_ratio=0.05,
        seed=4,
        bootstrap_servers=broker.bootstrap_servers,
        failure_path=tmp_path / "failed.jsonl",
    )

    # THEN every delivery report was counted and the summary has latencies
    assert summary.ok and summary.sent == 3_000 and summary.failed == 0
    assert summary.p50_ms is not None and summary.p99_ms >= summary.p50_ms
    assert summary.malformed_sent > 0
    # and each topic gained exactly the records meant for it, with their keys and bytes
    messages = consume_all(broker, list(TOPICS.values()))
    after = Counter(m.topic() for m in messages)
    expected = Counter(r.position["topic"] for r in summary.records)
    assert {topic: after[topic] - before[topic] for topic in TOPICS.values()} == dict(expected)
    by_position = {(m.topic(), m.partition(), m.offset()): m for m in messages}
    for record in summary.records:
        message = by_position[(record.position["topic"], record.position["partition"], record.position["offset"])]
        assert message.key().decode() == record.key and message.value() == record.data
        assert record.position["topic"] == TOPICS[record.kind]
    # notifications are student events with a channel; student ones have none
    for record in summary.records:
        if record.valid and record.kind != "log":
            event = parse(record.data)
            assert event.family == "student"
            assert (event.fields["channel"] is not None) == (record.kind == "notification")
    # keys spread over partitions, and one key always lands on one partition
    partitions: dict[tuple[str, str], set[int]] = {}
    for record in summary.records:
        partitions.setdefault((record.position["topic"], record.key), set()).add(record.position["partition"])
    assert all(len(p) == 1 for p in partitions.values())
    assert len({p for ps in partitions.values() for p in ps}) == 3


def test_messages_of_one_key_keep_their_order(broker, tmp_path):
    summary = produce_kafka(count=500, family="log", seed=9, bootstrap_servers=broker.bootstrap_servers)
    by_key: dict[str, list[int]] = {}
    for record in summary.records:
        by_key.setdefault(record.key, []).append(record.position["offset"])
    assert all(offsets == sorted(offsets) for offsets in by_key.values())


def test_producer_is_idempotent_with_acks_from_all_replicas():
    config = producer_config({"bootstrap.servers": "broker:9092", "security.protocol": "PLAINTEXT"})
    assert config["enable.idempotence"] is True and config["acks"] == "all"
    assert PRODUCER_DEFAULTS["message.timeout.ms"] > 0


def test_messages_the_broker_never_acknowledges_are_counted_failed_and_written_to_the_file(tmp_path):
    # GIVEN a producer writing continuously to a broker that goes away
    stop = threading.Event()
    result: dict[str, Any] = {}
    acked = threading.Event()
    with KafkaBroker(tmp_path / "short-lived") as short_lived:
        short_lived.create_topics(["estudiante-eventos", "notificaciones"])
        worker = threading.Thread(
            target=lambda: result.update(
                summary=produce_kafka(
                    family="student",
                    rate=200,
                    continuous=True,
                    bootstrap_servers=short_lived.bootstrap_servers,
                    failure_path=tmp_path / "failed.jsonl",
                    settings={"message.timeout.ms": 1500},
                    stop=stop,
                    on_sent=lambda _record: acked.set(),
                )
            )
        )
        worker.start()
        # the broker goes away once it has acknowledged something (how long that takes depends on the machine)
        assert acked.wait(30), "the broker acknowledged nothing"
        time.sleep(0.2)
    # WHEN the broker is gone for a while, then the producer is stopped
    time.sleep(0.5)
    stop.set()
    worker.join(30)
    summary = result["summary"]

    # THEN every record is either acknowledged or in the failure file with the reason
    assert summary.sent > 0 and summary.failed > 0 and not summary.ok
    assert summary.sent + summary.failed == summary.generated
    lines = [json.loads(line) for line in (tmp_path / "failed.jsonl").read_text().splitlines()]
    assert len(lines) == summary.failed
    assert all(line["reason"] and line["topic"] in {"estudiante-eventos", "notificaciones"} for line in lines)


def test_a_message_refused_before_queueing_is_counted_failed(broker, tmp_path, monkeypatch):
    # GIVEN every third record larger than the producer's message.max.bytes
    import producers.kafka_producer as kafka_producer

    class Oversized(kafka_producer.EventGenerator):
        def next(self) -> GeneratedRecord:
            record = super().next()
            self.made = getattr(self, "made", 0) + 1
            if self.made % 3:
                return record
            return dataclasses.replace(record, data=record.data + b" " * 2_000)

    monkeypatch.setattr(kafka_producer, "EventGenerator", Oversized)

    summary = produce_kafka(
        count=30,
        family="log",
        seed=2,
        bootstrap_servers=broker.bootstrap_servers,
        failure_path=tmp_path / "failed.jsonl",
        settings={"message.max.bytes": 1000},
    )

    # THEN those are failed, with the reason, and the others delivered
    assert summary.sent == 20 and summary.failed == 10
    lines = [json.loads(line) for line in (tmp_path / "failed.jsonl").read_text().splitlines()]
    assert len(lines) == 10 and {line["error_code"] for line in lines} == {"MSG_SIZE_TOO_LARGE"}


def test_sasl_ssl_settings_for_confluent_cloud_come_from_the_environment():
    environ = {
        "KAFKA_BOOTSTRAP_SERVERS": "pkc-abc.eu-west-1.aws.confluent.cloud:9092",
        "KAFKA_API_KEY": "KEY123",
        "KAFKA_API_SECRET": "s3cr3t",
    }
    settings = connection_settings(environ=environ)
    assert settings == {
        "bootstrap.servers": "pkc-abc.eu-west-1.aws.confluent.cloud:9092",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "KEY123",
        "sasl.password": "s3cr3t",
    }
    assert "s3cr3t" not in json.dumps(redacted(producer_config(settings)))
    scram = connection_settings(environ={**environ, "KAFKA_SASL_MECHANISM": "scram-sha-512"})
    assert scram["sasl.mechanism"] == "SCRAM-SHA-512"


def test_a_secrets_file_overrides_the_environment_and_the_flag_overrides_both(tmp_path):
    as_json = tmp_path / "kafka.json"
    as_json.write_text(json.dumps({"bootstrap_servers": "file:9092", "api_key": "K", "api_secret": "S"}))
    as_env = tmp_path / "kafka.env"
    as_env.write_text(
        "# Confluent Cloud\nexport KAFKA_BOOTSTRAP_SERVERS=envfile:9092\nKAFKA_API_KEY='K2'\nKAFKA_API_SECRET=S2\n"
    )

    assert read_secrets_file(as_env) == {"bootstrap_servers": "envfile:9092", "api_key": "K2", "api_secret": "S2"}
    settings = connection_settings(secrets_file=as_json, environ={"KAFKA_BOOTSTRAP_SERVERS": "env:9092"})
    assert settings["bootstrap.servers"] == "file:9092" and settings["sasl.username"] == "K"
    assert connection_settings("flag:9092", secrets_file=as_json, environ={})["bootstrap.servers"] == "flag:9092"


def test_without_credentials_a_local_broker_gets_plaintext_and_bad_settings_are_one_clear_error():
    assert connection_settings("127.0.0.1:9092", environ={}) == {
        "bootstrap.servers": "127.0.0.1:9092",
        "security.protocol": "PLAINTEXT",
    }
    with pytest.raises(ProducerError, match="no Kafka bootstrap servers"):
        connection_settings(environ={})
    with pytest.raises(ProducerError, match="go together"):
        connection_settings("b:9092", environ={"KAFKA_API_KEY": "only-the-key"})
    with pytest.raises(ProducerError, match="needs credentials"):
        connection_settings("b:9092", environ={}, security_protocol="SASL_SSL")


def test_sasl_plaintext_with_any_credentials_works_against_the_local_broker(broker):
    summary = produce_kafka(
        count=10,
        family="notification",
        bootstrap_servers=broker.bootstrap_servers,
        security_protocol="SASL_PLAINTEXT",
        environ={"KAFKA_API_KEY": "local", "KAFKA_API_SECRET": "anything"},
    )
    assert summary.sent == 10 and {r.position["topic"] for r in summary.records} == {"notificaciones"}


def test_an_unreachable_broker_is_one_line_from_the_cli():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--bootstrap-servers", f"127.0.0.1:{free_port()}"],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=60,
    )
    assert result.returncode == 3
    assert (
        result.stderr.strip().splitlines() == [result.stderr.strip().splitlines()[0]]
        and "cannot reach Kafka" in result.stderr
    )
    assert "Traceback" not in result.stderr and "%3|" not in result.stderr


def test_missing_topics_are_reported_or_created(tmp_path):
    with KafkaBroker(tmp_path / "fresh") as fresh:
        with pytest.raises(ProducerError, match="sistema-logs do not exist.*--create-topics"):
            produce_kafka(count=1, family="log", bootstrap_servers=fresh.bootstrap_servers)
        summary = produce_kafka(count=5, family="log", bootstrap_servers=fresh.bootstrap_servers, create_topics=True)
        assert summary.sent == 5


def test_cli_counts_deliveries_and_flushes_on_ctrl_c(broker, tmp_path):
    sent_file = tmp_path / "sent.jsonl"
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--bootstrap-servers", broker.bootstrap_servers, "--continuous"]
        + ["--rate", "100", "--family", "student", "--sent-file", str(sent_file), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
        cwd=ROOT,
    )
    try:
        assert process.stderr is not None
        assert "producing to" in process.stderr.readline()
        time.sleep(1.0)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    summary = json.loads(stdout)
    assert summary["interrupted"] and summary["failed"] == 0 and summary["sent"] > 0
    lines = [json.loads(line) for line in sent_file.read_text().splitlines()]
    assert len(lines) == summary["sent"] == summary["generated"]
    assert {line["topic"] for line in lines} <= {"estudiante-eventos", "notificaciones"}


def test_topic_routing_uses_the_record_kind():
    from producers.kafka_producer import topic_for

    record = GeneratedRecord(b"{}", "student-0001", "notification", "student", None)
    assert topic_for(record) == "notificaciones"
