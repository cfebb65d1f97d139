"""Alerts with a lifecycle, through the processor handler (Kinesis events as Lambda sends them, AWS in moto).

Expected messages are hand-written in the examples, and come from an independent model
(tests/lambdas/lifecycle_model.py) in the property, which delivers random histories the way Lambda does: batches of
any size, whole batches delivered again, redelivery from the first reported failure, SNS and DynamoDB failing now
and then, producer re-sends.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambdas.processor import lifecycle
from lambdas.processor.handler import get_effects, handler
from lambdas.processor.lifecycle import EntityState
from lambdas.processor.rules import Alert, Position, Thresholds
from lambdas.schemas import judge, new_event
from tests.lambdas.faults import fail_operation, stop_throttling_sns, throttle_sns_entries
from tests.lambdas.kinesis_events import kinesis_event
from tests.lambdas.lifecycle_model import LogLine, Message, Reading, burst_messages, temperature_messages

START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)
_runs = itertools.count()


@pytest.fixture
def reminders_every_10_minutes(monkeypatch):
    """The conftest environment (30 °C, 3 errors per 60 s) plus a 1.5 °C hysteresis and 10-minute reminders."""
    monkeypatch.setenv("HIGH_TEMPERATURE_HYSTERESIS_C", "1.5")
    monkeypatch.setenv("ALERT_REMINDER_SECONDS", "600")


def reading(temperature: float, minute: float, sensor: str = "sensor-7") -> dict[str, Any]:
    return new_event(
        "sensor",
        source="t",
        sensor_id=sensor,
        temperature=temperature,
        humidity=40,
        location="Sala 3",
        timestamp=START + timedelta(minutes=minute),
    )


# Log lines are dated from a whole minute, so burst windows (whole minutes) are where the tests say.
MINUTE = START.replace(second=0)


def log(level: str, second: float, service: str = "payments", message: str = "boom") -> dict[str, Any]:
    return new_event(
        "log", source="t", level=level, service=service, message=message, timestamp=MINUTE + timedelta(seconds=second)
    )


class Stream:
    """Records appended to one shard, delivered to the handler in batches with Lambda's checkpoint rule."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self.records: list[dict[str, Any]] = []
        self.delivered = 0

    def put(self, *payloads: dict[str, Any]) -> None:
        self.records += payloads

    def deliver(self, batch_size: int = 100) -> None:
        """Invoke the handler until every record was processed (a reported failure redelivers from it)."""
        for _ in range(1000):
            if self.delivered >= len(self.records):
                return
            batch = self.records[self.delivered : self.delivered + batch_size]
            event = kinesis_event(batch, first_index=self.delivered)
            self.delivered = self._checkpoint(event, handler(event, self.context), len(batch))
        raise AssertionError("the stream did not drain in 1000 invocations")

    def _checkpoint(self, event: dict[str, Any], response: dict[str, Any], size: int) -> int:
        failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        for offset, record in enumerate(event["Records"]):
            if record["kinesis"]["sequenceNumber"] in failed:
                return self.delivered + offset
        return self.delivered + size


def mail(aws: Any) -> list[dict[str, Any]]:
    return aws.received_alerts()


def stage(message: dict[str, Any]) -> str:
    return message["MessageAttributes"]["lifecycle"]["Value"]


def event_id(message: dict[str, Any]) -> str:
    return re.search(r"^Event id: (\S+)$", message["Message"], re.M).group(1)


# -- high temperature ---------------------------------------------------------------------------------------------


