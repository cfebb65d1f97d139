"""moto's server in this process, on a free loopback port, with the fixes local mode needs.

moto keeps each Kinesis shard as an ordered dict of consecutive integer sequence numbers, but finds the last one by
copying every key (`Shard.get_max_sequence_number`) and scans from the first record on every GetRecords, so both
PutRecords and GetRecords slow down as the stream grows. `patch_moto_kinesis` makes both proportional to the work
asked for, and serialises writes to a shard, which moto's threaded server otherwise races on.

`patch_moto_server`: to find the service of each request, moto's dispatcher listed its own package directory (about
150 `isdir` calls) under a lock shared by every request: 5.5 % of local mode's CPU at the shard's write limit. The
list cannot change while the process runs, so it is kept.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}

_patched = False
_patch_lock = threading.Lock()


def patch_moto_kinesis() -> None:
    """Make moto's Kinesis shard O(1) to append and O(batch) to read. Idempotent."""
    global _patched
    with _patch_lock:
        if _patched:
            return
        from moto.kinesis.models import Shard

        original_put = Shard.put_record
        shard_locks: dict[int, threading.Lock] = {}

        def get_max_sequence_number(self: Shard) -> int:
            return next(reversed(self.records)) if self.records else 0

        def put_record(self: Shard, *args: object, **kwargs: object) -> str:
            lock = shard_locks.setdefault(id(self), threading.Lock())
            with lock:
                return original_put(self, *args, **kwargs)

        def get_records(self: Shard, last_sequence_id: str, limit: int | None) -> tuple[list, int, int]:
            # Sequence numbers in a moto shard are consecutive integers, so the next record is a dict lookup.
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
                behind = int((records[next(reversed(records))].created_at - results[-1].created_at) * 1000)
            return results, position, behind

        Shard.get_max_sequence_number = get_max_sequence_number
        Shard.put_record = put_record
        Shard.get_records = get_records
        _patched = True


_server_patched = False


def patch_moto_server() -> None:
    """List moto's service packages once instead of on every request. Idempotent."""
    global _server_patched
    with _patch_lock:
        if _server_patched:
            return
        from moto import backends

        modules = tuple(backends.list_of_moto_modules())
        backends.list_of_moto_modules = lambda: modules
        _server_patched = True


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

    def __init__(self, port: int | None = None) -> None:
        from moto.server import ThreadedMotoServer

        patch_moto_kinesis()
        patch_moto_server()
        self._port = port or free_port()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self._port, verbose=False)
        self.endpoint = MotoEndpoint(f"http://127.0.0.1:{self._port}")

    def start(self) -> MotoEndpoint:
        # One access-log line per API call would drown everything a person wants to see.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server.start()
        return self.endpoint

    def stop(self) -> None:
        """Stop serving and forget every resource: moto keeps state in this process, and a stopped server's state
        must not leak into the next one (a second stack in the same process would find the old stream's records)."""
        from moto.core.base_backend import BackendDict
        from moto.core.model_instances import reset_model_data

        self._server.stop()
        BackendDict.reset()
        reset_model_data()


@contextmanager
def running_moto(port: int | None = None, set_environment: bool = True) -> Iterator[MotoEndpoint]:
    """moto server for the duration of the block; optionally exports the endpoint to os.environ for boto3."""
    server = MotoServer(port)
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
