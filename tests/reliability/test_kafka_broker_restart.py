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


def _log(broker: KafkaBroker, end: dict[tuple[str, int], int]) -> dict[tuple[str, int, int], bytes]:
    """Every message of the three topics up to `end`, by (topic, partition, offset): what the broker holds."""
    consumer = Consumer(
        {"bootstrap.servers": broker.bootstrap_servers, "group.id": "reliability-audit", "enable.auto.commit": False}
    )
    held: dict[tuple[str, int, int], bytes] = {}
    try:
        consumer.assign([TopicPartition(topic, partition, 0) for (topic, partition), n in end.items() if n > 0])
        deadline = time.monotonic() + 60
        while len(held) < sum(end.values()) and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=500, timeout=1.0):
                if message.error() is None:
                    held[(message.topic(), message.partition(), message.offset())] = message.value()
    finally:
        consumer.close()
    assert len(held) == sum(end.values()), f"read {len(held)} of the broker's {sum(end.values())} messages"
    return held


def _position(record) -> tuple[str, int, int]:
    return (record.position["topic"], record.position["partition"], record.position["offset"])


def _where_missing(missing: set[str], records: list) -> str:
    """The valid messages the broker still holds where it acknowledged them, but the lake does not."""
    found = [f"{r.event_id} at {_position(r)}" for r in records if r.event_id in missing]
    return f"{len(found)} message(s) in the broker's log but not in the lake: " + "; ".join(found[:10])


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
        acknowledged_before_stop = list(acked)  # the broker acknowledged each of these before its shutdown began
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
        held = _log(broker, end)
        quarantined = {
            (q["position"]["topic"], q["position"]["partition"], q["position"]["offset"])
            for q in stack.quarantined()
            if "topic" in q["position"]
        }

    # The local broker saves its log when it shuts down, and a write it acknowledges during that shutdown can be
    # missing after the restart (several in about one run in three here; the next writes then take their offsets).
    # A Kafka cluster with acks=all does not do that, and nothing downstream of the broker can bring back a message
    # the bridge had not read yet, so the pipeline is judged on what the broker kept: the records still held where
    # they were acknowledged, byte for byte.
    kept = [r for r in summary.records if held.get(_position(r)) == r.data]
    dropped = [r for r in summary.records if held.get(_position(r)) != r.data]
    # That judgement needs a bound on what the broker may drop, or a broker that lost most messages would pass:
    # everything acknowledged before the shutdown began is kept, and the writes lost during it are a few.
    lost_early = [r for r in acknowledged_before_stop if held.get(_position(r)) != r.data]
    assert not lost_early, f"the broker lost {len(lost_early)} messages acknowledged before it was stopped"
    assert len(acknowledged_before_stop) >= 400
    assert len(dropped) <= total // 20, f"the broker lost {len(dropped)} of {total} acknowledged messages"
    valid = [r for r in summary.records if r.valid]
    landed, copies = landed_once_per_event_id(lake_rows(tmp_path / "run"))
    # AND every valid message the broker kept is in the lake (once per event_id), every invalid one quarantined by
    # the bridge, and the lake holds nothing that was not sent
    kept_valid = {r.event_id for r in kept if r.valid}
    assert kept_valid <= landed, _where_missing(kept_valid - landed, valid)
    assert landed <= {r.event_id for r in valid}
    kept_invalid = {_position(r) for r in kept if not r.valid}
    assert kept_invalid <= quarantined  # a copy the producer wrote twice is quarantined at its own offset too
    # AND the stream's only extra records are copies (same event_id), which is what the lake's extra rows are
    never_read = {r.event_id for r in valid} - landed  # lost by the broker before the bridge read them
    assert on_stream - (len(valid) - len(never_read)) == copies
    tallies.append(
        Tally(
            "Kafka broker restarted mid-stream (producer -> broker -> bridge -> stream)",
            sent=summary.sent,
            landed=len(landed),
            quarantined=len(quarantined),
            duplicates_removed=copies,
            retried=bridge.stats.messages - total,
            lost=len(kept_valid - landed) + len(kept_invalid - quarantined),
            extra={"lost_by_broker": len(dropped), "never_read": len(never_read)},
            notes=(
                f"broker stopped after {acked_before_restart} acknowledged messages and restarted 1 s later; "
                f"the bridge re-consumed {bridge.stats.messages - total} messages whose offsets were not committed"
                + (
                    f"; the local broker lost {len(dropped)} acknowledged messages over its restart "
                    f"({len(never_read)} valid ones before the bridge read them, so not in the lake)"
                    if dropped
                    else ""
                )
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