def test_a_sensor_hot_for_25_minutes_sends_enter_two_reminders_and_recovered(aws, context, reminders_every_10_minutes):
    # GIVEN a sensor above 30 °C from minute 0, one reading a minute, then back to normal
    stream = Stream(context)
    hot = [31.0, 32.5, 33.0, 31.2, 34.0, 30.5, 31.0, 32.0, 31.0, 31.0, 35.5, 31.0, 29.0, 28.6, 31.0]
    stream.put(*(reading(t, minute) for minute, t in enumerate(hot)))
    # (29.0 and 28.6 at minutes 12, 13 are inside the hysteresis band: 30 - 1.5 = 28.5 keeps it in alert)
    stream.put(*(reading(31.0, minute) for minute in range(15, 26)))
    stream.put(reading(28.4, 26), reading(31.5, 27))
    stream.deliver(batch_size=7)
    # THEN: enter at minute 0; reminder at minute 10 (10 readings since: minutes 1..10, all above 30, max 35.5);
    # reminder at minute 20 (minutes 11..20: 10 readings, 8 above 30, max 31.0); recovered at minute 26 (below
    # 28.5) after 5 readings (21..25), and a new alert at minute 27.
    messages = mail(aws)
    assert Counter(stage(m) for m in messages) == {"enter": 2, "reminder": 2, "recovered": 1}
    texts = "\n---\n".join(m["Message"] for m in messages)
    assert "10 readings, 10 above 30 °C, maximum 35.5 °C" in texts
    assert "10 readings, 8 above 30 °C, maximum 31.0 °C" in texts
    assert "for 10 min" in texts and "for 20 min" in texts
    recovered = next(m for m in messages if stage(m) == "recovered")
    assert "5 readings, 5 above 30 °C, maximum 31.0 °C" in recovered["Message"]
    assert "back to 28.4 °C" in recovered["Message"] and "lasted 26 min" in recovered["Message"]
    assert recovered["Subject"] == "Recovered: sensor-7 at Sala 3, 28.4 °C after 26 min"
    assert {m["MessageAttributes"]["kind"]["Value"] for m in messages} == {"high_temperature"}


def test_hovering_around_the_threshold_inside_the_hysteresis_sends_one_message(aws, context):
    # GIVEN the default hysteresis of 2 °C and readings crossing 30 °C back and forth, never below 28 °C
    stream = Stream(context)
    stream.put(*(reading(t, minute) for minute, t in enumerate([30.2, 29.0, 30.4, 28.0, 31.0, 29.9, 30.1])))
    stream.deliver()
    # THEN one message (with the old per-reading rule it would have been four)
    [message] = mail(aws)
    assert stage(message) == "enter" and "30.2 °C" in message["Subject"]
    assert "at most one reminder every 1 h 00 min" in message["Message"]


def test_a_retried_batch_sends_nothing_twice_and_counts_nothing_twice(aws, context, reminders_every_10_minutes):
    # GIVEN a batch that opens an alert and accumulates readings, processed once
    first = kinesis_event([reading(t, m) for m, t in enumerate([31.0, 31.0, 33.0, 31.0])])
    handler(first, context)
    assert [stage(m) for m in mail(aws)] == ["enter"]
    # WHEN Lambda delivers the same batch again, and then the next one
    assert handler(first, context) == {"batchItemFailures": []}
    handler(kinesis_event([reading(32.0, 10)], first_index=4), context)
    # THEN no second "enter", and the reminder counts the three readings after it once, plus the new one
    [reminder] = mail(aws)
    assert "4 readings, 4 above 30 °C, maximum 33.0 °C" in reminder["Message"]


def test_a_producer_resend_of_a_reading_is_not_counted_twice(aws, context, reminders_every_10_minutes):
    stream = Stream(context)
    hot = reading(31.0, 0)
    again = reading(34.0, 3)
    stream.put(hot, reading(31.0, 1), hot, again, again, reading(31.0, 10))
    stream.deliver(batch_size=2)
    assert sorted(stage(m) for m in mail(aws)) == ["enter", "reminder"]
    stream.put(reading(20.0, 11))
    stream.deliver()
    [recovered] = mail(aws)
    assert "Since the last message" in recovered["Message"] and "no readings" in recovered["Message"]


def test_an_sns_failure_retries_the_sensors_records_and_the_state_is_not_advanced(aws, context):
    # GIVEN SNS throttles the high-temperature message
    throttle_sns_entries(get_effects().alerts.sns, lambda entry: entry["Subject"].startswith("High temperature"))
    event = kinesis_event([reading(25.0, 0, "other"), reading(35.0, 1), reading(36.0, 2)])
    # WHEN
    response = handler(event, context)
    # THEN the hot sensor's records are retried (both: its state was not written), the other sensor's are not
    failed = [f["itemIdentifier"] for f in response["batchItemFailures"]]
    assert failed == [r["kinesis"]["sequenceNumber"] for r in event["Records"][1:]]
    assert mail(aws) == []
    # AND the redelivery sends the one "enter" the first attempt decided
    stop_throttling_sns(get_effects().alerts.sns)
    retry = {"Records": event["Records"][1:]}
    assert handler(retry, context) == {"batchItemFailures": []}
    [message] = mail(aws)
    assert stage(message) == "enter" and "35.0 °C" in message["Subject"]


