"""moto's server in this process, on a free loopback port, with the fixes local mode needs.

moto keeps each Kinesis shard as an ordered dict of consecutive integer sequence numbers, but finds the last one by
copying every key (`Shard.get_max_sequence_number`) and scans from the first record on every GetRecords, so both
PutRecords and GetRecords slow down as the stream grows. `patch_moto_kinesis` makes both proportional to the work
asked for, and serialises writes to a shard, which moto's threaded server otherwise races on. It also writes the
GetRecords and PutRecords answers directly: moto's generic serializer walked the API model for every field of every
record (and decoded each record's base64 data to encode it again), about 10 % of local mode's CPU with two readers
and a producer on a busy shard; the JSON is the same.

`patch_moto_server`: to find the service of each request, moto's dispatcher listed its own package directory (about
150 `isdir` calls) under a lock shared by every request: 5.5 % of local mode's CPU at the shard's write limit. The
list cannot change while the process runs, so it is kept.

`patch_moto_sns`: moto wraps every SNS message it delivers to an SQS queue (how local mode's mailbox receives the
alert e-mails) in the signed JSON envelope SNS uses, but made and signed a new X.509 certificate for each message
and kept all of them: two RSA signatures per alert, 70 % of an alert's cost. SNS signs with one certificate for many
messages; so does the patch, one per subscription, and it signs the fields SNS documents (Subject included).

`SnsEmail` (issue 20): moto accepts e-mail subscriptions but delivers nothing to them. Local mode subscribes the
recipients by e-mail, as the deployed stack does, and `SnsEmail` hands each notification for such a subscription to
the callback registered for its topic (local.mailbox's inbox), after moto's own filter-policy check. E-mail used to
go through an SQS queue subscribed to every topic: an envelope signed per message, then SQS send, receive and
delete, about 15 % of local mode's CPU at a shard's rate of alerts.

`patch_moto_sqs`: before returning each message, moto's ReceiveMessage checked its retention period by computing all
the queue's attributes, which counts the queue's messages: quadratic in the queue's length, so a mailbox that fell
behind fell further behind. The patch reads the one attribute.

In-process calls: local mode's own clients (the event source mapping, the handlers it invokes, Firehose, alarms,
mailbox, a producer started in this process) run in the same process as moto. Sent over loopback HTTP, every call
crossed two threads and a fresh TCP connection (werkzeug's server closes each one), and under the GIL each hand-off
waited for whichever thread held it: at the shard's write limit the processor spent half its time waiting for
SNS and CloudWatch answers. `InProcessRoutes` hands a request for a running server's URL straight to that server's
WSGI application on the calling thread, with the environ werkzeug's request handler would have built, and returns
the answer as botocore's HTTP layer would. Everything above the HTTP layer is unchanged: serialisation, signing,
botocore's retries and event hooks (where the fault injections of the tests live), moto's routing and responses.
Other processes, and anything not using botocore, still reach the server over HTTP.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import os
import socket
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}

_patch_lock = threading.Lock()


def _once(patch: Callable[[], None]) -> Callable[[], None]:
    """Apply `patch` the first time the returned function is called, under the patch lock; later calls do nothing."""
    applied = False

    @functools.wraps(patch)
    def apply() -> None:
        nonlocal applied
        with _patch_lock:
            if not applied:
                patch()
                applied = True

    return apply


class KinesisRetention:
    """How long local mode's Kinesis shards keep records (moto keeps every record forever). A put trims the records
    older than this from the front of its shard, as Kinesis's retention period does; sequence numbers never change,
    so a consumer's iterator stays valid: one that points before the trimmed front reads on from the oldest record
    kept (what a Kinesis iterator into expired data gets). None keeps everything. local.stack sets it per stack
    (`LocalOptions.stream_retention_seconds`); moto's state is per process, so it is one setting per process."""

    seconds: float | None = None


def trim_expired(shard: Any, now: float) -> int:
    """Drop the shard's records that arrived more than `KinesisRetention.seconds` before `now` (moto's clock);
    returns how many. Call with the shard's write lock held."""
    retention = KinesisRetention.seconds
    if retention is None:
        return 0
    records = shard.records
    cutoff = now - retention
    trimmed = 0
    # The newest record stays even when expired: moto derives the next sequence number from the dict otherwise.
    while len(records) > 1:
        first = next(iter(records))
        if records[first].created_at >= cutoff:
            break
        del records[first]
        trimmed += 1
    return trimmed


