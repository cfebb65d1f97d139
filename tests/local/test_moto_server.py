"""local.moto_server: calls answered in-process match the same server's answers over HTTP, and its moto patches keep
what AWS documents (SNS envelope signatures)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import urllib3
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from local.moto_server import FAKE_CREDENTIALS, REGION, MotoServer

KEY = "raw/naïve key with spaces/100%25 & a+b=c?.json"
METADATA = {"my_key": "underscored", "other-key": "dashed", "unicode": "x"}


@pytest.fixture(scope="module")
def server() -> Iterator[MotoServer]:
    server = MotoServer()
    server.start()
    yield server
    server.stop()


def _client(service: str, url: str) -> Any:
    credentials = {
        "aws_access_key_id": FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "aws_session_token": FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
    }
    return boto3.client(service, endpoint_url=url, region_name=REGION, **credentials)


@pytest.fixture(scope="module")
def both(server: MotoServer) -> dict[str, str]:
    """The server's own URL (answered in this process) and the same server by another name (sent over HTTP)."""
    port = server.endpoint.url.rsplit(":", 1)[1]
    return {"in_process": server.endpoint.url, "http": f"http://localhost:{port}"}


@pytest.fixture
def http_requests(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    sent: list[str] = []
    urlopen = urllib3.connectionpool.HTTPConnectionPool.urlopen

    def counting(pool: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        sent.append(f"{method} {pool.host}:{pool.port}{url}")
        return urlopen(pool, method, url, *args, **kwargs)

    monkeypatch.setattr(urllib3.connectionpool.HTTPConnectionPool, "urlopen", counting)
    return sent


def _without_transport(response: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


def test_calls_to_the_servers_own_url_never_go_over_http_and_other_names_still_do(both, http_requests):
    # GIVEN clients for the same server under its own URL and under another host name
    # WHEN each lists buckets
    _client("s3", both["in_process"]).list_buckets()
    assert http_requests == []
    _client("s3", both["http"]).list_buckets()
    # THEN only the second one opened an HTTP request
    assert len(http_requests) == 1 and http_requests[0].startswith("GET localhost:")


def test_s3_objects_round_trip_alike_in_process_and_over_http(both):
    # GIVEN a bucket, and an object written in-process whose key needs escaping and whose metadata has underscores
    in_process, http = _client("s3", both["in_process"]), _client("s3", both["http"])
    in_process.create_bucket(Bucket="roundtrip")
    body = "é\n".encode() * 50_000
    in_process.put_object(Bucket="roundtrip", Key=KEY, Body=body, Metadata=METADATA, ContentType="text/plain")
    http.put_object(Bucket="roundtrip", Key=KEY + ".copy", Body=body, Metadata=METADATA, ContentType="text/plain")
    for client in (in_process, http):
        for key in (KEY, KEY + ".copy"):
            # THEN either way of asking reads back the same bytes, metadata and headers, whoever wrote it
            got = client.get_object(Bucket="roundtrip", Key=key)
            assert got["Body"].read() == body
            assert got["Metadata"] == METADATA
            assert got["ContentType"] == "text/plain" and got["ContentLength"] == len(body)
            head = client.head_object(Bucket="roundtrip", Key=key)
            assert head["ContentLength"] == len(body) and head["ETag"] == got["ETag"]
        listed = client.list_objects_v2(Bucket="roundtrip")["Contents"]
        assert sorted(o["Key"] for o in listed) == [KEY, KEY + ".copy"]
    # AND a streamed read in chunks works in-process as it does over HTTP
    streamed = in_process.get_object(Bucket="roundtrip", Key=KEY)["Body"]
    assert b"".join(streamed.iter_chunks(chunk_size=4096)) == body


@pytest.mark.parametrize("call", ["get_object", "head_object"])
def test_errors_are_the_same_in_process_and_over_http(both, call):
    answers = []
    for url in (both["in_process"], both["http"]):
        client = _client("s3", url)
        client.create_bucket(Bucket="errors")
        with pytest.raises(ClientError) as raised:
            getattr(client, call)(Bucket="errors", Key="missing")
        answers.append(
            (raised.value.response["Error"]["Code"], raised.value.response["ResponseMetadata"]["HTTPStatusCode"])
        )
    assert answers[0] == answers[1] and answers[0][1] == 404


def test_kinesis_and_sqs_answers_match(both):
    in_process, http = _client("kinesis", both["in_process"]), _client("kinesis", both["http"])
    in_process.create_stream(StreamName="alike", ShardCount=1)
    entries = [{"Data": json.dumps({"n": i, "ü": "ø"}).encode(), "PartitionKey": f"k{i}"} for i in range(20)]
    assert in_process.put_records(StreamName="alike", Records=entries)["FailedRecordCount"] == 0
    read = []
    for client in (in_process, http):
        shard = client.list_shards(StreamName="alike")["Shards"][0]["ShardId"]
        iterator = client.get_shard_iterator(StreamName="alike", ShardId=shard, ShardIteratorType="TRIM_HORIZON")
        records = client.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
        read.append(
            [(r["Data"], r["PartitionKey"], r["SequenceNumber"], r["ApproximateArrivalTimestamp"]) for r in records]
        )
    assert read[0] == read[1] and [r[0] for r in read[0]] == [e["Data"] for e in entries]

    sqs_in, sqs_http = _client("sqs", both["in_process"]), _client("sqs", both["http"])
    url = sqs_in.create_queue(QueueName="alike")["QueueUrl"]
    sqs_http.send_message(
        QueueUrl=url, MessageBody="over http", MessageAttributes={"a": {"DataType": "String", "StringValue": "1"}}
    )
    got = sqs_in.receive_message(QueueUrl=url, MessageAttributeNames=["All"], WaitTimeSeconds=0)["Messages"]
    assert [(m["Body"], m["MessageAttributes"]["a"]["StringValue"]) for m in got] == [("over http", "1")]


def test_sns_notifications_to_sqs_are_signed_with_one_published_certificate(both):
    # GIVEN a topic delivering to a queue in the SNS envelope (not raw)
    sns, sqs = _client("sns", both["in_process"]), _client("sqs", both["in_process"])
    topic = sns.create_topic(Name="signed")["TopicArn"]
    queue = sqs.create_queue(QueueName="signed")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    # WHEN two messages are published, one with a subject
    sns.publish(TopicArn=topic, Message="first ✓", Subject="Alert: hot")
    sns.publish(TopicArn=topic, Message="second")
    envelopes = [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]]
    assert sorted(e["Message"] for e in envelopes) == ["first ✓", "second"]
    # THEN both name the same signing certificate, which moto serves, and each signature verifies against it as
    # SNS documents (SignatureVersion 2: SHA256 over the Notification's fields, Subject when present)
    assert len({e["SigningCertURL"] for e in envelopes}) == 1
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    pem = sns_backends[DEFAULT_ACCOUNT_ID][REGION]._message_public_keys[
        envelopes[0]["SigningCertURL"].rsplit("/", 1)[1]
    ]
    public_key = x509.load_pem_x509_certificate(pem).public_key()
    for envelope in envelopes:
        fields = (
            ["Message", "MessageId"]
            + (["Subject"] if "Subject" in envelope else [])
            + ["Timestamp", "TopicArn", "Type"]
        )
        signed = "".join(f"{name}\n{envelope[name]}\n" for name in fields).encode()
        assert envelope["SignatureVersion"] == "2"
        public_key.verify(base64.b64decode(envelope["Signature"]), signed, padding.PKCS1v15(), hashes.SHA256())
    assert next(e for e in envelopes if e["Message"] == "first ✓")["Subject"] == "Alert: hot"