def test_a_state_write_failure_retries_the_records_and_the_retry_sends_nothing_twice(aws, context):
    # GIVEN DynamoDB refuses writes of single items (the state) during the first invocation
    heal = fail_operation(get_effects().states.dynamodb, "dynamodb.PutItem", "ProvisionedThroughputExceededException")
    event = kinesis_event([reading(35.0, 0), reading(36.0, 1)])
    response = handler(event, context)
    heal()
    # THEN the records are reported, though the "enter" e-mail went out
    assert len(response["batchItemFailures"]) == 2
    assert [stage(m) for m in mail(aws)] == ["enter"]
    # WHEN they are redelivered
    assert handler(event, context) == {"batchItemFailures": []}
    # THEN the same decision is taken again and its message is not sent twice; the state is now stored
    assert mail(aws) == []
    handler(kinesis_event([reading(20.0, 2)], first_index=2), context)
    assert [stage(m) for m in mail(aws)] == ["recovered"]


def test_an_open_alerts_read_failure_retries_sensor_and_log_records_only(aws, context):
    # GIVEN DynamoDB throttles reads of the open alerts (and only those: de-duplication reads still work)
    def refuse(params: dict[str, Any], **_: Any) -> None:
        keys = [k["id"]["S"] for request in params["RequestItems"].values() for k in request["Keys"]]
        if any(k.startswith("alert-open#") for k in keys):
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "x"}}, "BatchGetItem")

    dynamodb = get_effects().states.dynamodb
    dynamodb.meta.events.register("before-parameter-build.dynamodb.BatchGetItem", refuse)
    grade = new_event("student", source="t", student_id="ana", event_type="grade_posted", course_id="X", grade=90)
    event = kinesis_event([reading(20.0, 0), grade, log("INFO", 0)])
    response = handler(event, context)
    dynamodb.meta.events.unregister("before-parameter-build.dynamodb.BatchGetItem", refuse)
    # THEN the sensor reading and the log line are retried; the grade notification went out
    failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    sequence = [r["kinesis"]["sequenceNumber"] for r in event["Records"]]
    assert failed == {sequence[0], sequence[2]}
    [notification] = mail(aws)
    assert notification["MessageAttributes"]["kind"]["Value"] == "student_notification"


def test_normal_readings_cost_one_read_and_no_write(aws, context):
    # GIVEN no sensor in alert; WHEN a batch of normal readings and INFO logs is processed
    calls: Counter[str] = Counter()
    dynamodb = get_effects().states.dynamodb
    dynamodb.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.update([model.name]))
    handler(kinesis_event([reading(20.0 + i / 10, i, f"s{i}") for i in range(50)] + [log("INFO", 1)]), context)
    # THEN one BatchGetItem (the open alerts) and nothing else
    assert calls == {"BatchGetItem": 1}


# -- error bursts -------------------------------------------------------------------------------------------------


def test_a_burst_lasting_several_windows_sends_enter_reminder_and_recovered(aws, context, reminders_every_10_minutes):
    # GIVEN 3 errors per 60 s window (the threshold) for 12 minutes, then only INFO lines
    stream = Stream(context)
    base = 600
    for minute in range(12):
        stream.put(*(log("ERROR", base + minute * 60 + s, message=f"timeout {minute}/{s}") for s in (5, 20, 40)))
    stream.put(log("INFO", base + 12 * 60 + 30))  # inside the window right after the last burst window: no news
    stream.deliver(batch_size=8)
    assert sorted(stage(m) for m in mail(aws)) == ["enter", "reminder"]
    stream.put(log("INFO", base + 13 * 60 + 1))  # the first line dated after that window: recovered
    stream.deliver()
    [recovered] = mail(aws)
    assert stage(recovered) == "recovered"
    assert recovered["Subject"] == "Recovered: payments, error burst over after 11 min"
    assert "): 3 ERROR/CRITICAL lines." in recovered["Message"]  # minute 11's, after the reminder at minute 10