@_once
def patch_moto_kinesis() -> None:
    """Make moto's Kinesis shard O(1) to append and O(batch) to read, and give it a retention. Idempotent."""
    from moto.core.utils import unix_time
    from moto.kinesis.models import Shard
    from moto.kinesis.responses import KinesisResponse

    original_put = Shard.put_record
    shard_locks: dict[int, threading.Lock] = {}

    def get_max_sequence_number(self: Shard) -> int:
        return next(reversed(self.records)) if self.records else 0

    def get_min_sequence_number(self: Shard) -> int:
        return next(iter(self.records)) if self.records else 0

    def put_record(self: Shard, *args: object, **kwargs: object) -> str:
        lock = shard_locks.setdefault(id(self), threading.Lock())
        with lock:
            sequence_number = original_put(self, *args, **kwargs)
            trim_expired(self, unix_time())
            return sequence_number

    def get_records(self: Shard, last_sequence_id: str, limit: int | None) -> tuple[list, int, int]:
        # Sequence numbers in a moto shard are consecutive integers, so the next record is a dict lookup. A position
        # before the oldest record kept (trimmed by the retention) reads on from that record.
        records = self.records
        position = int(last_sequence_id)
        if records:
            position = max(position, next(iter(records)) - 1)
        results = []
        while limit is None or len(results) < limit:
            record = records.get(position + 1)
            if record is None:
                break
            results.append(record)
            position += 1
        behind = 0
        if results and records:
            newest = records.get(next(reversed(records)), results[-1])
            behind = int((newest.created_at - results[-1].created_at) * 1000)
        return results, position, behind

    def get_records_response(self: KinesisResponse) -> tuple[int, dict[str, str], str]:
        next_iterator, records, behind = self.kinesis_backend.get_records(
            self._get_param("StreamARN"), self._get_param("ShardIterator"), self._get_param("Limit")
        )
        body = {
            "Records": [
                {
                    "SequenceNumber": str(record.sequence_number),
                    # moto's serializer truncates to milliseconds, as the Smithy spec says
                    "ApproximateArrivalTimestamp": int(record.created_at * 1000) / 1000,
                    "Data": record.data,  # kept base64-encoded, as PutRecords received it
                    "PartitionKey": record.partition_key,
                }
                for record in records
            ],
            "NextShardIterator": next_iterator,
            "MillisBehindLatest": behind,
        }
        return 200, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(body)

    def put_records_response(self: KinesisResponse) -> tuple[int, dict[str, str], str]:
        answer = self.kinesis_backend.put_records(
            self._get_param("StreamARN"), self._get_param("StreamName"), self._get_param("Records")
        )
        body = {
            "FailedRecordCount": answer["FailedRecordCount"],
            "Records": [{key: str(value) for key, value in entry.items()} for entry in answer["Records"]],
        }
        return 200, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(body)

    KinesisResponse.get_records = get_records_response
    KinesisResponse.put_records = put_records_response
    Shard.get_max_sequence_number = get_max_sequence_number
    Shard.get_min_sequence_number = get_min_sequence_number
    Shard.put_record = put_record
    Shard.get_records = get_records


@_once
def patch_moto_server() -> None:
    """List moto's service packages once instead of on every request. Idempotent."""
    from moto import backends

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules


class _Body(io.BytesIO):
    """A whole response body, readable as botocore reads urllib3's: `read(amt)` for streams, `stream()` otherwise."""

    def stream(self, amt: int = 2**16, **_: Any) -> Iterator[bytes]:
        while chunk := self.read(amt):
            yield chunk


