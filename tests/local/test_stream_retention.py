"""Local Kinesis retention (local.moto_server.KinesisRetention): records older than the retention leave the shard's
memory at the next put, sequence numbers and the iterators of consumers still reading stay valid."""

from __future__ import annotations

import boto3
import pytest

from local.moto_server import ACCOUNT_ID, REGION, KinesisRetention, running_moto


@pytest.fixture
def stream():
    with running_moto() as endpoint:
        client = boto3.client("kinesis", endpoint_url=endpoint.url, region_name=REGION)
        client.create_stream(StreamName="retained", ShardCount=1)
        saved = KinesisRetention.seconds
        KinesisRetention.seconds = 60.0
        try:
            yield client
        finally:
            KinesisRetention.seconds = saved


def _shard():
    from moto.kinesis.models import kinesis_backends

    return next(iter(kinesis_backends[ACCOUNT_ID][REGION].streams["retained"].shards.values()))


def _put(client, *payloads: str) -> list[str]:
    answer = client.put_records(
        StreamName="retained", Records=[{"Data": p.encode(), "PartitionKey": "k"} for p in payloads]
    )
    return [r["SequenceNumber"] for r in answer["Records"]]


def _age(first: int, last: int, seconds: float) -> None:
    """Make records `first`..`last` look `seconds` older (moto stamps created_at on arrival)."""
    records = _shard().records
    for sequence in range(first, last + 1):
        records[sequence].created_at -= seconds


def _iterator(client, kind: str, after: str | None = None) -> str:
    extra = {"StartingSequenceNumber": after} if after else {}
    return client.get_shard_iterator(
        StreamName="retained", ShardId="shardId-000000000000", ShardIteratorType=kind, **extra
    )["ShardIterator"]


def _read(client, iterator: str) -> list[str]:
    return [r["Data"].decode() for r in client.get_records(ShardIterator=iterator, Limit=100)["Records"]]


def test_records_older_than_the_retention_are_trimmed_at_the_next_put_and_numbering_continues(stream):
    # GIVEN ten records, the first six of which arrived 61 s ago (the retention is 60 s)
    assert _put(stream, *[f"r{n}" for n in range(1, 11)]) == [str(n) for n in range(1, 11)]
    _age(1, 6, 61)
    # WHEN another record is put
    assert _put(stream, "r11") == ["11"]
    # THEN the six are gone from memory, the rest kept, and sequence numbers continue
    assert list(_shard().records) == [7, 8, 9, 10, 11]
    assert _read(stream, _iterator(stream, "TRIM_HORIZON")) == ["r7", "r8", "r9", "r10", "r11"]


def test_iterators_of_consumers_still_reading_stay_valid(stream):
    # GIVEN a consumer that has read up to r2 (slow) and one that has read up to r8 (keeping up)
    _put(stream, *[f"r{n}" for n in range(1, 11)])
    slow = _iterator(stream, "AFTER_SEQUENCE_NUMBER", "2")
    fast = _iterator(stream, "AFTER_SEQUENCE_NUMBER", "8")
    # WHEN records 1..6 expire and are trimmed
    _age(1, 6, 61)
    _put(stream, "r11")
    # THEN the slow consumer reads on from the oldest record kept (what Kinesis gives an iterator into expired data)
    answer = stream.get_records(ShardIterator=slow, Limit=3)
    assert [r["Data"].decode() for r in answer["Records"]] == ["r7", "r8", "r9"]
    assert _read(stream, answer["NextShardIterator"]) == ["r10", "r11"]
    # AND the consumer that kept up is not affected
    assert _read(stream, fast) == ["r9", "r10", "r11"]


def test_the_newest_record_is_kept_even_when_expired_so_numbering_survives_an_idle_stream(stream):
    _put(stream, "a", "b")
    _age(1, 2, 3600)
    assert _put(stream, "c") == ["3"]
    assert list(_shard().records) == [3]
    _age(3, 3, 3600)
    assert _put(stream, "d", "e") == ["4", "5"]
    assert list(_shard().records) == [4, 5]


def test_without_a_retention_every_record_is_kept(stream):
    KinesisRetention.seconds = None
    _put(stream, "a", "b", "c")
    _age(1, 3, 10 * 86400)
    _put(stream, "d")
    assert list(_shard().records) == [1, 2, 3, 4]


def test_local_mode_keeps_ten_minutes_by_default_or_what_it_is_told(tmp_path):
    from local.stack import LocalOptions
    from streamlake.config import load_config

    config = load_config()  # stream_retention_hours 24
    assert LocalOptions(tmp_path).retention_seconds(config) == 600.0
    assert LocalOptions(tmp_path, stream_retention_seconds=90).retention_seconds(config) == 90
