"""The two stream readers see the same records: in process (the view's default) and over the Kinesis API."""

from __future__ import annotations

from local.web.live import InProcessStreamReader, KinesisApiReader
from producers.test_producer import produce
from tests.web.conftest import live_stack


def test_in_process_and_api_readers_read_the_same_records(tmp_path):
    with live_stack(tmp_path) as live:
        stack = live.stack
        produce(
            stack.resources.stream_name,
            count=300,
            family="mixed",
            rate=None,
            bad_ratio=0.05,
            seed=2,
            endpoint_url=stack.endpoint.url,
            failure_path=tmp_path / "failures.jsonl",
        )
        in_process, api = InProcessStreamReader(stack, limit=120), KinesisApiReader(stack, limit=120)
        read_in_process = [r for _ in range(4) for r in in_process.read()]  # in pages, like the view
        read_api = [r for _ in range(4) for r in api.read()]
        assert in_process.read() == [] and api.read() == []  # nothing new: each keeps its own position
    assert len(read_in_process) == len(read_api) == 300
    for mine, theirs in zip(read_in_process, read_api, strict=True):
        assert (mine.shard_id, mine.sequence_number) == (theirs.shard_id, theirs.sequence_number)
        assert mine.data == theirs.data
        assert abs(mine.arrival - theirs.arrival) < 0.001
    assert in_process.shard_ids == api.shard_ids
