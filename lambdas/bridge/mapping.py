"""From a Kafka message to a contract event: topic -> family routing, defaults, `source` and `event_id` stamping.

Pure functions over plain data: the Lambda (Kafka event JSON) and the standalone bridge (confluent-kafka messages)
both build `KafkaMessage`s and call `to_event`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lambdas.bridge.wire import SchemaRegistry, decode_value
from lambdas.schemas import (
    CHANNELS,
    EVENT_ID_NAMESPACE,
    FAMILIES,
    MAX_ID_LENGTH,
    Event,
    InvalidEventError,
    canonical_family,
    format_timestamp,
    internal_error_reason,
    parse,
)

# Event source names Lambda puts in `eventSource` for Amazon MSK and for self-managed Kafka (Confluent Cloud).
EVENT_SOURCES = ("aws:kafka", "SelfManagedKafka")
TOPIC_MAP_VARIABLE = "KAFKA_TOPIC_FAMILIES"


@dataclass(frozen=True)
class Route:
    """Where a topic's messages go: their event family, and the notification channel to assume when absent."""

    family: str
    default_channel: str | None = None


# notificaciones carries student events that ask for a user notification: the processor notifies on every student
# event with a `channel`, so the bridge makes sure each one has one (e-mail unless the message says sms).
DEFAULT_ROUTES: dict[str, Route] = {
    "estudiante-eventos": Route("student"),
    "sistema-logs": Route("log"),
    "notificaciones": Route("student", default_channel="email"),
}


def parse_routes(text: str | None) -> dict[str, Route]:
    """Routes from the KAFKA_TOPIC_FAMILIES JSON, or DEFAULT_ROUTES when unset/empty.

    Shape: `{"topic": "family"}` or `{"topic": {"family": "student", "default_channel": "email"}}`; ValueError
    with the offending topic otherwise.
    """
    if text is None or not text.strip():
        return dict(DEFAULT_ROUTES)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{TOPIC_MAP_VARIABLE} is not JSON: {exc.msg}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{TOPIC_MAP_VARIABLE} must be a JSON object of topic -> family")
    routes: dict[str, Route] = {}
    for topic, spec in raw.items():
        if isinstance(spec, str):
            spec = {"family": spec}
        if not isinstance(spec, dict) or spec.get("family") not in FAMILIES:
            raise ValueError(f"{TOPIC_MAP_VARIABLE}: topic {topic!r} needs a family, one of {', '.join(FAMILIES)}")
        channel = spec.get("default_channel")
        if channel is not None and (spec["family"] != "student" or channel not in CHANNELS):
            raise ValueError(
                f"{TOPIC_MAP_VARIABLE}: topic {topic!r}: default_channel must be one of {', '.join(CHANNELS)} "
                "on a student topic"
            )
        routes[topic] = Route(spec["family"], channel)
    return routes


def routes_to_json(routes: Mapping[str, Route]) -> str:
    """The KAFKA_TOPIC_FAMILIES value for `routes` (what the CDK stack sets; `parse_routes` reads it back)."""
    return json.dumps(
        {
            topic: {"family": r.family, "default_channel": r.default_channel} if r.default_channel else r.family
            for topic, r in routes.items()
        },
        sort_keys=True,
        separators=(",", ":"),
    )


@dataclass(frozen=True)
class KafkaMessage:
    """One Kafka message as both bridges see it. `value` is None for a tombstone; `problem` is set when the
    event source handed over something unreadable (the raw text is then kept in `value`)."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    problem: str | None = None
    # Set only for a record of the Lambda event whose topic, partition or offset could not be read (they are then
    # -1): its place in the event ("<topic>-<partition>" batch and index), so its quarantine position stays unique.
    event_place: tuple[str, int] | None = None

    @property
    def position(self) -> dict[str, Any]:
        """The quarantine position of this message."""
        position: dict[str, Any] = {"topic": self.topic, "partition": self.partition, "offset": self.offset}
        if self.event_place is not None:
            position["event_batch"], position["event_index"] = self.event_place
        return position

    @property
    def source(self) -> str:
        """`kafka:<topic>/<partition>/<offset>`, within the contract's 256 characters (topics may be 249 long)."""
        suffix = f"/{self.partition}/{self.offset}"
        return f"kafka:{self.topic[: MAX_ID_LENGTH - len('kafka:') - len(suffix)]}{suffix}"


