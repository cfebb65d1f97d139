"""`make demo ARGS=--cdc`: change data capture on this machine, narrated.

1. starts the local stack and a local Kafka broker, with the standalone bridge reading the Debezium topic
   `pgserver1.public.clientes` into the stream;
2. the CDC producer (producers/cdc_producer.py) acts as a Debezium PostgreSQL connector on a `clientes` table:
   a snapshot, then inserts, updates, deletes and a primary-key change, in Avro (Confluent wire format);
3. once the changes are in the lake, shows the change log (cdc_change_log) and the table as it is now
   (cdc_current_clientes), and checks it against the producer's own copy of the table (clientes-expected.csv);
4. deletes one row, and shows the change log and the current state again: the row is gone;
5. stops cleanly and leaves everything in the run directory.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local.demo import DEMO_BUFFER_SECONDS, _say, _step
from local.stack import LocalOptions, LocalStack
from streamlake.config import load_config

CHANGES = 40
INITIAL_ROWS = 8


def run_cdc_demo(args: argparse.Namespace) -> int:
    """Run the CDC demo; 0 when the current state read from the lake equals the producer's table, before and after
    the delete."""
    from local.__main__ import _overrides
    from local.kafka_broker import KafkaBroker
    from producers.cdc_producer import TOPIC, ClientesConnector
    from producers.kafka_bridge import BridgeSettings, BridgeThread

    config = load_config(_overrides(args.context))
    run_dir = Path(args.run_dir) / datetime.now(UTC).strftime("demo-cdc-%Y%m%d-%H%M%S")
    buffer_seconds = args.buffer_seconds if args.buffer_seconds is not None else DEMO_BUFFER_SECONDS
    _say("streamlake CDC demo: Debezium changes of a clientes table -> Kafka -> bridge -> stream -> lake -> SQL")
    _say(f"run directory: {run_dir}")

    _step(1, "starting the local stack, a Kafka broker and the bridge on the change topic")
    stack = LocalStack(config, LocalOptions(run_dir, buffer_seconds, args.port, alarm_interval_seconds=2.0))
    broker = KafkaBroker(run_dir / "kafka", log_path=run_dir / "logs" / "kafka-broker.log")
    bridge: Any = None
    producer: _Sender | None = None
    status = 1
    try:
        stack.start()
        broker.start()
        broker.create_topics([TOPIC], partitions=3)
        bridge = BridgeThread(
            BridgeSettings(
                bootstrap_servers=broker.bootstrap_servers,
                stream_name=stack.resources.stream_name,
                lake_bucket=stack.resources.lake_bucket,
                endpoint_url=stack.endpoint.url,
                region=stack.clients["kinesis"].meta.region_name,
                topics=(),
                cdc_topics=(TOPIC,),
                group="local-cdc-demo",
                session_timeout_ms=6000,
                lag_interval=5,
            )
        ).start()
        _say(f"    Kafka {broker.bootstrap_servers}, topic {TOPIC}; stream {stack.resources.stream_name}")

        _step(2, f"the connector: snapshot of {INITIAL_ROWS} rows, then {CHANGES} live changes (Avro)")
        connector = ClientesConnector(seed=args.seed, format="avro")
        producer = _Sender(broker.bootstrap_servers, TOPIC)
        connector.seed_rows(INITIAL_ROWS)
        producer.send(connector.snapshot())
        for _ in range(CHANGES):
            producer.send(connector.step())
        if not any(m.op == "d" for m in producer.sent):
            producer.send(connector.delete(min(connector.rows)))
        producer.flush()
        _say(f"    {producer.describe()}")
        status = _show_and_check(stack, bridge, producer, connector, run_dir, "before")

        row_id = min(connector.rows)
        _step(4, f"DELETE FROM clientes WHERE id = {row_id}: Debezium writes a delete and a tombstone")
        producer.send(connector.delete(row_id))
        producer.flush()
        status = max(status, _show_and_check(stack, bridge, producer, connector, run_dir, "after", row_id))
    except KeyboardInterrupt:
        _say("\ninterrupted: stopping")
        status = 130
    finally:
        _say()
        _say("stopping ...")
        if producer is not None:
            producer.close()
        if bridge is not None:
            bridge.stop()
        broker.stop()
        stack.stop()
        _say(f"stopped cleanly. Everything from this run is in {run_dir}/")
    return status


class _Sender:
    """confluent-kafka producer of the connector's messages, keeping what it sent."""

    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        from confluent_kafka import Producer

        self.topic = topic
        self.sent: list[Any] = []
        self.failed = 0
        self._producer = Producer({"bootstrap.servers": bootstrap_servers, "enable.idempotence": True, "acks": "all"})

    def send(self, messages: list[Any]) -> None:
        def delivered(error: Any, _message: Any) -> None:
            self.failed += error is not None

        for message in messages:
            self._producer.produce(self.topic, key=message.key, value=message.value, on_delivery=delivered)
            self.sent.append(message)
        self._producer.poll(0)

    def flush(self) -> None:
        self._producer.flush(30)

    def close(self) -> None:
        """Flush and drop the client before the broker stops (librdkafka would log every reconnect attempt)."""
        self._producer.flush(5)
        self._producer = None

    def describe(self) -> str:
        ops: dict[str, int] = {}
        for message in self.sent:
            ops[message.op or "tombstone"] = ops.get(message.op or "tombstone", 0) + 1
        return f"sent {len(self.sent)} messages to Kafka ({', '.join(f'{k} {v}' for k, v in sorted(ops.items()))})"


def _show_and_check(
    stack: LocalStack, bridge: Any, producer: _Sender, connector: Any, run_dir: Path, when: str, deleted: int = 0
) -> int:
    from athena_queries.runner import format_csv, run_local
    from local.demo import _query_table

    deadline = time.monotonic() + 60
    while bridge.stats.messages < len(producer.sent) and time.monotonic() < deadline and bridge.error is None:
        time.sleep(0.2)
    stack.wait_until_delivered()
    s = bridge.stats
    _say(f"    bridge: {s.messages} consumed, {s.written} changes to the stream, {s.quarantined} quarantined")
    _step(3 if when == "before" else 5, f"the lake {when} the delete")
    _say(_query_table_with("cdc_change_log", stack.lake_dir, {"limit": "8"}))
    _say(_query_table("cdc_current_clientes", stack.lake_dir))
    expected = connector.final_csv()
    (run_dir / f"clientes-expected-{when}.csv").write_text(expected, encoding="utf-8")
    actual = format_csv(run_local("cdc_current_clientes", {}, stack.lake_dir))
    (run_dir / f"clientes-lake-{when}.csv").write_text(actual, encoding="utf-8")
    if actual == expected:
        gone = f"; row {deleted} is gone" if deleted else ""
        _say(f"    current state = the producer's table ({len(connector.rows)} rows){gone}: clientes-lake-{when}.csv")
        return 0
    _say(f"    MISMATCH: compare {run_dir}/clientes-lake-{when}.csv with clientes-expected-{when}.csv")
    return 1


def _query_table_with(name: str, lake_dir: Path, params: dict[str, str]) -> str:
    from athena_queries.runner import format_table, run_local

    result = run_local(name, params, lake_dir)
    return f"    {name} ({len(result.rows)} rows, {result.bytes_scanned:,} bytes scanned)\n" + "\n".join(
        "    " + line for line in format_table(result).splitlines()
    )