def test_burst_enter_names_the_window_and_the_line_that_reached_the_threshold(aws, context):
    stream = Stream(context)
    stream.put(log("ERROR", 3, message="db down"), log("CRITICAL", 4, message="db still down"))
    stream.put(log("ERROR", 5, service="search"), log("ERROR", 7, message="pool exhausted"))
    stream.deliver()
    [message] = mail(aws)
    assert message["MessageAttributes"]["service"]["Value"] == "payments"
    assert stage(message) == "enter" and message["MessageAttributes"]["kind"]["Value"] == "error_burst"
    assert "pool exhausted" in message["Message"] and "3 ERROR/CRITICAL lines" in message["Message"]


def test_a_burst_reminder_reports_the_busiest_window_since_the_last_message():
    # GIVEN 3 errors in the first minute (enter), 5 in the second, 1 in the third, 2 minutes after the enter
    t = Thresholds(30.0, 3, 60, alert_reminder_seconds=120)
    origin = START.replace(second=0) + timedelta(hours=1)
    seconds = [0, 1, 2, 60, 61, 62, 63, 64, 122]
    records = []
    for i, second in enumerate(seconds):
        payload = new_event("log", source="t", level="ERROR", service="api", message=f"e{i}",
                            timestamp=origin + timedelta(seconds=second))  # fmt: skip
        event = judge(json.dumps(payload).encode(), now=datetime.now(UTC)).event
        records.append((event, Position("shardId-0", str(i), datetime.now(UTC))))
    # WHEN
    alerts, changed = lifecycle.apply(EntityState("burst", "api"), records, t)
    # THEN enter on the third error, a reminder on the last one: 6 errors since the enter, at most 5 in one window
    assert changed and [a.attributes["lifecycle"] for a in alerts] == ["enter", "reminder"]
    assert "6 ERROR/CRITICAL lines, at most 5 in one 60 s window (threshold 3)" in alerts[1].message
    assert alerts[1].alert_id == f"burst#reminder#{records[-1][0].event_id}"


# -- property: the handler agrees with the model ------------------------------------------------------------------

# What the `aws` fixture and `reminders_every_10_minutes` give the handler.
HANDLER_THRESHOLDS = Thresholds(
    high_temperature_c=30.0,
    error_burst_count=3,
    error_burst_window_seconds=60,
    high_temperature_hysteresis_c=1.5,
    alert_reminder_seconds=600,
)

