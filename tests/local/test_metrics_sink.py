"""MetricsSink holds data for up to `flush_seconds` and sends it in one call per namespace."""

from __future__ import annotations

import time

from local.metrics import MetricsSink, metric_datum


class _CloudWatch:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []

    def put_metric_data(self, Namespace, MetricData):  # noqa: N803 - boto3's names
        self.calls.append((Namespace, [d["MetricName"] for d in MetricData]))


def test_without_flush_seconds_every_put_is_sent_at_once():
    client = _CloudWatch()
    sink = MetricsSink(client)
    sink.put("A", "one", 1, {})
    sink.put("A", "two", 2, {})
    assert client.calls == [("A", ["one"]), ("A", ["two"])]


def test_held_data_goes_out_together_once_the_oldest_is_old_enough_or_on_flush():
    client = _CloudWatch()
    sink = MetricsSink(client, flush_seconds=0.2)
    sink.put("A", "one", 1, {})
    sink.put_data([("B", metric_datum("two", 2, {})), ("A", metric_datum("three", 3, {}))])
    assert client.calls == []  # held
    time.sleep(0.25)
    sink.put("A", "four", 4, {})
    assert client.calls == [("A", ["one", "three", "four"]), ("B", ["two"])]
    sink.put("A", "five", 5, {})
    sink.flush()
    assert client.calls[-1] == ("A", ["five"])
    sink.flush()
    assert len(client.calls) == 3  # nothing held, nothing sent


def test_a_thousand_held_data_are_sent_without_waiting():
    client = _CloudWatch()
    sink = MetricsSink(client, flush_seconds=3600)
    sink.put_data([("A", metric_datum(f"m{n}", n, {})) for n in range(999)])
    assert client.calls == []
    sink.put("A", "last", 1, {})
    assert len(client.calls) == 1 and len(client.calls[0][1]) == 1000
