"""Where every record a reliability test sent ended up: the lake, quarantine, Firehose's errors/, the DLQ, the mailbox.

Expected outcomes are computed by each test from what it sent; this module only reads what the pipeline left in the
local run directory (the lake mirror DuckDB reads) and in moto (quarantine objects, the dead-letter queue).
"""

from __future__ import annotations

import base64
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from local.mailbox import read_mailbox
from streamlake import lake


def lake_rows(run_dir: Path, columns: tuple[str, ...] = ("event_id", "family")) -> list[dict[str, Any]]:
    """Every row of the lake's tables (processed/ Parquet, all families), duplicates included."""
    processed = Path(run_dir) / "lake" / lake.PROCESSED_PREFIX
    if not any(processed.rglob("*.parquet")):
        return []
    select = ", ".join(f'"{c}"' for c in columns)
    relation = duckdb.sql(f"SELECT {select} FROM read_parquet('{processed}/**/*.parquet', hive_partitioning = true)")
    return [dict(zip(columns, row, strict=True)) for row in relation.fetchall()]


def firehose_errors(run_dir: Path, kind: str) -> list[dict[str, Any]]:
    """Firehose error records under errors/<kind>/ (processing-failed, format-conversion-failed), rawData decoded."""
    records = []
    for path in sorted((Path(run_dir) / "lake" / lake.ERRORS_PREFIX / kind).rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            for line in path.read_text(encoding="utf-8").splitlines():
                record = json.loads(line)
                record["data"] = base64.b64decode(record["rawData"])
                records.append(record)
    return records


def mail_bodies(run_dir: Path, to_prefix: str = "alerts") -> list[str]:
    """Bodies of the e-mails delivered to the alert recipients (or `to_prefix`...)."""
    return [m.get_content() for m in read_mailbox(Path(run_dir) / "mailbox.mbox") if m["To"].startswith(to_prefix)]


def dead_letters(stack: Any) -> list[dict[str, Any]]:
    """The on-failure destination's messages (the batches the event source mapping gave up on), left in the queue."""
    sqs, url = stack.clients["sqs"], stack.resources.dlq_url
    messages: dict[str, dict[str, Any]] = {}
    for _ in range(20):
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
        if not batch:
            break
        for message in batch:
            messages[message["MessageId"]] = json.loads(message["Body"])
    return list(messages.values())


@dataclass
class Tally:
    """One row of docs/reliability.md: what was sent and where it ended. `lost` must be 0."""

    fault: str
    sent: int = 0
    landed: int = 0  # distinct event_ids in the lake's tables
    quarantined: int = 0  # distinct source positions in quarantine/
    duplicates_removed: int = 0  # lake rows, quarantine lines and e-mails beyond the first per event_id / position
    retried: int = 0  # records (or calls) the pipeline had to retry because of the fault
    lost: int = 0
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "fault": self.fault,
            "sent": self.sent,
            "landed": self.landed,
            "quarantined": self.quarantined,
            "duplicates_removed": self.duplicates_removed,
            "retried": self.retried,
            "lost": self.lost,
            "notes": self.notes,
            **self.extra,
        }


def landed_once_per_event_id(rows: list[dict[str, Any]]) -> tuple[set[str], int]:
    """The distinct event_ids in `rows` and how many rows were extra copies (removed by event_id when reading)."""
    counts = Counter(row["event_id"] for row in rows)
    return set(counts), sum(counts.values()) - len(counts)


