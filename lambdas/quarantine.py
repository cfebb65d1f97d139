"""Quarantine: where records that break the event contract go, with everything needed to look at them or replay them.

The processor (Kinesis records) and the Kafka bridge (Kafka messages) both write here, one object per invocation:

    quarantine/stage=<processor|bridge>/year=YYYY/month=MM/day=DD/hour=HH/<digest>.jsonl.gz

Each line is one rejected record: the original bytes (base64, so nothing is lost or re-encoded), the Kafka key if
the message had one (`key_base64`), the reason, the field at fault, and the record's position at its source
(Kinesis shard + sequence number, or Kafka topic + partition + offset). The object name is a digest of the
positions it holds, so a retried batch overwrites its own object instead of adding a second copy; `read_objects`
also drops repeats across objects (bisected retries).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

PREFIX = "quarantine/"
STAGES: tuple[str, ...] = ("processor", "bridge")
PREVIEW_CHARACTERS = 200


@dataclass(frozen=True)
class QuarantinedRecord:
    """A rejected record; `position` identifies it at its source and is unique per stage."""

    data: bytes
    reason: str
    field: str | None
    position: dict[str, Any]
    # The Kafka message key, when the message had one: all a tombstone (a message without value) carries.
    key: bytes | None = None

    def to_line(self, quarantined_at: datetime) -> str:
        extra = {} if self.key is None else {"key_base64": base64.b64encode(self.key).decode("ascii")}
        return json.dumps(
            {
                **extra,
                "reason": self.reason,
                "field": self.field,
                "position": self.position,
                "quarantined_at": quarantined_at.astimezone(UTC).isoformat(timespec="milliseconds"),
                "size_bytes": len(self.data),
                "preview": self.data[:PREVIEW_CHARACTERS].decode("utf-8", errors="replace"),
                "data_base64": base64.b64encode(self.data).decode("ascii"),
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )


def object_key(stage: str, records: Iterable[QuarantinedRecord], now: datetime) -> str:
    """Deterministic key for one invocation's rejected records (same records, same hour -> same key)."""
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
    digest = hashlib.sha256()
    for record in records:
        digest.update(json.dumps(record.position, sort_keys=True).encode("utf-8"))
    moment = now.astimezone(UTC)
    return (
        f"{PREFIX}stage={stage}/year={moment:%Y}/month={moment:%m}/day={moment:%d}/hour={moment:%H}/"
        f"{digest.hexdigest()[:32]}.jsonl.gz"
    )


def object_body(records: Iterable[QuarantinedRecord], now: datetime) -> bytes:
    """GZIP JSON lines; mtime 0 so the same records always give the same bytes."""
    text = "".join(record.to_line(now) + "\n" for record in records)
    return gzip.compress(text.encode("utf-8"), mtime=0)


def read_objects(bodies: Iterable[bytes]) -> list[dict[str, Any]]:
    """Every quarantined record in these objects, once per source position, with `data` decoded back to bytes."""
    seen: set[str] = set()
    records = []
    for body in bodies:
        text = gzip.decompress(body).decode("utf-8") if body[:2] == b"\x1f\x8b" else body.decode("utf-8")
        for line in text.split("\n"):
            if not line.strip():
                continue
            record = json.loads(line)
            key = json.dumps(record["position"], sort_keys=True)
            if key in seen:
                continue
            seen.add(key)
            record["data"] = base64.b64decode(record["data_base64"])
            if "key_base64" in record:
                record["key"] = base64.b64decode(record["key_base64"])
            records.append(record)
    return records
