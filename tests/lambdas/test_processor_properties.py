"""Property: whatever a batch holds, every record is processed, quarantined with a reason, or reported for retry —
none vanish — and the response always has Lambda's partial-batch shape."""

from __future__ import annotations

import base64
import itertools
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambdas import quarantine
from lambdas.processor.handler import get_effects, handler, metrics
from lambdas.processor.metric_names import FAMILY_RECORDS, INVALID_RECORDS
from tests.lambdas.faults import throttle_sns_entries
from tests.lambdas.kinesis_events import kinesis_event, sequence_numbers
from tests.lambdas.strategies import payloads

_batch_numbers = itertools.count()


def _metric_documents(output: str) -> list[dict]:
    return [json.loads(line) for line in output.split("\n") if '"_aws"' in line and INVALID_RECORDS in line]


batches = st.lists(payloads, min_size=1, max_size=25).flatmap(
    # Duplicates: Kinesis may deliver the same payload twice (producer retries).
    lambda items: st.lists(st.sampled_from(items), max_size=5).map(lambda dups: items + dups)
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(batch=batches, throttle_every=st.sampled_from([0, 2, 3]))
def test_every_record_is_processed_quarantined_or_retried(aws, context, capsys, batch, throttle_every):
    # GIVEN a batch of anything, with SNS throttling some alerts (every n-th entry) in some examples
    metrics.clear_metrics()
    capsys.readouterr()
    counter = itertools.count()
    if throttle_every:
        throttle_sns_entries(get_effects().alerts.sns, lambda _entry: next(counter) % throttle_every == 0)
    first = next(_batch_numbers) * 1000
    event = kinesis_event(batch, first_index=first)
    before = {json.dumps(r["position"], sort_keys=True) for r in quarantine.read_objects(aws.quarantine_bodies())}

    # WHEN
    response = handler(event, context)

    # THEN the response has the partial-batch shape and names only records of the batch
    assert set(response) == {"batchItemFailures"}
    retried = [f["itemIdentifier"] for f in response["batchItemFailures"]]
    assert set(retried) <= set(sequence_numbers(event))
    # AND each record is in exactly one place
    quarantined = [
        r
        for r in quarantine.read_objects(aws.quarantine_bodies())
        if json.dumps(r["position"], sort_keys=True) not in before
    ]
    quarantined_seqs = {r["position"]["sequence_number"] for r in quarantined}
    assert all(r["reason"] for r in quarantined)
    assert not quarantined_seqs & set(retried)
    [doc] = _metric_documents(capsys.readouterr().out)
    processed = sum(doc.get(name, [0])[0] for name in FAMILY_RECORDS.values())
    assert doc[INVALID_RECORDS][0] == len(quarantined_seqs)
    assert processed + len(quarantined_seqs) + len(retried) == len(batch)
    # AND quarantine kept the original bytes
    by_seq = {r["kinesis"]["sequenceNumber"]: r for r in event["Records"]}
    for record in quarantined:
        assert record["data"] == base64.b64decode(by_seq[record["position"]["sequence_number"]]["kinesis"]["data"])