def _request_body(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    return body.read()  # a file-like body (an S3 upload): botocore rewinds it itself before a retry


def wsgi_environ(request: Any, body: bytes) -> dict[str, Any]:
    """The environ werkzeug's request handler (with moto's `MotoRequestHandler` changes) builds for this request."""
    from moto.core.request import (
        PRESERVED_HEADER_NAMES_ENVIRON_KEY,
        environ_key_for_header,
        should_preserve_original_header_name,
    )
    from werkzeug._internal import _wsgi_encoding_dance

    url = urlsplit(request.url)
    raw_path = url.path + (f"?{url.query}" if url.query else "")
    host, _, port = url.netloc.partition(":")
    environ: dict[str, Any] = {
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": url.scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": _wsgi_encoding_dance(unquote(url.path)),
        "QUERY_STRING": _wsgi_encoding_dance(url.query),
        "REQUEST_URI": _wsgi_encoding_dance(raw_path),
        "RAW_URI": _wsgi_encoding_dance(raw_path),
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": 0,
        "SERVER_NAME": host,
        "SERVER_PORT": port or ("443" if url.scheme == "https" else "80"),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": url.netloc,
        "CONTENT_LENGTH": str(len(body)),  # the whole body is here, however it would have been framed on the wire
    }
    headers = [
        (name, value.decode("latin-1") if isinstance(value, bytes) else str(value))
        for name, value in request.headers.items()
        if name.lower() not in ("host", "content-length", "transfer-encoding")
    ]
    for name, value in headers:
        if "_" in name:
            continue
        key = name.upper().replace("-", "_")
        value = value.replace("\r\n", "")
        if key != "CONTENT_TYPE":
            key = f"HTTP_{key}"
            if key in environ:
                value = f"{environ[key]},{value}"
        environ[key] = value
    # moto keeps header names with underscores (S3 metadata keys), which plain WSGI cannot tell from dashes.
    dashed = {environ_key_for_header(name) for name, _ in headers if "_" not in name}
    names: dict[str, str] = {}
    values: dict[str, list[str]] = {}
    for name, value in headers:
        if not should_preserve_original_header_name(name):
            continue
        key = environ_key_for_header(name)
        if key in dashed:
            continue
        names.setdefault(key, name)
        values.setdefault(key, []).append(value.replace("\r\n", ""))
    for key, key_values in values.items():
        environ[key] = ",".join(key_values)
    environ[PRESERVED_HEADER_NAMES_ENVIRON_KEY] = names
    return environ


def call_wsgi(app: Callable[..., Any], request: Any) -> Any:
    """Send one botocore request to a WSGI app; the answer as botocore's `URLLib3Session.send` returns one."""
    from botocore.awsrequest import AWSResponse
    from urllib3 import HTTPHeaderDict

    environ = wsgi_environ(request, _request_body(request.body))
    answer: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        answer["status"] = int(status.split(" ", 1)[0])
        answer["headers"] = HTTPHeaderDict(response_headers)

    try:
        chunks = app(environ, start_response)
        try:
            body = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
    except Exception:  # noqa: BLE001 - what werkzeug's server answers when the application raises
        logging.getLogger("werkzeug").exception("Error on request %s %s", request.method, request.url)
        answer = {"status": 500, "headers": HTTPHeaderDict({"Content-Type": "text/html; charset=utf-8"})}
        body = b"Internal Server Error"
    if request.method == "HEAD":
        body = b""
    response = AWSResponse(request.url, answer["status"], answer["headers"], _Body(body))
    if not request.stream_output:
        response.content  # noqa: B018 - read now, as botocore does for a non-streaming answer
    return response


class InProcessRoutes:
    """Which server URLs this process answers itself: botocore's `URLLib3Session.send` is wrapped once, and looks
    each request's scheme://host:port up here; anything else goes out over HTTP as before."""

    _apps: dict[str, Callable[..., Any]] = {}
    _installed = False

    @classmethod
    def add(cls, url: str, app: Callable[..., Any]) -> None:
        with _patch_lock:
            cls._install()
            cls._apps = {**cls._apps, url.rstrip("/"): app}

    @classmethod
    def remove(cls, url: str) -> None:
        with _patch_lock:
            cls._apps = {k: v for k, v in cls._apps.items() if k != url.rstrip("/")}

    @classmethod
    def _install(cls) -> None:
        if cls._installed:
            return
        from botocore.httpsession import URLLib3Session

        over_http = URLLib3Session.send

        def send(session: URLLib3Session, request: Any) -> Any:
            app = cls._apps.get(request.url[: request.url.find("/", 8)]) if cls._apps else None
            if app is None:
                return over_http(session, request)
            return call_wsgi(app, request)

        URLLib3Session.send = send
        cls._installed = True


@_once
def patch_moto_sqs() -> None:
    """ReceiveMessage's per-message retention check reads the retention period only. Idempotent."""
    from moto.core.utils import unix_time
    from moto.sqs.models import Message, SQSBackend

    def is_message_valid_based_on_retention_period(self: SQSBackend, queue_name: str, message: Message) -> bool:
        retention_period = int(self.get_queue(queue_name).message_retention_period)
        return retention_period + message.sent_timestamp / 1000 > unix_time()

    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period


# CloudWatch datapoints local mode keeps: longer than any alarm's window (periods x evaluation periods). moto keeps
# every datapoint forever and scans them all for each GetMetricStatistics, so without this `python -m local up`
# grew by ~100 datapoints a second at a shard's rate and its alarm evaluation slowed down with it.
# Three times the longest alarm window (5 minutes; streamlake/alarms.py). At 200 records/s the runners put about
# 2,900 datapoints a minute, each a Python object in moto: three hours of them would be over half a million.
METRIC_RETENTION = timedelta(minutes=15)
METRIC_PRUNE_EVERY = 5_000  # datapoints put between two prunes (a prune is one pass over the list)
_metric_lock = threading.Lock()


def recent_datapoints(datapoints: list[Any], cutoff: datetime) -> list[Any]:
    """The datapoints whose timestamp is at or after `cutoff` (a naive timestamp is UTC, as moto's own are)."""

    def moment(datapoint: Any) -> datetime:
        stamp = datapoint.timestamp
        if isinstance(stamp, str):
            stamp = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)

    return [d for d in datapoints if moment(d) >= cutoff]


