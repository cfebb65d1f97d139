"""The processor handler with a bug that makes it raise mid-batch, for `LocalOptions(handler=...)`.

    flaky_handler.configure(lambda data: 2 if ... else 0)   # raise for a record the first N times (None: always)
    LocalOptions(run_dir, handler="tests.reliability.flaky_handler.handler")

When a batch holds a chosen record, the real handler first processes the records before it (their alerts go out,
their quarantine object is written), then the invocation raises, as a function that crashes part-way does. The
event source mapping then retries the batch (bisecting it), so those earlier records are processed again.
A record whose count is None makes it raise every time, until `heal()`.
"""

from __future__ import annotations

import base64
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from lambdas.processor import handler as processor

_lock = threading.Lock()
_crashes_for: Callable[[bytes], int | None] = lambda data: 0  # noqa: E731 - replaced by configure()
_healed = False
raised: Counter[str] = Counter()  # sequence number -> times the handler raised for it


class InjectedCrashError(RuntimeError):
    """The bug this handler simulates."""


def configure(crashes_for: Callable[[bytes], int | None]) -> None:
    global _crashes_for, _healed
    with _lock:
        _crashes_for, _healed = crashes_for, False
        raised.clear()


def heal() -> None:
    global _healed
    with _lock:
        _healed = True


def new_execution_environment() -> None:
    processor.new_execution_environment()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    records = event["Records"]
    for index, record in enumerate(records):
        sequence_number = record["kinesis"]["sequenceNumber"]
        with _lock:
            times = _crashes_for(base64.b64decode(record["kinesis"]["data"]))
            crash = not _healed and (times is None or raised[sequence_number] < times)
            if crash:
                raised[sequence_number] += 1
        if crash:
            if index:
                processor.handler({"Records": records[:index]}, context)
            raise InjectedCrashError(f"injected crash at record {sequence_number}")
    return processor.handler(event, context)
