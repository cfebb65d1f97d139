"""End to end in local mode: producer -> Kinesis -> processor + Firehose -> lake, quarantine, mailbox.

Expected results are computed here from what the producer reports it sent, independently of the pipeline's code.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from local.mailbox import read_mailbox
from local.stack import LocalOptions, LocalStack
from producers.test_producer import produce
from streamlake.config import load_config
from tests.lambdas.lifecycle_model import LogLine, Reading, burst_messages, temperature_messages

RECORDS = 400


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    config = load_config({})
    run_dir = tmp_path_factory.mktemp("e2e")
    with LocalStack(config, LocalOptions(run_dir, buffer_seconds=1.0, alarm_interval_seconds=1.0)) as stack:
        summary = produce(
            stack.resources.stream_name,
            count=RECORDS,
            family="mixed",
            rate=None,
            bad_ratio=0.05,
            seed=11,
            endpoint_url=stack.endpoint.url,
            spikes=4,
            error_bursts=1,
            failure_path=run_dir / "failures.jsonl",
        )
        stack.wait_until_processed(timeout=120)
        stack.wait_for_mail()
        stack.wait_until_delivered(timeout=120)
        quarantined = stack.quarantined()
        errors = list(stack.errors)
    yield config, run_dir, summary, quarantined, errors


def _valid(summary) -> list[dict]:
    return [json.loads(r.data) for r in summary.records if r.malformed is None]


def test_producer_sent_every_record(run):
    _, _, summary, _, errors = run
    assert summary.ok and summary.sent == RECORDS and errors == []
    assert 0 < summary.malformed_sent < RECORDS


def test_every_valid_record_is_in_the_lake_exactly_once(run):
    _, run_dir, summary, _, _ = run
    lake = Path(run_dir) / "lake" / "processed"
    rows = duckdb.sql(
        f"SELECT family, event_id FROM read_parquet('{lake}/**/*.parquet', hive_partitioning = true)"
    ).fetchall()
    landed = Counter(event_id for _, event_id in rows)
    valid = _valid(summary)
    assert len(rows) == len(valid), "only valid records reach the tables"
    assert all(landed[r["event_id"]] == 1 for r in valid)
    families = {event_id: family for family, event_id in rows}
    assert all(families[r["event_id"]] == r["family"] for r in valid)


def test_every_malformed_record_is_quarantined_with_its_reason(run):
    _, _, summary, quarantined, _ = run
    sent_bad = {r.position["sequence_number"]: r for r in summary.records if r.malformed is not None}
    by_position = {q["position"]["sequence_number"]: q for q in quarantined}
    assert set(by_position) == set(sent_bad)
    for sequence_number, record in sent_bad.items():
        assert by_position[sequence_number]["data"] == record.data
        assert by_position[sequence_number]["reason"]


def test_expected_alerts_are_in_the_mailbox_exactly_once(run):
    # Expected: one notification per grade (or event with a channel), and the lifecycle messages of the independent
    # model (tests/lambdas/lifecycle_model.py) over the records in stream order.
    config, run_dir, summary, _, _ = run
    t = config.thresholds
    in_order = sorted(
        (r for r in summary.records if r.malformed is None),
        key=lambda r: (r.position["shard_id"], int(r.position["sequence_number"])),
    )
    valid = [json.loads(r.data) for r in in_order]
    readings = [
        Reading(r["event_id"], r["sensor_id"], _epoch(r["timestamp"]), r["temperature"])
        for r in valid
        if r["family"] == "sensor"
    ]
    lines = [
        LogLine(r["event_id"], r["service"], _epoch(r["timestamp"]), r["level"]) for r in valid if r["family"] == "log"
    ]
    reminder = config.alert_reminder_minutes * 60
    lifecycle = temperature_messages(
        readings, t.high_temperature_c, t.high_temperature_hysteresis_c, reminder
    ) + burst_messages(lines, t.error_burst_count, t.error_burst_window_seconds, reminder)
    notified = [
        r for r in valid if r["family"] == "student" and (r["event_type"] == "grade_posted" or r.get("channel"))
    ]
    stages = Counter(m.stage for m in lifecycle)
    assert stages["enter"] >= 2 and stages["recovered"] >= 1 and notified, "the run should exercise the lifecycle"
    assert any(m.entity in {r["service"] for r in valid if r["family"] == "log"} for m in lifecycle), "and a burst"

    mail = [m for m in read_mailbox(Path(run_dir) / "mailbox.mbox") if m["To"].startswith("alerts")]
    bodies = [m.get_content() for m in mail]
    for record in notified:
        assert sum(record["event_id"] in body for body in bodies) == 1, record
    prefixes = {"enter": ("High temperature:", "Error burst:"), "reminder": ("Still hot", "Error burst continues")}
    received = Counter()
    for message, body in zip(mail, bodies, strict=True):
        found = re.search(r"^Event id: (\S+)$", body, re.M)
        subject = message["Subject"]
        if found is None:  # a student notification (they carry "Reference: <event id>")
            continue
        stage = next((s for s, p in prefixes.items() if subject.startswith(p)), "recovered")
        received[(stage, found.group(1))] += 1
    assert received == Counter((m.stage, m.event_id) for m in lifecycle)
    assert len(mail) == len(notified) + len(lifecycle)


def _epoch(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).astimezone(UTC).timestamp()


def test_lab_queries_match_the_produced_readings(run):
    from athena_queries.runner import run_local

    _, run_dir, summary, _, _ = run
    sensors = [r for r in _valid(summary) if r["family"] == "sensor"]
    lake_dir = Path(run_dir) / "lake"

    latest = run_local("lab_latest_readings", {}, lake_dir)
    expected_latest = sorted((r["timestamp"] for r in sensors), reverse=True)[:10]
    ts = latest.columns.index("timestamp")
    assert [row[ts] for row in latest.rows] == expected_latest

    averages = run_local("lab_avg_temperature_by_sensor", {}, lake_dir)
    by_sensor: dict[str, list[float]] = defaultdict(list)
    for r in sensors:
        by_sensor[r["sensor_id"]].append(r["temperature"])
    got = {row[0]: row[1] for row in averages.rows}
    assert set(got) == set(by_sensor)
    for sensor_id, values in by_sensor.items():
        assert got[sensor_id] == pytest.approx(sum(values) / len(values))

    hot = run_local("lab_readings_above_30c", {}, lake_dir)
    assert len(hot.rows) == sum(1 for r in sensors if r["temperature"] > 30)
