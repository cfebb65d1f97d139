"""Faults injected at the AWS API level, on the boto3 clients the processor created (botocore event hooks)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError


def throttle_sns_entries(sns_client: Any, should_fail: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """Make PublishBatch report the chosen entries as Throttled, as SNS does per entry; the rest are published.

    Returns the list the throttled entries are appended to. A second call on the same client replaces the first
    injection (hypothesis runs many examples on one client); `stop_throttling_sns` removes it.
    """
    stop_throttling_sns(sns_client)
    throttled: list[dict[str, Any]] = []
    held: list[dict[str, Any]] = []

    def strip(params: dict[str, Any], **_: Any) -> None:
        entries = params["PublishBatchRequestEntries"]
        held[:] = [e for e in entries if should_fail(e)]
        keep = [e for e in entries if not should_fail(e)]
        if not keep:
            raise ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "PublishBatch")
        params["PublishBatchRequestEntries"] = keep

    def report(parsed: dict[str, Any], **_: Any) -> None:
        parsed.setdefault("Failed", []).extend(
            {"Id": e["Id"], "Code": "Throttled", "Message": "Rate exceeded", "SenderFault": False} for e in held
        )
        throttled.extend(held)

    sns_client.meta.events.register("before-parameter-build.sns.PublishBatch", strip, unique_id=_THROTTLE_STRIP)
    sns_client.meta.events.register("after-call.sns.PublishBatch", report, unique_id=_THROTTLE_REPORT)
    return throttled


_THROTTLE_STRIP = "streamlake-tests-throttle-sns-strip"
_THROTTLE_REPORT = "streamlake-tests-throttle-sns-report"


def stop_throttling_sns(sns_client: Any) -> None:
    """Remove what `throttle_sns_entries` injected on this client (nothing happens if it injected nothing)."""
    sns_client.meta.events.unregister("before-parameter-build.sns.PublishBatch", unique_id=_THROTTLE_STRIP)
    sns_client.meta.events.unregister("after-call.sns.PublishBatch", unique_id=_THROTTLE_REPORT)


def fail_operation(client: Any, operation: str, code: str = "SlowDown") -> Callable[[], None]:
    """Make every call of `operation` (e.g. "s3.PutObject") fail with `code`; returns a function that heals it."""

    def raise_error(**_: Any) -> None:
        raise ClientError({"Error": {"Code": code, "Message": f"injected {code}"}}, operation.split(".")[1])

    event = f"before-call.{operation}"
    client.meta.events.register(event, raise_error)
    return lambda: client.meta.events.unregister(event, raise_error)
