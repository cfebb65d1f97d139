"""Edges of the processor pinned with literal values: the clock-skew bound on timestamps, and what the batch counts
and reports while S3 refuses the quarantine object."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from lambdas.processor.handler import get_effects, handler
from lambdas.processor.metric_names import INVALID_RECORDS, RECORDS_RETRIED
from lambdas.schemas import InvalidEventError, parse
from tests.lambdas.faults import fail_operation
from tests.lambdas.kinesis_events import kinesis_event, sequence_numbers

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def sensor_at(timestamp: str) -> dict:
    return {"sensor_id": "s1", "temperature": 21.5, "humidity": 40, "timestamp": timestamp, "location": "Lab"}


@pytest.mark.parametrize(
    "timestamp",
    [
        "2026-03-01T12:00:00Z",  # now
        "2026-03-02T11:59:59.999Z",  # a millisecond inside one day ahead
        "2026-03-02T12:00:00Z",  # exactly one day ahead: still accepted
        "2026-03-02T13:00:00+01:00",  # the same instant in another offset
        "2020-01-01T00:00:00Z",  # the past is not bounded by the skew rule
    ],
)
def test_timestamps_up_to_one_day_ahead_are_accepted(timestamp):
    assert parse(sensor_at(timestamp), now=NOW).timestamp <= NOW + timedelta(days=1)


@pytest.mark.parametrize(
    "timestamp",
    [
        "2026-03-02T12:00:00.001Z",  # a millisecond past one day
        "2026-03-03T12:00:00Z",  # two days
        "2026-03-07T12:00:00Z",  # six days: a seven-day bound would let this through
        "2027-03-01T12:00:00Z",
    ],
)
def test_timestamps_more_than_one_day_ahead_are_refused_naming_the_rule(timestamp):
    with pytest.raises(InvalidEventError) as raised:
        parse(sensor_at(timestamp), now=NOW)
    assert raised.value.field == "timestamp"
    assert raised.value.reason == f"timestamp {timestamp!r} is more than a day in the future"


def _metrics(output: str) -> dict[str, float]:
    """The invocation's EMF document, each metric as one number (EMF may write a value or a list of values)."""
    (document,) = [json.loads(line) for line in output.splitlines() if '"_aws"' in line and INVALID_RECORDS in line]
    return {
        k: float(v[0] if isinstance(v, list) else v) for k, v in document.items() if isinstance(v, int | float | list)
    }


def test_while_s3_fails_invalid_records_are_retried_and_not_counted_as_quarantined(aws, context, capsys):
    # GIVEN S3 refuses every PutObject, and a batch of 2 valid and 3 invalid records
    heal = fail_operation(get_effects().quarantine.s3, "s3.PutObject")
    good = sensor_at("2026-03-01T12:00:00Z")
    event = kinesis_event([good, b"not json", b'{"family": "weather"}', {**good, "sensor_id": "s2"}, b"[]"])
    seqs = sequence_numbers(event)
    capsys.readouterr()

    # WHEN
    response = handler(event, context)

    # THEN exactly the invalid ones come back, and none counts as quarantined: nothing reached quarantine/ yet
    assert response == {"batchItemFailures": [{"itemIdentifier": seqs[i]} for i in (1, 2, 4)]}
    document = _metrics(capsys.readouterr().out)
    assert (document[INVALID_RECORDS], document[RECORDS_RETRIED]) == (0.0, 3.0)
    assert aws.quarantine_bodies() == []

    # WHEN S3 recovers and Lambda retries from the first reported record
    heal()
    retry = {"Records": event["Records"][1:]}
    assert handler(retry, context) == {"batchItemFailures": []}
    # THEN the three are counted once, now that they are in quarantine/
    document = _metrics(capsys.readouterr().out)
    assert (document[INVALID_RECORDS], document[RECORDS_RETRIED]) == (3.0, 0.0)


def _stamped(offset: timedelta) -> dict:
    moment = datetime.now(UTC) + offset
    return sensor_at(moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"))


def test_end_to_end_lag_is_the_oldest_valid_records_age(aws, context, capsys):
    # GIVEN records stamped 10 and 2 minutes ago, and an invalid one (which has no lag)
    event = kinesis_event([_stamped(timedelta(minutes=-2)), _stamped(timedelta(minutes=-10)), b"{}"])
    capsys.readouterr()
    handler(event, context)
    lag = _metrics(capsys.readouterr().out)["EndToEndLag"]
    # THEN the lag is the older one's: 10 minutes, plus however long the handler took (well under a minute)
    assert 600_000 <= lag < 660_000


def test_end_to_end_lag_of_records_from_a_clock_running_ahead_is_zero_not_negative(aws, context, capsys):
    event = kinesis_event([_stamped(timedelta(hours=1))])
    capsys.readouterr()
    handler(event, context)
    assert _metrics(capsys.readouterr().out)["EndToEndLag"] == 0.0
