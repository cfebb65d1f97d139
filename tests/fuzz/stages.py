"""Fuzz target: any bytes through every stage's decode -> validate -> enrich -> serialise, with atheris (libFuzzer).

    python -m tests.fuzz.stages -max_total_time=600 CORPUS_DIR     # what `make fuzz` runs
    python -m tests.fuzz.stages CRASH_FILE                          # replay one input

A "crash" is any exception escaping a stage, or a stage breaking one of the properties below; libFuzzer writes the
input to a `crash-*` file. Each one found becomes a case file in tests/data/hostile/fuzz/, which
tests/fuzz/test_fuzz.py replays on every run.

Properties checked for every input (each stage is the code the deployed or local stage runs, not a copy):
- the processor's record function, the Firehose transformation and the contract's `judge` give one verdict (the
  processor and the transformation accept exactly what `judge` accepts, with the same normalised JSON);
- an accepted event enriches and serialises to JSON, re-parses to the same event, and converts to a lake row;
- every alert it raises has an SNS-valid subject (no control characters or line breaks, under 100 UTF-16 units) and
  attributes;
- the Kafka bridge plans a message carrying these bytes (plain, Avro and JSON Schema wire format, routed and
  unrouted topic) into an event or a quarantine, and a Kafka event record built from them into a message;
- the live view tells the record's family without raising.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from datetime import UTC, datetime
from typing import Any

import atheris

with atheris.instrument_imports(include=["lambdas"]):
    from lambdas.bridge.core import plan_batch
    from lambdas.bridge.mapping import DEFAULT_ROUTES, KafkaMessage, _message_from_record
    from lambdas.bridge.wire import default_registry, wire_message
    from lambdas.processor.batch import process_record
    from lambdas.processor.rules import SUBJECT_LIMIT, Position, Thresholds
    from lambdas.schemas import judge, parse
    from lambdas.transform.handler import FAILED, OK, transform

from local.firehose import to_row  # noqa: E402 - after the instrumented imports
from local.web.model import claimed_family  # noqa: E402
from streamlake import lake  # noqa: E402

NOW = datetime(2026, 1, 2, tzinfo=UTC)
POSITION = Position("shardId-000000000000", "49590338271490256608559692538361571095921575989136588898", NOW)
THRESHOLDS = Thresholds(high_temperature_c=30.0, error_burst_count=5, error_burst_window_seconds=60)
COLUMNS = lake.table_columns(None)
REGISTRY = default_registry()
TOPICS = ("unrouted-topic", "estudiante-eventos", "sistema-logs", "notificaciones")
_REFUSED_IN_SNS = {"Cc", "Cf", "Zl", "Zp", "Cs", "Cn"}


class PropertyViolationError(AssertionError):
    """A stage broke one of the properties in the module docstring."""


def check(condition: bool, what: str) -> None:
    if not condition:
        raise PropertyViolationError(what)


def one_input(data: bytes) -> None:
    """Run `data` through every stage; raise on a crash or a broken property."""
    verdict = judge(data, now=NOW)
    outcome = process_record(data, POSITION, None, THRESHOLDS, NOW)
    result, output, family = transform(data, NOW)
    check(result in (OK, FAILED), f"transformation result {result!r}")
    if verdict.event is None:
        check(outcome.rejected is not None and outcome.rejected.reason == verdict.reason, "processor reason differs")
        check(result == FAILED and output == data, "transformation accepted what the contract refuses")
        check(bool(verdict.reason), "a refusal without a reason")
    else:
        normalised = verdict.event.to_json()
        check(outcome.event is not None and outcome.event.to_json() == normalised, "processor verdict differs")
        check(result == OK and output == normalised.encode("utf-8") + b"\n", "transformation output differs")
        check(family == verdict.event.family, "transformation partition key differs")
        json.dumps(outcome.enriched, ensure_ascii=False, allow_nan=False)
        check(parse(normalised, now=NOW) == verdict.event, "normalised record does not re-parse to the same event")
        to_row(verdict.event.to_record(), COLUMNS)
        for alert in outcome.alerts:
            check_sns_text(alert.subject, alert.attributes)
    claimed_family(data)
    bridge(data)


def check_sns_text(subject: str, attributes: dict[str, str]) -> None:
    check(0 < len(subject.encode("utf-16-le")) // 2 <= SUBJECT_LIMIT, f"subject length {len(subject)}")
    for text in (subject, *attributes.values()):
        check(bool(text), "empty SNS text")
        check(not any(unicodedata.category(c) in _REFUSED_IN_SNS for c in text), f"control character in {text!r}")


def bridge(data: bytes) -> None:
    values = [data, wire_message(1, data), wire_message(101, data), wire_message(2, data)]
    messages = [
        KafkaMessage(topic, 0, offset, 1748772000000, data[:16] or None, value)
        for offset, (topic, value) in enumerate((t, v) for t in TOPICS for v in values)
    ]
    plan = plan_batch(messages, DEFAULT_ROUTES, REGISTRY, NOW)
    check(len(plan.entries) + len(plan.rejected) == len(messages), "the bridge lost or duplicated a message")
    try:
        record: Any = json.loads(data)
    except (ValueError, RecursionError):
        return
    message = _message_from_record(record, "estudiante-eventos-0", 0)
    plan = plan_batch([message], DEFAULT_ROUTES, REGISTRY, NOW)
    check(len(plan.entries) + len(plan.rejected) == 1, "the bridge lost a Kafka event record")


def main(argv: list[str]) -> None:
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