def account(stack: Any, sent: list[Any], fault: str, *, retried: int = 0, notes: str = "") -> Tally:
    """Check that every acknowledged record (`SentRecord`s from the producer) is where the contract puts it: a valid
    one in the lake's tables (by event_id, copies allowed and counted), an invalid one in quarantine at its stream
    position with a reason. Returns the tally; its `lost` counts acknowledged records found in neither (asserted 0
    by the callers), and nothing may be in the lake that was never sent."""
    from lambdas.schemas import InvalidEventError, parse

    valid_ids: set[str] = set()
    invalid_positions: set[str] = set()
    for record in sent:
        try:
            valid_ids.add(parse(record.data).event_id)
            valid = True
        except InvalidEventError:
            invalid_positions.add(record.position["sequence_number"])
            valid = False
        if record.kind != "replayed":
            assert valid == (record.malformed is None), record  # the generator and the contract agree
    landed, copies = landed_once_per_event_id(lake_rows(stack.run_dir))
    assert landed <= valid_ids, f"in the lake but never acknowledged: {sorted(landed - valid_ids)[:5]}"
    quarantine = stack.quarantined()
    assert all(q["reason"] for q in quarantine)
    quarantined = {q["position"]["sequence_number"] for q in quarantine}
    lost = len(valid_ids - landed) + len(invalid_positions - quarantined)
    return Tally(
        fault,
        sent=len(sent),
        landed=len(landed),
        quarantined=len(invalid_positions & quarantined),
        duplicates_removed=copies,
        retried=retried,
        lost=lost,
        notes=notes,
        # invalid records the producer wrote twice: each copy is quarantined at its own stream position
        extra={"quarantine_copies": len(quarantined - invalid_positions)},
    )


def stream_payloads(stack: Any) -> list[bytes]:
    """Every record's data in the local stream, shard by shard in sequence order (copies included): the order the
    processor saw them in, read back through the Kinesis API."""
    kinesis, name = stack.clients["kinesis"], stack.resources.stream_name
    payloads: list[bytes] = []
    for shard in sorted(s["ShardId"] for s in kinesis.list_shards(StreamName=name)["Shards"]):
        iterator = kinesis.get_shard_iterator(StreamName=name, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
            "ShardIterator"
        ]
        while iterator:
            response = kinesis.get_records(ShardIterator=iterator, Limit=10000)
            payloads += [r["Data"] for r in response["Records"]]
            if not response["Records"] and response.get("MillisBehindLatest", 0) == 0:
                break
            iterator = response.get("NextShardIterator")
    return payloads


def expected_lifecycle(payloads: list[bytes], valid: set[bytes], config: Any) -> Counter[tuple[str, str]]:
    """(stage, event id) of each high-temperature and error-burst message the independent model
    (tests/lambdas/lifecycle_model.py) expects from these records in this order; `valid` is the data of the records
    the producer sent as valid (the others are quarantined and never alert)."""
    from tests.lambdas.lifecycle_model import LogLine, Reading, burst_messages, temperature_messages

    readings, lines = [], []
    for data in payloads:
        if data not in valid:
            continue
        record = json.loads(data)
        at = _epoch(record["timestamp"])
        if record["family"] == "sensor":
            readings.append(Reading(record["event_id"].strip(), record["sensor_id"], at, float(record["temperature"])))
        elif record["family"] == "log":
            lines.append(LogLine(record["event_id"].strip(), record["service"], at, record["level"].strip().upper()))
    t, reminder = config.thresholds, config.alert_reminder_minutes * 60
    messages = temperature_messages(readings, t.high_temperature_c, t.high_temperature_hysteresis_c, reminder)
    messages += burst_messages(lines, t.error_burst_count, t.error_burst_window_seconds, reminder)
    return Counter((m.stage, m.event_id) for m in messages)


def lifecycle_mail(run_dir: Path) -> Counter[tuple[str, str]]:
    """(stage, event id) of each high-temperature and error-burst e-mail in the mailbox (stage from the subject)."""
    prefixes = {"enter": ("High temperature:", "Error burst:"), "reminder": ("Still hot", "Error burst continues")}
    found: Counter[tuple[str, str]] = Counter()
    for message in read_mailbox(Path(run_dir) / "mailbox.mbox"):
        if not message["To"].startswith("alerts"):
            continue
        event_id = re.search(r"^Event id: (\S+)$", message.get_content(), re.M)
        if event_id is None:  # a student notification
            continue
        subject = str(message["Subject"])
        stage = "recovered" if subject.startswith("Recovered:") else None
        stage = stage or next((s for s, p in prefixes.items() if subject.startswith(p)), f"unknown: {subject}")
        found[(stage, event_id.group(1))] += 1
    return found


def _epoch(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.strip().replace("Z", "+00:00")).astimezone(UTC).timestamp()