@_once
def patch_moto_cloudwatch() -> None:
    """PutMetricData drops datapoints older than METRIC_RETENTION every METRIC_PRUNE_EVERY datapoints. Idempotent."""
    from moto.cloudwatch.models import CloudWatchBackend

    original = CloudWatchBackend.put_metric_data

    def put_metric_data(self: CloudWatchBackend, namespace: str, metric_data: list[dict[str, Any]]) -> None:
        # Serialised with the prune: an append to the list being replaced would be lost.
        with _metric_lock:
            original(self, namespace, metric_data)
            added = getattr(self, "_streamlake_added", 0) + len(metric_data)
            if added >= METRIC_PRUNE_EVERY:
                self.metric_data = recent_datapoints(self.metric_data, datetime.now(UTC) - METRIC_RETENTION)
                added = 0
            self._streamlake_added = added

    CloudWatchBackend.put_metric_data = put_metric_data


def sweep_expired_items(now: float, expires_before: Callable[[str, float], float] | None = None) -> int:
    """Delete the items of moto's DynamoDB tables (this process, every account and region) whose TTL attribute is
    before `now`, as DynamoDB's TTL does (moto never does): the window-metrics table otherwise kept every window
    and the processor's de-duplication table every alert. `expires_before(table, now)` may move a table's cutoff
    (local.stack shortens the de-duplication table's, see there). Safe while other threads use the tables."""
    from moto.dynamodb.models import dynamodb_backends

    deleted = 0
    for account in list(dynamodb_backends.keys()):
        for region in list(dynamodb_backends[account].keys()):
            for name, table in list(dynamodb_backends[account][region].tables.items()):
                ttl = getattr(table, "ttl", None) or {}
                attribute = ttl.get("AttributeName")
                if ttl.get("TimeToLiveStatus") != "ENABLED" or not attribute:
                    continue
                cutoff = expires_before(name, now) if expires_before else now
                deleted += _sweep_table(table, attribute, cutoff)
    return deleted


def _expired(item: Any, attribute: str, cutoff: float) -> bool:
    value = item.attrs.get(attribute)
    if value is None or value.type != "N":
        return False  # DynamoDB's TTL ignores items without a numeric TTL attribute
    try:
        return float(value.value) < cutoff
    except ValueError:
        return False


def _sweep_table(table: Any, attribute: str, cutoff: float) -> int:
    deleted = 0
    # Snapshots (one C call each) then pops: another thread may be writing the table meanwhile.
    for hash_key, entry in list(table.items.items()):
        if table.has_range_key:
            for range_key, item in list(entry.items()):
                if _expired(item, attribute, cutoff):
                    entry.pop(range_key, None)
                    deleted += 1
            if not entry:
                table.items.pop(hash_key, None)
        elif _expired(entry, attribute, cutoff):
            table.items.pop(hash_key, None)
            deleted += 1
    return deleted