# Gaps (seconds since the entity's previous record) that land on the edges often: exactly the reminder interval
# after a message, exactly a window end, more than three windows back.
sensor_steps = st.tuples(
    st.sampled_from(["a", "b"]),
    st.sampled_from([25.0, 28.0, 28.5, 29.0, 30.0, 30.5, 33.0]),
    st.sampled_from([0, 1, 60, 120, 200, 300, 599, 600]),
)
log_steps = st.tuples(
    st.sampled_from(["x", "y"]),
    st.sampled_from(["INFO", "ERROR", "CRITICAL", "ERROR", "ERROR", "WARN"]),
    # mostly close together (bursts need 3 errors in a window), sometimes earlier than the previous line (clocks,
    # buffering) or far earlier (too late to count), sometimes a quiet window
    st.sampled_from([-241, -180, -1, 0, 1, 1, 10, 20, 20, 30, 59, 60, 61, 120, 600]),
)
histories = st.lists(st.one_of(sensor_steps, log_steps, log_steps), min_size=1, max_size=80)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    steps=histories,
    resend_every=st.sampled_from([0, 2, 5]),
    batch_sizes=st.lists(st.integers(1, 12), min_size=1, max_size=6),
    replay_every=st.sampled_from([0, 2, 3]),
    sns_fails=st.sampled_from([0, 4, 9]),
    put_fails=st.sampled_from([0, 5]),
)
def test_messages_are_exactly_the_models_whatever_the_delivery(
    aws, context, reminders_every_10_minutes, steps, resend_every, batch_sizes, replay_every, sns_fails, put_fails
):
    # GIVEN a history of readings and log lines for two sensors and two services (names unique to this example)
    run = next(_runs)
    payloads, expected = history(steps, resend_every, f"{run}-")

    # AND SNS throttling some entries and DynamoDB refusing some state writes, each failure only once
    failed_entries: set[str] = set()
    entries = itertools.count(1)
    decisions: dict[int, bool] = {}
    seen: list[dict[str, Any]] = []  # keeps each entry alive, so its id() names it alone

    def sns_should_fail(entry: dict[str, Any]) -> bool:
        # Asked more than once per entry of one PublishBatch: decide once, and fail a message at most once.
        if id(entry) not in decisions:
            seen.append(entry)
            key = entry["Message"]
            decisions[id(entry)] = bool(sns_fails) and key not in failed_entries and next(entries) % sns_fails == 0
            if decisions[id(entry)]:
                failed_entries.add(key)
        return decisions[id(entry)]

    throttle_sns_entries(get_effects().alerts.sns, sns_should_fail)
    puts = itertools.count(1)

    def refuse_put(**_: Any) -> None:
        if put_fails and next(puts) % put_fails == 0:
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "x"}}, "PutItem")

    dynamodb = get_effects().states.dynamodb
    dynamodb.meta.events.register("before-call.dynamodb.PutItem", refuse_put, unique_id="lifecycle-refuse-put")
    try:
        # WHEN the records are delivered in batches of varying size, some batches twice (a timeout), failures
        # redelivered from the first reported record (Lambda's checkpoint rule)
        delivered, invocation = 0, 0
        while delivered < len(payloads):
            invocation += 1
            assert invocation < 500, "the stream did not drain"
            size = batch_sizes[invocation % len(batch_sizes)]
            event = kinesis_event(payloads[delivered : delivered + size], first_index=run * 10_000 + delivered)
            if replay_every and invocation % replay_every == 0:
                handler(event, context)  # its response is lost: Lambda invokes again with the same batch
            response = handler(event, context)
            failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
            sequences = [r["kinesis"]["sequenceNumber"] for r in event["Records"]]
            delivered += next((i for i, s in enumerate(sequences) if s in failed), len(sequences))
    finally:
        stop_throttling_sns(get_effects().alerts.sns)
        dynamodb.meta.events.unregister("before-call.dynamodb.PutItem", unique_id="lifecycle-refuse-put")

    # THEN every message of the model arrived exactly once, with the model's numbers, and nothing else
    received = [
        _as_model(m["MessageAttributes"], m["Message"])
        for m in mail(aws)
        if m["MessageAttributes"]["kind"]["Value"] != "student_notification"
    ]
    assert Counter(received) == Counter(expected)


def history(
    steps: list[tuple[str, Any, int]], resend_every: int, prefix: str, thresholds: Thresholds | None = None
) -> tuple[list[dict], list[Message]]:
    """The payloads of a history (with producer re-sends) and the model's messages for it (under the thresholds the
    handler tests run with, or `thresholds`)."""
    clock: dict[str, float] = {}
    payloads: list[dict[str, Any]] = []
    readings: list[Reading] = []
    lines: list[LogLine] = []
    # Whole minutes, so gaps of whole minutes land exactly on window ends.
    origin = START.replace(second=0) + timedelta(hours=1)
    for i, (name, value, gap) in enumerate(steps):
        entity = prefix + name
        clock[entity] = clock.get(entity, 0.0) + gap
        moment = origin + timedelta(seconds=clock[entity])
        if name in "ab":
            payload = new_event("sensor", source="t", sensor_id=entity, temperature=value, humidity=50,
                                location="L", timestamp=moment)  # fmt: skip
            readings.append(Reading(payload["event_id"], entity, moment.timestamp(), value))
        else:
            payload = new_event("log", source="t", level=value, service=entity, message=f"m{i}", timestamp=moment)
            lines.append(LogLine(payload["event_id"], entity, moment.timestamp(), value))
        payloads.append(payload)
        if resend_every and i % resend_every == resend_every - 1:
            payloads.append(payload)  # a producer's re-send, right after the original
    t = thresholds or HANDLER_THRESHOLDS
    reminder = t.alert_reminder_seconds
    hot = temperature_messages(readings, t.high_temperature_c, t.high_temperature_hysteresis_c, reminder)
    bursts = burst_messages(lines, t.error_burst_count, t.error_burst_window_seconds, reminder)
    return payloads, hot + bursts