def kafka_event_id(message: KafkaMessage) -> str:
    """uuid5 of the message's topic/partition/offset: a redelivered message gets the same event_id."""
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"kafka:{message.topic}/{message.partition}/{message.offset}"))


def to_event(
    message: KafkaMessage,
    routes: Mapping[str, Route],
    registry: SchemaRegistry,
    now: datetime | None = None,
) -> Event:
    """The contract event a message carries; InvalidEventError (reason, field) if it cannot be one.

    - family comes from the topic's route (a message on a routed topic may repeat it, not contradict it); on a
      topic without a route the message must name its family itself;
    - `timestamp` defaults to the Kafka message timestamp, `event_id` to `kafka_event_id`, `channel` to the
      route's default channel;
    - `source` is always `kafka:<topic>/<partition>/<offset>`, so every event can be traced back to its message.
    """
    if message.problem is not None:
        raise InvalidEventError(message.problem)
    record = dict(decode_value(message.value, registry))
    route = routes.get(message.topic)
    declared = record.get("family")
    if route is not None:
        if declared is not None and _family_or_none(declared) != route.family:
            raise InvalidEventError(
                f"family {str(declared)[:40]!r} does not match topic {message.topic} ({route.family})", "family"
            )
        record["family"] = route.family
        if route.default_channel is not None and record.get("channel") is None:
            record["channel"] = route.default_channel
    elif declared is None:
        raise InvalidEventError(
            f"topic {message.topic} has no family in {TOPIC_MAP_VARIABLE} and the message names none", "family"
        )
    if record.get("timestamp") is None and message.timestamp_ms is not None and message.timestamp_ms >= 0:
        # Out of datetime's range: leave it missing, so parse() reports the missing timestamp.
        with contextlib.suppress(OverflowError, ValueError, OSError):
            record["timestamp"] = format_timestamp(datetime.fromtimestamp(message.timestamp_ms / 1000, UTC))
    if record.get("event_id") is None:
        record["event_id"] = kafka_event_id(message)
    record["source"] = message.source
    return parse(record, now=now)


def _family_or_none(value: Any) -> str | None:
    # The contract's rule for enumerated fields (trimmed, any case) decides whether a declared family matches.
    try:
        return canonical_family(value)
    except InvalidEventError:
        return None


def partition_key(message: KafkaMessage, event: Event) -> str:
    """Kinesis partition key: the Kafka key (so one key's events stay in order on one shard), else the event_id."""
    if message.key:
        try:
            text = message.key.decode("utf-8")
        except UnicodeDecodeError:
            text = ""
        if text and len(text) <= 256:
            return text
        return hashlib.sha256(message.key).hexdigest()
    return event.event_id


# --------------------------------------------------------------------------------------------------------------------
# The Lambda Kafka event (MSK and self-managed Kafka share one shape)
# --------------------------------------------------------------------------------------------------------------------


def messages_from_event(event: Mapping[str, Any]) -> list[KafkaMessage]:
    """Every record of a Lambda MSK / self-managed Kafka event, in the order the event lists them.

    `records` maps "<topic>-<partition>" to records with base64 `key`/`value` and `headers` as a list of
    `{name: [byte, ...]}`. ValueError if the event is not a Kafka event at all (a wiring mistake, not data).
    """
    source = event.get("eventSource")
    if source not in EVENT_SOURCES:
        raise ValueError(f"not a Kafka event: eventSource is {source!r}, expected one of {', '.join(EVENT_SOURCES)}")
    records = event.get("records") or {}
    if not isinstance(records, dict):
        raise ValueError("not a Kafka event: records must be an object of topic-partition -> records")
    messages = []
    for batch_key, batch in records.items():
        if not isinstance(batch, list):
            messages.append(_unreadable(batch, str(batch_key), 0, "records of a topic-partition must be a list"))
            continue
        for index, record in enumerate(batch):
            messages.append(_message_from_record(record, str(batch_key), index))
    return messages


class _UnreadableRecordError(ValueError):
    """A record of the Lambda Kafka event that does not have the documented shape."""