CERTIFICATE_ATTRIBUTE = "_streamlake_signing_certificate"


@_once
def patch_moto_sns() -> None:
    """One signing certificate per SNS subscription instead of one per message. Idempotent."""
    import base64

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.x509.oid import NameOID
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.core.utils import iso_8601_datetime_with_milliseconds, utcnow
    from moto.sns.models import Subscription, sns_backends

    lock = threading.Lock()

    def certificate(subscription: Subscription) -> str:
        """The key name the subscription's certificate is published under, kept on the subscription itself (it goes
        when moto's state is reset, with the certificate it names)."""
        with lock:
            name: str | None = getattr(subscription, CERTIFICATE_ATTRIBUTE, None)
            if name is not None:
                return name
            key = subscription.private_key()
            issuer = [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Amazon"),
                x509.NameAttribute(NameOID.COMMON_NAME, "Amazon RSA 2048 M01"),
            ]
            cert = (
                x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")]))
                .issuer_name(x509.Name(issuer))
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(utcnow())
                .not_valid_after(utcnow() + timedelta(days=365))
                .sign(key, hashes.SHA256())
            )
            name = f"SimpleNotificationService-{uuid.uuid4().hex}.pem"
            # Served, as SNS does, to an unsigned GET on the region's endpoint (moto's default account holds it).
            backend = sns_backends[DEFAULT_ACCOUNT_ID][subscription.topic.sns_backend.region_name]
            backend._message_public_keys[name] = cert.public_bytes(serialization.Encoding.PEM)
            setattr(subscription, CERTIFICATE_ATTRIBUTE, name)
            return name

    def get_post_data(
        self: Subscription,
        message: str,
        message_id: str,
        subject: str | None,
        message_attributes: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        key_name = certificate(self)
        region = self.topic.sns_backend.region_name
        timestamp = iso_8601_datetime_with_milliseconds()
        signed = [("Message", message), ("MessageId", message_id)]
        signed += [("Subject", subject)] if subject else []
        signed += [("Timestamp", timestamp), ("TopicArn", self.topic.arn), ("Type", "Notification")]
        string_to_sign = "".join(f"{name}\n{value}\n" for name, value in signed)
        signature = self.private_key().sign(string_to_sign.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
        post_data: dict[str, Any] = {
            "Type": "Notification",
            "MessageId": message_id,
            "TopicArn": self.topic.arn,
            "Message": message,
            "Timestamp": timestamp,
            "SignatureVersion": "2",
            "Signature": base64.b64encode(signature).decode("ascii"),
            "SigningCertURL": f"https://sns.{region}.amazonaws.com/{key_name}",
            "UnsubscribeURL": f"https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={self.arn}",
        }
        if subject:
            post_data["Subject"] = subject
        if message_attributes:
            post_data["MessageAttributes"] = message_attributes
        return post_data

    Subscription.get_post_data = get_post_data


EMAIL_PROTOCOLS = ("email", "email-json")


class SnsEmail:
    """Where moto delivers notifications for e-mail subscriptions: a callback per topic ARN (register with
    `deliver_to`), called on the publishing thread with a `local.mailbox.Notification`. A callback that raises makes
    the publish fail (moto answers 500), so the publisher retries; topics without a callback deliver nothing, as
    moto does."""

    _callbacks: dict[str, Callable[[Any], None]] = {}

    @classmethod
    def deliver_to(cls, topic_arn: str, callback: Callable[[Any], None]) -> None:
        patch_moto_sns_email()
        with _patch_lock:
            cls._callbacks = {**cls._callbacks, topic_arn: callback}

    @classmethod
    def remove(cls, topic_arn: str) -> None:
        with _patch_lock:
            cls._callbacks = {k: v for k, v in cls._callbacks.items() if k != topic_arn}

    @classmethod
    def callback(cls, topic_arn: str) -> Callable[[Any], None] | None:
        return cls._callbacks.get(topic_arn)


# Notifications moto keeps per topic for inspection (Topic.sent_notifications, an internal test API): every alert
# otherwise stayed in memory for as long as `python -m local up` ran.
KEEP_SENT_NOTIFICATIONS = 1000


@_once
def patch_moto_sns_topic_history() -> None:
    """Each topic keeps its last KEEP_SENT_NOTIFICATIONS notifications instead of all of them. Idempotent."""
    from collections import deque

    from moto.sns.models import Topic

    original_init = Topic.__init__

    def init(self: Topic, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.sent_notifications = deque(self.sent_notifications, maxlen=KEEP_SENT_NOTIFICATIONS)

    Topic.__init__ = init


@_once
def patch_moto_sns_email() -> None:
    """E-mail subscriptions deliver to `SnsEmail`'s callbacks. Idempotent."""
    from moto.sns.models import Subscription

    from local.mailbox import Notification

    original = Subscription.publish

    def publish(
        self: Subscription,
        message: str,
        message_id: str,
        subject: str | None = None,
        message_attributes: dict[str, Any] | None = None,
        group_id: str | None = None,
        deduplication_id: str | None = None,
        message_structure: str | None = None,
    ) -> None:
        callback = SnsEmail.callback(self.topic.arn) if self.protocol in EMAIL_PROTOCOLS else None
        if callback is None:
            original(
                self, message, message_id, subject, message_attributes, group_id, deduplication_id, message_structure
            )
            return
        # What moto's publish does first for every protocol: the subscription's filter policy, the per-protocol
        # message of a JSON message structure.
        if self._filter_policy_matcher is not None and not self._filter_policy_matcher.matches(
            message_attributes, message
        ):
            return
        if message_structure == "json":
            message = self._parse_message_structure(message, self.protocol)
        callback(Notification(self.topic.arn, self.endpoint, subject, message, message_id, datetime.now(UTC)))

    Subscription.publish = publish


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class MotoEndpoint:
    url: str

    def environment(self) -> dict[str, str]:
        """Variables that point boto3 (ours, the handlers', a producer's) at this endpoint."""
        return {"AWS_ENDPOINT_URL": self.url, "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, **FAKE_CREDENTIALS}


class MotoServer:
    """Start with `start()`, stop with `stop()`; `endpoint.url` is where AWS clients must go."""

    def __init__(self, port: int | None = None, in_process: bool = True) -> None:
        from moto.server import ThreadedMotoServer

        patch_moto_kinesis()
        patch_moto_server()
        patch_moto_sns()
        patch_moto_sns_topic_history()
        patch_moto_sqs()
        patch_moto_cloudwatch()
        # Port 0 unless one is asked for: the server binds a free port itself, so no other process can take it
        # between choosing and binding (free_port()'s race); `start()` reads the port it got.
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port or 0, verbose=False)
        self.endpoint = MotoEndpoint(f"http://127.0.0.1:{port or 0}")
        self._in_process = in_process

    def start(self) -> MotoEndpoint:
        # One access-log line per API call would drown everything a person wants to see.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server.start()
        _, bound_port = self._server.get_host_and_port()
        self.endpoint = MotoEndpoint(f"http://127.0.0.1:{bound_port}")
        if self._in_process:
            InProcessRoutes.add(self.endpoint.url, self._server._server.app)
        return self.endpoint

    def stop(self) -> None:
        """Stop serving and forget every resource: moto keeps state in this process, and a stopped server's state
        must not leak into the next one (a second stack in the same process would find the old stream's records)."""
        from moto.core.base_backend import BackendDict
        from moto.core.model_instances import reset_model_data

        InProcessRoutes.remove(self.endpoint.url)
        self._server.stop()
        BackendDict.reset()
        reset_model_data()


@contextmanager
def running_moto(
    port: int | None = None, set_environment: bool = True, in_process: bool = True
) -> Iterator[MotoEndpoint]:
    """moto server for the duration of the block; optionally exports the endpoint to os.environ for boto3.
    `in_process=False` sends this process's calls over HTTP too (benchmarks of clients that would use the network)."""
    server = MotoServer(port, in_process=in_process)
    endpoint = server.start()
    saved = {k: os.environ.get(k) for k in endpoint.environment()}
    if set_environment:
        os.environ.update(endpoint.environment())
    try:
        yield endpoint
    finally:
        server.stop()
        if set_environment:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
