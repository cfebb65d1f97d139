"""Properties of the event contract that can fail: a broken record is refused with a reason naming one of its
fields (or none), or accepted as an event that is a fixed point of normalisation.

(tests/lambdas/test_schemas.py's `test_broken_records_never_raise_anything_but_invalid_event` only checks that
nothing else is raised; it has no assertion about what comes back.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings

from lambdas.schemas import FAMILIES, InvalidEventError, parse
from tests.lambdas.strategies import broken_records

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@settings(max_examples=200, deadline=None)
@given(broken_records())
def test_a_broken_record_is_refused_naming_its_field_or_accepted_as_a_normalised_event(record):
    try:
        event = parse(record, now=NOW)
    except InvalidEventError as error:
        # THEN the reason is one line, and the field it names (if any) is one the contract defines for the record
        assert error.reason and "\n" not in error.reason
        assert error.field is None or isinstance(error.field, str) and error.field
        return
    # OR the record was still valid (an optional field removed, or replaced by an acceptable value), and then its
    # normalised form is accepted again unchanged, of the family it says (the lab shape has none: sensor)
    assert event.family in FAMILIES
    assert event.family == record.get("family", "sensor")
    again = parse(event.to_json(), now=NOW)
    assert again == event
    assert event.timestamp.tzinfo is not None and event.timestamp <= NOW + timedelta(days=1)
