"""Property: whatever a batch holds, every record is processed, quarantined with a reason, or reported for retry —
none vanish — the response always has Lambda's partial-batch shape, and it reports exactly the records whose alert
SNS throttled.

Which records those are is worked out here from the outside: the fault injector records each PublishBatch entry it
throttled, and each entry names its sensor or student (message attributes); the test decodes the batch's payloads
itself and finds the records with those ids. Ids are made unique per record, so the match is exact. Powertools'
BatchProcessor reports each failed record (not a suffix); Lambda's checkpoint rule then redelivers everything from
the lowest reported sequence number on, which is why the alerts of records after it are de-duplicated on retry
(tests/lambdas/test_processor_faults.py).
"""

from __future__ import annotations

import base64
import itertools
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambdas import quarantine
from lambdas.processor.handler import get_effects, handler, metrics
from lambdas.processor.metric_names import FAMILY_RECORDS, INVALID_RECORDS
from tests.lambdas.faults import stop_throttling_sns, throttle_sns_entries
from tests.lambdas.kinesis_events import kinesis_event, sequence_numbers
from tests.lambdas.strategies import payloads

_batch_numbers = itertools.count()


def _metric_documents(output: str) -> list[dict]:
    return [json.loads(line) for line in output.split("\n") if '"_aws"' in line and INVALID_RECORDS in line]


def _unique_ids(payload: bytes, tag: str) -> bytes:
    """The payload with its sensor_id / student_id / service made unique to this record (other bytes unchanged)."""
    try:
        record = json.loads(payload)
    except ValueError:
        return payload
    if not isinstance(record, dict):
        return payload
    changed = False
    for name in ("sensor_id", "student_id", "service"):
        if isinstance(record.get(name), str):
            # The tag first: SNS attributes are sanitised (control characters dropped) and cut to a length limit,
            # and a leading tag survives both, so a throttled entry is matched to its record by the tag alone.
            record[name] = f"{tag}~{record[name]}"
            changed = True
    return json.dumps(record, ensure_ascii=False).encode("utf-8") if changed else payload


def _alert_target(payload: bytes) -> tuple[str, str] | None:
    """(attribute, value) an alert about this record would carry, read from the raw payload by the test itself."""
    try:
        record = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    for name in ("sensor_id", "student_id"):
        if isinstance(record.get(name), str):
            return name, record[name].split("~", 1)[0]
    return None


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
    number = next(_batch_numbers)
    first = number * 1000
    # Ids unique per distinct payload (a duplicated payload is the same record sent twice, so it keeps its twin's).
    tags = {payload: f"{number}-{i}" for i, payload in enumerate(dict.fromkeys(batch))}
    batch = [_unique_ids(payload, tags[payload]) for payload in batch]
    if throttle_every:
        throttled = throttle_sns_entries(get_effects().alerts.sns, lambda _entry: next(counter) % throttle_every == 0)
    else:
        stop_throttling_sns(get_effects().alerts.sns)
        throttled = []
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
    # AND the reported records are exactly those whose alert was throttled (each once)
    throttled_targets = {
        (name, entry["MessageAttributes"][name]["StringValue"].split("~", 1)[0])
        for entry in throttled
        for name in ("sensor_id", "student_id")
        if name in entry["MessageAttributes"]
    }
    assert all(entry["MessageAttributes"]["kind"]["StringValue"] != "error_burst" for entry in throttled)
    expected = [
        record["kinesis"]["sequenceNumber"]
        for record, payload in zip(event["Records"], batch, strict=True)
        if _alert_target(payload) in throttled_targets
    ]
    assert sorted(retried) == sorted(expected)
    assert len(set(retried)) == len(retried)
    # AND quarantine kept the original bytes
    by_seq = {r["kinesis"]["sequenceNumber"]: r for r in event["Records"]}
    for record in quarantined:
        assert record["data"] == base64.b64decode(by_seq[record["position"]["sequence_number"]]["kinesis"]["data"])
