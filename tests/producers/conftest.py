"""Fixtures of the producer tests: one moto server for the package, fresh streams per test, a fake clock."""

from __future__ import annotations

import itertools
import os
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from local.moto_server import FAKE_CREDENTIALS, REGION, MotoEndpoint, running_moto


class FakeClock:
    """Time that only moves when someone sleeps: pacing and backoff become exact and instant."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += max(0.0, seconds)

    def wait(self, event: threading.Event, seconds: float) -> bool:
        self.sleep(seconds)
        return event.is_set()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoEndpoint]:
    # Not exported to os.environ: other test packages in the same run must not be pointed at this server.
    with running_moto(set_environment=False) as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def kinesis(moto: MotoEndpoint) -> Any:
    return boto3.client(
        "kinesis",
        endpoint_url=moto.url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


_names = itertools.count()


def create_stream(kinesis: Any, shards: int = 1) -> str:
    """A new, active stream with a unique name."""
    name = f"producer-test-{next(_names)}-{uuid.uuid4().hex[:6]}"
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})
    return name


@pytest.fixture
def stream(kinesis: Any) -> str:
    return create_stream(kinesis)


def read_stream(kinesis: Any, stream: str) -> dict[str, list[tuple[str, bytes]]]:
    """Every record of every shard, in shard order: {shard_id: [(partition_key, data), ...]}."""
    shards = kinesis.list_shards(StreamName=stream)["Shards"]
    result: dict[str, list[tuple[str, bytes]]] = {}
    for shard in shards:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records: list[tuple[str, bytes]] = []
        while iterator:
            response = kinesis.get_records(ShardIterator=iterator, Limit=10000)
            records.extend((r["PartitionKey"], r["Data"]) for r in response["Records"])
            if not response["Records"]:
                break
            iterator = response.get("NextShardIterator")
        result[shard["ShardId"]] = records
    return result


def all_records(kinesis: Any, stream: str) -> list[tuple[str, bytes]]:
    return [record for records in read_stream(kinesis, stream).values() for record in records]


def subprocess_env(moto: MotoEndpoint | None = None, **extra: str) -> dict[str, str]:
    """Environment for a producer subprocess: no real AWS configuration leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    if moto is not None:
        env.update(FAKE_CREDENTIALS, AWS_DEFAULT_REGION=REGION)
    env.update(extra)
    return env
