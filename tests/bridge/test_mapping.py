"""Kafka message -> contract event: routes, stamping, deterministic ids, the Lambda event shape, PutRecords chunks."""

from __future__ import annotations

import json

import pytest

from lambdas.bridge.adapters import MAX_BYTES_PER_CALL, Entry, chunks
from lambdas.bridge.mapping import (
    DEFAULT_ROUTES,
    KafkaMessage,
    Route,
    kafka_event_id,
    messages_from_event,
    parse_routes,
    routes_to_json,
    to_event,
)
from lambdas.bridge.wire import default_registry
from lambdas.schemas import InvalidEventError
from tests.bridge.conftest import load_event


def message(value: dict | bytes | None, topic: str = "notificaciones", offset: int = 9, **kw) -> KafkaMessage:
    raw = json.dumps(value).encode() if isinstance(value, dict) else value
    return KafkaMessage(topic, kw.pop("partition", 2), offset, kw.pop("timestamp_ms", 1795161600000), None, raw, **kw)


def test_default_routes_follow_the_topic_names():
    assert parse_routes(None) == DEFAULT_ROUTES == parse_routes("  ")
    assert DEFAULT_ROUTES["notificaciones"] == Route("student", "email")


def test_routes_accept_a_family_or_an_object():
    routes = parse_routes('{"a": "log", "b": {"family": "student", "default_channel": "sms"}}')
    assert routes == {"a": Route("log"), "b": Route("student", "sms")}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{", "is not JSON"),
        ("[]", "must be a JSON object"),
        ('{"a": "weather"}', "topic 'a' needs a family"),
        ('{"a": {"family": "log", "default_channel": "email"}}', "default_channel must be one of email, sms"),
    ],
)
def test_bad_routes_name_the_problem(text, problem):
    with pytest.raises(ValueError, match=problem):
        parse_routes(text)


def test_notification_without_channel_or_timestamp_gets_email_and_the_kafka_time():
    event = to_event(message({"student_id": "s", "event_type": "login"}), DEFAULT_ROUTES, default_registry())
    assert event.fields["channel"] == "email"
    assert event.to_record()["timestamp"] == "2026-11-20T08:00:00.000Z"
    assert event.source == "kafka:notificaciones/2/9"


def test_event_id_is_derived_from_the_position_only():
    first = message({"student_id": "s", "event_type": "login"})
    edited = message({"student_id": "other", "event_type": "logout"})
    next_offset = message({"student_id": "s", "event_type": "login"}, offset=10)
    registry = default_registry()
    assert to_event(first, DEFAULT_ROUTES, registry).event_id == kafka_event_id(first)
    assert to_event(edited, DEFAULT_ROUTES, registry).event_id == kafka_event_id(first)
    assert kafka_event_id(next_offset) != kafka_event_id(first)


def test_source_fits_the_contract_even_for_the_longest_topic_name():
    topic = "t" * 249
    event = to_event(
        message({"family": "log", "level": "INFO", "service": "s", "message": "m"}, topic=topic, offset=2**62),
        {},
        default_registry(),
    )
    assert len(event.source) == 256 and event.source.endswith(f"/2/{2**62}")


def test_without_a_timestamp_anywhere_the_contract_reason_is_kept():
    with pytest.raises(InvalidEventError, match="missing field timestamp"):
        to_event(
            message({"student_id": "s", "event_type": "login"}, timestamp_ms=None), DEFAULT_ROUTES, default_registry()
        )


def test_lambda_event_shape_is_read_with_headers_and_tombstones():
    event = load_event("kafka_msk_event.json")
    event["records"]["sistema-logs-1"][0]["value"] = None
    event["records"]["notificaciones-0"][0]["value"] = "not base64!"
    messages = messages_from_event(event)
    assert [(m.topic, m.partition, m.offset) for m in messages] == [
        ("estudiante-eventos", 0, 41),
        ("estudiante-eventos", 0, 42),
        ("sistema-logs", 1, 7),
        ("notificaciones", 0, 3),
    ]
    assert messages[0].headers == (("producer", b"campus-app"),)
    assert messages[0].key == b"s-1001"
    assert messages[2].value is None
    assert (messages[3].value, messages[3].problem) == (b"not base64!", "value is not valid base64")
    registry = default_registry()
    with pytest.raises(InvalidEventError, match="tombstone"):
        to_event(messages[2], DEFAULT_ROUTES, registry)
    with pytest.raises(InvalidEventError, match="value is not valid base64"):
        to_event(messages[3], DEFAULT_ROUTES, registry)


def test_negative_header_bytes_from_java_clients_are_read_as_unsigned():
    event = load_event("kafka_msk_event.json")
    event["records"]["sistema-logs-1"][0]["headers"] = [{"h": [-1, 65]}]
    assert messages_from_event(event)[2].headers == (("h", b"\xffA"),)


def test_put_records_chunks_respect_entry_count_and_size():
    small = [Entry(b"x", "k")] * 1001
    assert [len(c) for c in chunks(small)] == [500, 500, 1]
    big = [Entry(b"x" * (1024 * 1024 - 1), "k")] * 11
    sizes = [sum(e.size for e in c) for c in chunks(big)]
    assert [len(c) for c in chunks(big)] == [5, 5, 1]
    assert max(sizes) <= MAX_BYTES_PER_CALL


def test_routes_survive_the_environment_variable_round_trip():
    routes = {**DEFAULT_ROUTES, "campus-logs": Route("log")}
    assert parse_routes(routes_to_json(routes)) == routes


def test_unreachable_kinesis_is_retried_then_reported_without_being_mistaken_for_permanent():
    import boto3
    from botocore.config import Config

    from lambdas.bridge.adapters import KinesisWriteError, KinesisWriter
    from local.moto_server import free_port

    client = boto3.client(
        "kinesis",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    writer = KinesisWriter(client, "events", max_attempts=3, base_delay=0.001)
    with pytest.raises(KinesisWriteError, match="1 of 1 records not written to events after 3 attempts") as caught:
        writer.put([Entry(b"{}", "k")])
    assert caught.value.permanent is False
