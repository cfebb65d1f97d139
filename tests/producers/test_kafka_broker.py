"""local/kafka_broker.py: a real broker that starts ready, keeps its data across restarts and stops cleanly."""

from __future__ import annotations

import socket

import pytest
from confluent_kafka.admin import AdminClient

from local.kafka_broker import KafkaBroker

pytestmark = pytest.mark.slow


def _topics(broker: KafkaBroker) -> set[str]:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    return set(admin.list_topics(timeout=10).topics)


def test_broker_is_ready_on_start_keeps_topics_across_restarts_and_frees_its_port(tmp_path):
    data_dir = tmp_path / "kafka"
    with KafkaBroker(data_dir) as broker:
        # ready means metadata answers, not merely an open port
        assert broker.running and broker.bootstrap_servers == f"127.0.0.1:{broker.port}"
        broker.create_topics(["kept"], partitions=2)
        broker.create_topics(["kept"], partitions=2)  # existing topics are left alone
        port = broker.port
    assert not broker.running
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "port released"
    broker.stop()  # stopping twice is harmless

    with KafkaBroker(data_dir, port) as again:
        assert "kept" in _topics(again)