@settings(max_examples=500, deadline=None)
@given(
    steps=histories,
    resend_every=st.sampled_from([0, 2, 3]),
    cuts=st.lists(st.integers(1, 9), max_size=8),
    burst_count=st.sampled_from([1, 2, 3]),
    reminder=st.sampled_from([60, 120, 600]),
    hysteresis=st.sampled_from([0.0, 1.5, 2.0]),
)
def test_lifecycle_apply_agrees_with_the_model_across_batches_and_lost_writes(
    steps, resend_every, cuts, burst_count, reminder, hysteresis
):
    # The rules alone (no AWS): records applied in batches; a batch whose state write is "lost" is applied again to
    # the state before it (its messages then come again with the same ids, and the store keeps one of each); a
    # batch delivered again after its write is applied to the state that already has it.
    thresholds = Thresholds(
        high_temperature_c=30.0,
        error_burst_count=burst_count,
        error_burst_window_seconds=60,
        high_temperature_hysteresis_c=hysteresis,
        alert_reminder_seconds=reminder,
    )
    payloads, expected = history(steps, resend_every, "", thresholds)
    states: dict[tuple[str, str], EntityState] = {}
    sent: dict[str, Alert] = {}
    position, batch_number = 0, 0
    while position < len(payloads):
        size = cuts[batch_number % len(cuts)] if cuts else len(payloads)
        batch = payloads[position : position + size]
        for attempt in {0: (2,), 1: (1, 2), 2: (2, 2)}[batch_number % 3]:
            by_entity: dict[tuple[str, str], list] = {}
            for offset, payload in enumerate(batch):
                event = judge(json.dumps(payload).encode(), now=datetime.now(UTC)).event
                at = Position("shardId-0", str(1000 + position + offset), datetime.now(UTC))
                by_entity.setdefault(lifecycle.entity_of(event), []).append((event, at))
            for key, records in by_entity.items():
                state = states.get(key) or EntityState(*key)
                working = EntityState.from_json(state.to_json(), state.version)
                alerts, changed = lifecycle.apply(working, records, thresholds)
                sent.update((a.alert_id, a) for a in alerts)
                if attempt == 2 and changed:  # the first attempt's write is lost; an unchanged state is not written
                    states[key] = working
        position += size
        batch_number += 1
    received = [_as_model({k: {"Value": v} for k, v in a.attributes.items()}, a.message) for a in sent.values()]
    assert Counter(received) == Counter(expected)


def _as_model(attributes: dict[str, Any], body: str) -> Message:
    entity = (attributes.get("sensor_id") or attributes["service"])["Value"]
    what = attributes["lifecycle"]["Value"]
    found = re.search(r"^Event id: (\S+)$", body, re.M).group(1)
    if what == "enter":
        return Message(entity, what, found)
    if attributes["kind"]["Value"] == "high_temperature":
        if "no readings" in body:
            return Message(entity, what, found, count=0, hot=0, peak=None)
        count, hot, peak = re.search(r"(\d+) readings?, (\d+) above [\d.]+ °C, maximum ([\d.-]+) °C", body).groups()
        return Message(entity, what, found, count=int(count), hot=int(hot), peak=float(peak))
    count = int(re.search(r"\): (\d+) ERROR/CRITICAL lines?", body).group(1))
    if what == "recovered":
        return Message(entity, what, found, count=count)
    peak = float(re.search(r"at most (\d+) in one", body).group(1))
    return Message(entity, what, found, count=count, peak=peak)


def test_an_unreadable_stored_state_starts_again_from_normal_instead_of_blocking_the_shard(aws, context):
    # GIVEN a sensor's state item edited by hand into something this version cannot read
    aws.dynamodb.put_item(
        TableName=aws.table,
        Item={"id": {"S": "alert-state#temperature#sensor-7"}, "doc": {"S": "{not json"}, "version": {"N": "4"}},
    )
    # WHEN the sensor reads hot
    response = handler(kinesis_event([reading(35.0, 0)]), context)
    # THEN the batch goes through, the alert opens, and the item is replaced by a readable state
    assert response == {"batchItemFailures": []}
    assert [stage(m) for m in mail(aws)] == ["enter"]
    item = aws.dynamodb.get_item(TableName=aws.table, Key={"id": {"S": "alert-state#temperature#sensor-7"}})["Item"]
    assert item["version"] == {"N": "5"} and json.loads(item["doc"]["S"])["status"] == "alert"


def test_a_state_written_by_another_version_with_extra_fields_is_read():
    state = EntityState.from_json('{"family": "temperature", "entity": "s", "status": "alert", "new_field": 1}', 3)
    assert (state.status, state.version, state.count) == ("alert", 3, 0)
