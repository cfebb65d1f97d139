"""Kafka -> bridge -> Kinesis -> processor -> lake and mailbox, all local: what `make demo --kafka` shows."""

from __future__ import annotations

import json
import mailbox
import time

import pytest
from confluent_kafka import Producer

from lambdas.bridge.mapping import KafkaMessage, kafka_event_id
from local.kafka_broker import KafkaBroker
from local.moto_server import REGION
from local.stack import LocalOptions, LocalStack
from producers.kafka_bridge import BridgeSettings, BridgeThread
from streamlake.config import DEFAULT_KAFKA_TOPICS, load_config

pytestmark = pytest.mark.slow


def bridge_for(stack: LocalStack, broker: KafkaBroker, group: str) -> BridgeThread:
    return BridgeThread(
        BridgeSettings(
            bootstrap_servers=broker.bootstrap_servers,
            stream_name=stack.resources.stream_name,
            lake_bucket=stack.resources.lake_bucket,
            endpoint_url=stack.endpoint.url,
            region=REGION,
            group=group,
            instance_id=f"{group}-local",
            session_timeout_ms=6000,
            lag_interval=1,
        )
    ).start()


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_kafka_messages_reach_the_lake_and_a_notification_is_mailed_once_even_when_replayed(tmp_path):
    config = load_config()
    now = "2026-11-24T10:00:00Z"
    with (
        LocalStack(config, LocalOptions(run_dir=tmp_path / "run", buffer_seconds=1)) as stack,
        KafkaBroker(tmp_path / "kafka") as broker,
    ):
        # GIVEN one message per topic, and a poison one, on the local broker
        broker.create_topics(DEFAULT_KAFKA_TOPICS)
        producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
        for topic, value in [
            ("estudiante-eventos", {"timestamp": now, "student_id": "s-1", "event_type": "login"}),
            ("sistema-logs", {"timestamp": now, "level": "ERROR", "service": "api", "message": "boom"}),
            ("notificaciones", {"student_id": "s-2", "event_type": "course_enrolled", "course_id": "MAT101"}),
        ]:
            producer.produce(topic, json.dumps(value).encode())
        producer.produce("notificaciones", b"garbage")
        assert producer.flush(10) == 0

        # WHEN the bridge runs next to the local stack
        bridge = bridge_for(stack, broker, "demo-bridge")
        wait_for(lambda: bridge.stats.messages == 4 or not bridge.alive, 30, "the bridge")
        bridge.stop()
        assert bridge.error is None
        stack.wait_until_processed()
        stack.wait_for_mail()
        stack.wait_until_delivered()

        # THEN the events are in the lake, the poison message in quarantine, and the notification was mailed
        objects = stack.lake_objects()
        assert any(key.startswith("processed/family=student/") for key in objects)
        assert any(key.startswith("processed/family=log/") for key in objects)
        (rejected,) = [q for q in stack.quarantined() if q["position"].get("topic") == "notificaciones"]
        assert (rejected["data"], rejected["position"]["offset"]) == (b"garbage", 1)
        notification_id = kafka_event_id(KafkaMessage("notificaciones", 0, 0, None, None, None))
        mails = [m for m in mailbox.mbox(stack.mailbox_path) if notification_id in m.get_payload(decode=True).decode()]
        assert len(mails) == 1

        # WHEN a second consumer group replays the topics from the start (the same Kafka messages again)
        replay = bridge_for(stack, broker, "replay-bridge")
        wait_for(lambda: replay.stats.messages == 4 or not replay.alive, 30, "the replay")
        replay.stop()
        stack.wait_until_processed()
        stack.wait_for_mail()

        # THEN the stream holds the copies, but they carry the same event_ids and no second e-mail is sent
        assert stack.stream_record_count() == 6
        mails = [m for m in mailbox.mbox(stack.mailbox_path) if notification_id in m.get_payload(decode=True).decode()]
        assert len(mails) == 1
