"""S3 failing under the Firehose deliverer: the buffer is kept and delivered again, nothing is skipped.

(Firehose killed mid-write is in test_restarts.py; the processor's own S3 writes in test_processor_side_effects.py.)
"""

from __future__ import annotations

import time

import pytest

from producers.test_producer import produce
from tests.reliability.faults import FailingCalls
from tests.reliability.harness import local_stack
from tests.reliability.ledger import account

pytestmark = pytest.mark.slow


def test_s3_refusing_firehose_writes_keeps_the_buffer_and_delivers_it_later(tmp_path, tallies):
    with local_stack("firehose-s3", tmp_path) as stack:
        # GIVEN S3 refuses the deliverer's 2nd to 4th PutObject: a buffer fails after its raw backup was written, and
        # the next attempt fails too
        s3 = FailingCalls(stack.clients["s3"], "s3.PutObject", "InternalError", lambda call: 2 <= call <= 4)
        # WHEN 1,500 records arrive
        summary = produce(
            stack.resources.stream_name,
            count=1500,
            family="mixed",
            bad_ratio=0.02,
            seed=71,
            rate=1000,
            endpoint_url=stack.endpoint.url,
            failure_path=tmp_path / "failures.jsonl",
        )
        # (the background deliverer meets the refusals; wait_until_delivered's own flush would raise them instead)
        deadline = time.monotonic() + 60
        while s3.failed < 3:
            assert time.monotonic() < deadline and not stack.errors, "the deliverer did not retry"
            time.sleep(0.05)
        stack.wait_until_processed(timeout=120)
        stack.wait_until_delivered(timeout=120)
        # THEN the deliverer kept going: the failed buffers were written on a later attempt
        assert stack.errors == [] and s3.failed == 3
        assert stack.firehose.stats.delivery_errors >= 1
        tally = account(stack, summary.records, "S3 PutObject failing under Firehose (transient)")
        assert tally.lost == 0
        # A buffer is written whole again, so objects written before a failure are written twice: copies, same ids
        raw_objects = len(stack.lake_objects("raw/"))
    tally.retried = stack.firehose.stats.delivery_errors
    tally.notes = (
        f"{s3.failed} PutObject calls refused; {stack.firehose.stats.delivery_errors} delivery attempts failed and "
        f"were repeated one buffer interval later; a buffer is rewritten whole, so what an attempt wrote before it "
        f"failed is written again ({raw_objects} raw/ objects; table rows written twice are removed by event_id)"
    )
    tallies.append(tally)
