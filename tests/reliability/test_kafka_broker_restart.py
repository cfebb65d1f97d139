"""The Kafka broker restarted mid-stream, with the standalone bridge and the Kafka producer running through it.

tests/bridge/ already kills and restarts the bridge; here the broker goes away instead (stopped, its data kept) and
comes back on the same address. The producer's librdkafka client holds and retries what it has not had acknowledged,
the bridge's consumer reconnects and resumes from its committed offsets; a batch whose commit failed while the broker
was down is delivered again, and those copies carry the same event_ids.

The local broker (noida-db) does not keep an idempotent producer's sequence state across a restart, as Kafka does:
in about one run in five the idempotent producer then stops with a fatal OUT_OF_ORDER_SEQUENCE_NUMBER. The restart
scenario therefore runs the producer without idempotence (its retries may write copies, removed by event_id like
the bridge's), and a second test pins down what a fatal producer error does: the run ends with the reason in the
summary and every message not acknowledged in the failure file.
"""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from local.kafka_broker import KafkaBroker
from local.moto_server import REGION
from producers.kafka_bridge import BridgeSettings, BridgeThread
from producers.kafka_producer import produce_kafka
from streamlake.config import DEFAULT_KAFKA_TOPICS
from tests.reliability.harness import local_stack
from tests.reliability.ledger import Tally, lake_rows, landed_once_per_event_id

pytestmark = pytest.mark.slow


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _high_watermarks(broker: KafkaBroker) -> dict[tuple[str, int], int]:
    """Next offset of every partition of the three topics, read as a client outside the bridge's group."""
    consumer = Consumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": "reliability-audit"})
    try:
        metadata = consumer.list_topics(timeout=10)
        return {
            (topic, partition): consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)[1]
            for topic in DEFAULT_KAFKA_TOPICS
            for partition in metadata.topics[topic].partitions
        }
    finally:
        consumer.close()


def test_broker_restarted_mid_stream_the_bridge_keeps_going_and_nothing_is_lost(tmp_path, tallies):
    total = 1500
    with local_stack("kafka-restart", tmp_path / "run") as stack, KafkaBroker(tmp_path / "kafka") as broker:
        # GIVEN the bridge consuming the three topics into the stream, and the Kafka producer sending to them
        bridge = BridgeThread(
            BridgeSettings(
                bootstrap_servers=broker.bootstrap_servers,
                stream_name=stack.resources.stream_name,
                lake_bucket=stack.resources.lake_bucket,
                endpoint_url=stack.endpoint.url,
                region=REGION,
                group="reliability-bridge",
                instance_id="reliability-bridge-1",
                session_timeout_ms=6000,
                lag_interval=1,
            )
        ).start()
        acked: list = []
        result: dict = {}
        producer = threading.Thread(
            target=lambda: result.setdefault(
                "summary",
                produce_kafka(
                    count=total,
                    family="mixed",
                    rate=300,
                    bad_ratio=0.03,
                    seed=51,
                    bootstrap_servers=broker.bootstrap_servers,
                    create_topics=True,
                    settings={"enable.idempotence": False},
                    failure_path=tmp_path / "kafka-failures.jsonl",
                    on_sent=acked.append,
                ),
            ),
            daemon=True,
        )
        producer.start()
        _wait(lambda: len(acked) >= 400 and bridge.stats.messages > 0, 60, "the first messages through the bridge")
        # WHEN the broker stops mid-stream and comes back on the same port with its data
        broker.stop()
        acked_before_restart = len(acked)
        time.sleep(1.0)
        broker.start()
        producer.join(120)
        summary = result["summary"]
        # THEN the producer had every message acknowledged, and the bridge consumed all of them and is still running
        assert summary.ok and summary.sent == total
        end = _high_watermarks(broker)
        _wait(
            lambda: all(bridge.stats.committed.get(tp, 0) >= n for tp, n in end.items()) or bridge.error is not None,
            120,
            "the bridge to commit everything",
        )
        assert bridge.error is None and bridge.alive
        bridge.stop()
        stack.wait_until_processed(timeout=120)
        stack.wait_until_delivered(timeout=120)
        assert stack.errors == []
        on_stream = stack.stream_record_count()
        quarantined = {
            (q["position"]["topic"], q["position"]["partition"], q["position"]["offset"])
            for q in stack.quarantined()
            if "topic" in q["position"]
        }

    # AND every valid message is in the lake (once per event_id), every invalid one quarantined by the bridge
    valid = [r for r in summary.records if r.valid]
    invalid = {(r.position["topic"], r.position["partition"], r.position["offset"]) for r in summary.records}
    invalid -= {(r.position["topic"], r.position["partition"], r.position["offset"]) for r in valid}
    landed, copies = landed_once_per_event_id(lake_rows(tmp_path / "run"))
    assert landed == {r.event_id for r in valid}
    assert invalid <= quarantined  # a copy the producer wrote twice is quarantined at its own offset too
    # AND the stream's only extra records are copies (same event_id), which is what the lake's extra rows are
    assert on_stream - len(valid) == copies
    tallies.append(
        Tally(
            "Kafka broker restarted mid-stream (producer -> broker -> bridge -> stream)",
            sent=summary.sent,
            landed=len(landed),
            quarantined=len(quarantined),
            duplicates_removed=copies,
            retried=bridge.stats.messages - total,
            lost=len({r.event_id for r in valid} - landed) + len(invalid - quarantined),
            extra={"quarantine_copies": len(quarantined - invalid)},
            notes=(
                f"broker stopped after {acked_before_restart} acknowledged messages and restarted 1 s later; "
                f"the bridge re-consumed {bridge.stats.messages - total} messages whose offsets were not committed"
            ),
        )
    )


def test_a_fatal_producer_error_ends_the_run_with_the_reason_and_every_unacknowledged_message_in_the_failure_file(
    tmp_path, monkeypatch
):
    import confluent_kafka

    acknowledged: list = []

    def raise_once_fatal() -> None:
        if len(acknowledged) >= 200:
            raise KafkaException(KafkaError(KafkaError._FATAL, "injected: out of order sequence number", fatal=True))

    class FatalAfterAcks(Producer):
        """A real producer that, once 200 messages were acknowledged, raises a fatal error from poll() and flush()
        after serving the delivery reports, as confluent-kafka does once the broker put it in a fatal state."""

        def poll(self, timeout: float = -1) -> int:
            served = super().poll(timeout)
            raise_once_fatal()
            return served

        def flush(self, timeout: float = -1) -> int:
            left = super().flush(timeout)
            raise_once_fatal()
            return left

    monkeypatch.setattr(confluent_kafka, "Producer", FatalAfterAcks)
    with KafkaBroker(tmp_path / "kafka") as broker:
        # WHEN the producer turns fatal after 200 of 1,000 messages were acknowledged
        summary = produce_kafka(
            count=1000,
            family="mixed",
            rate=2000,
            seed=52,
            bootstrap_servers=broker.bootstrap_servers,
            create_topics=True,
            failure_path=tmp_path / "failures.jsonl",
            on_sent=acknowledged.append,
        )
    # THEN the run returns a summary naming the error instead of raising
    assert summary.error and "out of order sequence number" in summary.error and not summary.ok
    # AND every message generated was either acknowledged or written to the failure file
    failures = (tmp_path / "failures.jsonl").read_text().splitlines() if summary.failed else []
    assert summary.sent == len(acknowledged) >= 200
    assert summary.failed == len(failures)
    assert summary.sent + summary.failed == summary.generated < 1000