def _b64(text: Any, what: str) -> tuple[bytes | None, str | None]:
    if text is None:
        return None, None
    if not isinstance(text, str):
        return _raw(text), f"{what} is not a base64 string"
    try:
        return base64.b64decode(text, validate=True), None
    except (binascii.Error, ValueError):
        return text.encode("utf-8", errors="surrogatepass"), f"{what} is not valid base64"


def _raw(value: Any) -> bytes:
    """Whatever the event held, as bytes for the quarantine (JSON when it can be written as JSON)."""
    try:
        return json.dumps(value, ensure_ascii=False).encode("utf-8", errors="surrogatepass")
    except (TypeError, ValueError, RecursionError):
        return repr(value).encode("utf-8", errors="backslashreplace")


def _integer(record: Mapping[str, Any], name: str) -> int:
    value = record.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _UnreadableRecordError(f"Kafka record has no valid {name}: {str(value)[:40]!r}")
    return value


def _message_from_record(record: Any, batch_key: str, index: int) -> KafkaMessage:
    """One record of the event as a KafkaMessage; a record that does not have the documented shape becomes a
    message with a `problem` (quarantined with the record as it came), never an exception."""
    try:
        if not isinstance(record, Mapping):
            raise _UnreadableRecordError("Kafka record is not an object")
        return _read_record(record)
    except _UnreadableRecordError as exc:
        return _unreadable(record, batch_key, index, str(exc))
    except Exception as exc:  # noqa: BLE001 - the record boundary: quarantine it, do not fail the batch
        return _unreadable(record, batch_key, index, internal_error_reason(exc))


def _read_record(record: Mapping[str, Any]) -> KafkaMessage:
    topic = record.get("topic")
    if not isinstance(topic, str) or not topic:
        raise _UnreadableRecordError("Kafka record has no topic")
    partition, offset = _integer(record, "partition"), _integer(record, "offset")
    key, _ = _b64(record.get("key"), "key")
    value, problem = _b64(record.get("value"), "value")
    raw_headers = record.get("headers") or []
    if not isinstance(raw_headers, list):
        raise _UnreadableRecordError("Kafka record headers must be a list of {name: [byte, ...]} objects")
    headers = []
    for header in raw_headers:
        if not isinstance(header, Mapping):
            raise _UnreadableRecordError("Kafka record headers must be a list of {name: [byte, ...]} objects")
        for name, raw in header.items():
            # Lambda sends header values as lists of signed or unsigned byte values.
            if isinstance(raw, list):
                if not all(isinstance(b, int) and not isinstance(b, bool) and -128 <= b <= 255 for b in raw):
                    raise _UnreadableRecordError(f"Kafka header {str(name)[:40]!r} is not a list of byte values")
                headers.append((str(name), bytes(b & 0xFF for b in raw)))
            else:
                headers.append((str(name), str(raw).encode("utf-8", errors="surrogatepass")))
    timestamp = record.get("timestamp")
    finite = isinstance(timestamp, int | float) and not isinstance(timestamp, bool) and math.isfinite(timestamp)
    return KafkaMessage(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp_ms=int(timestamp) if finite else None,
        key=key,
        value=value,
        headers=tuple(headers),
        problem=problem,
    )


def _unreadable(record: Any, batch_key: str, index: int, problem: str) -> KafkaMessage:
    """A message standing for an event record that could not be read: quarantined with the record's JSON."""
    fields = record if isinstance(record, Mapping) else {}
    topic, _, partition = batch_key.rpartition("-")
    key = None
    with contextlib.suppress(Exception):
        key, _ = _b64(fields.get("key"), "key")
    readable = {name: fields.get(name) for name in ("partition", "offset")}
    return KafkaMessage(
        topic=str(fields.get("topic") or topic or batch_key),
        partition=readable["partition"] if _is_index(readable["partition"]) else _int_or(partition, -1),
        offset=readable["offset"] if _is_index(readable["offset"]) else -1,
        timestamp_ms=None,
        key=key,
        value=_raw(record),
        problem=problem,
        event_place=(batch_key, index),
    )


def _is_index(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _int_or(text: str, default: int) -> int:
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else default
